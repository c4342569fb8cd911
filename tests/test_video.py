"""Video fusion (semfuse.video, ``semfuse fuse`` with videos) on short videos made here from a bundled sample pair.

The infrared video is 2 s at 10 fps, the visible video 2 s at 15 fps (160x120, the MSRS pair 00004N shifted by four
pixels per frame, so that pairing the wrong frame shows).
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.cli import main
from semfuse.errors import SemfuseError
from semfuse.methods import get_method
from semfuse.video import fuse_frame, fuse_video, overlay_path, pair_by_time

SIZE = (160, 120)


def write_video(path: Path, image: np.ndarray, rate: int, frames: int) -> Path:
    """``frames`` frames of ``image`` (uint8 (H, W) or (H, W, 3)) rolled right by 4 pixels per frame, at ``rate``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        for index in range(frames):
            shifted = np.ascontiguousarray(np.roll(image, 4 * index, axis=1))
            frame = av.VideoFrame.from_ndarray(shifted, format="gray" if shifted.ndim == 2 else "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def decode(path: Path, image_format: str = "rgb24") -> tuple[av.VideoStream, list[tuple[Fraction, np.ndarray]]]:
    """The video stream's description and its frames as ``(seconds, uint8 array)``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(frame.pts * frame.time_base, frame.to_ndarray(format=image_format))
                  for frame in container.decode(stream)]
        return stream, frames


@pytest.fixture(scope="module")
def sample_images(samples) -> tuple[np.ndarray, np.ndarray]:
    ir = np.asarray(Image.open(samples / "ir" / "msrs_00004N.png").convert("L").resize(SIZE))
    vis = np.asarray(Image.open(samples / "vi" / "msrs_00004N.png").convert("RGB").resize(SIZE))
    return ir, vis


@pytest.fixture(scope="module")
def videos(tmp_path_factory, sample_images) -> tuple[Path, Path]:
    """(infrared 10 fps, visible 15 fps) video files, 2 s each."""
    folder = tmp_path_factory.mktemp("videos")
    ir, vis = sample_images
    return write_video(folder / "ir.mp4", ir, 10, 20), write_video(folder / "vis.mp4", vis, 15, 30)


def run_cli(*argv: object) -> int:
    return main(["fuse", *(str(value) for value in argv), "--method", "average", "--no-progress"])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_video_pair_fuses_to_the_infrared_size_rate_and_frames(videos, tmp_path, suffix):
    out = tmp_path / f"fused{suffix}"
    assert run_cli("--ir", videos[0], "--vis", videos[1], "--out", out) == 0
    stream, frames = decode(out)
    assert len(frames) == 20 and (stream.width, stream.height) == SIZE and stream.average_rate == 10
    assert [seconds for seconds, _ in frames] == [Fraction(index, 10) for index in range(20)]
    assert frames[0][1].std(axis=2).mean() > 1  # colour kept: the channels differ
    assert [path.name for path in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_fused_frames_equal_fuse_arrays_of_the_nearest_frames_up_to_codec_loss(videos, tmp_path):
    """Each output frame is fuse_frame (fuse_arrays + to_uint8) of the infrared frame and the visible frame nearest
    in time (ties: the earlier), as decoded. Encoding (RGB -> limited-range 4:2:0 YUV, H.264 at CRF 18 -> RGB) moves
    the fused frame's luminance by 1.5-1.7 grey levels on average here, so the bound is 2.5; pairing the neighbouring
    visible frame instead (shifted by 4 pixels) would differ by more than twice that."""
    out = tmp_path / "fused.mp4"
    fuse = get_method("average")
    summary = fuse_video(fuse, videos[0], videos[1], out, progress=False)
    assert summary.complete and summary.written == summary.infrared_frames == 20
    _, ir_frames = decode(videos[0])
    _, vis_frames = decode(videos[1])
    _, fused_frames = decode(out)
    errors, wrongs = [], []
    for (seconds, ir), (_, fused) in zip(ir_frames, fused_frames):
        distances = [abs(vis_seconds - seconds) for vis_seconds, _ in vis_frames]
        nearest = distances.index(min(distances))  # index() finds the first: ties go to the earlier frame
        neighbour = nearest + 1 if nearest + 1 < len(vis_frames) else nearest - 1
        errors.append(luma_error(fused, fuse_frame(fuse, ir, vis_frames[nearest][1])))
        wrongs.append(luma_error(fused, fuse_frame(fuse, ir, vis_frames[neighbour][1])))
    assert max(errors) < 2.5 and min(wrongs) > 2 * max(errors), (errors, wrongs)


def luma_error(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference of the BT.601 luminance of two uint8 RGB frames, in grey levels."""
    weights = np.array([0.299, 0.587, 0.114])
    return float(np.abs((first.astype(np.float64) - second.astype(np.float64)) @ weights).mean())


def test_slower_visible_video_pairs_each_of_its_frames_with_several_infrared_frames(sample_images, tmp_path):
    ir, vis = sample_images
    ir_video, vis_video = write_video(tmp_path / "ir.mkv", ir, 15, 15), write_video(tmp_path / "vis.mkv", vis, 10, 10)
    summary = fuse_video(get_method("average"), ir_video, vis_video, tmp_path / "fused.mkv", progress=False)
    stream, frames = decode(tmp_path / "fused.mkv")
    assert summary.complete and len(frames) == 15 and stream.average_rate == 15


def test_pairing_skips_infrared_frames_without_a_visible_frame_near_enough():
    ir = [(Fraction(index, 10), index) for index in range(5)]
    vis = [(Fraction(0), "a"), (Fraction(3, 10), "b")]
    pairs = [(ir_frame, vis_frame) for _, ir_frame, vis_frame, _ in pair_by_time(ir, vis, max_offset=0.1)]
    assert pairs == [(0, "a"), (1, "a"), (2, "b"), (3, "b"), (4, "b")]
    tight = [vis_frame for _, _, vis_frame, _ in pair_by_time(ir, vis, max_offset=0.05)]
    assert tight == ["a", None, None, "b", None]


def test_max_offset_skips_and_reports_frames_and_exits_non_zero(videos, tmp_path, caplog):
    out = tmp_path / "fused.mp4"
    assert run_cli("--ir", videos[0], "--vis", videos[1], "--out", out, "--max-offset", "0.01") == 1
    _, frames = decode(out)
    assert len(frames) == 10  # infrared frames at 0.0, 0.2, ... 1.8 s have visible frames at the same time (15 fps)
    assert "no visible frame within 0.010 s" in caplog.text


def test_segment_writes_the_overlay_video_beside_the_output(videos, tmp_path):
    out = tmp_path / "fused.mp4"
    argv = ["fuse", "--ir", videos[0], "--vis", videos[1], "--out", out, "--weights", "semantic-msrs-boxes",
            "--segment", "--device", "cpu", "--no-progress"]
    assert main([str(value) for value in argv]) == 0
    assert overlay_path(out) == tmp_path / "fused_overlay.mp4"
    fused_stream, fused = decode(out)
    overlay_stream, overlays = decode(overlay_path(out))
    assert len(overlays) == len(fused) == 20 and (overlay_stream.width, overlay_stream.height) == SIZE


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def write_audio(path: Path) -> Path:
    """A file with one audio track (1 s of silence) and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "the visible video {vis} does not exist"),
    ("corrupt", "cannot read the visible video {vis}"),
    ("audio", "has no video track (it holds audio)"),
    ("sizes", "the infrared video is 160x120 but the visible video is 80x60; register or resize the visible video"),
])
def test_bad_video_input_is_one_line_with_no_output(case, message, videos, sample_images, tmp_path, capsys):
    vis = tmp_path / "vis.mkv"
    if case == "corrupt":
        vis.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "audio":
        write_audio(vis)
    elif case == "sizes":
        write_video(vis, sample_images[1][::2, ::2].copy(), 15, 5)
    out = tmp_path / "out" / "fused.mp4"
    assert run_cli("--ir", videos[0], "--vis", vis, "--out", out) == 2
    err = one_line_error(capsys)
    assert message.format(vis=vis) in err
    if case == "sizes":
        assert "scale=160:120" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_a_stream_that_ends_early_fuses_what_pairs_and_exits_non_zero(videos, sample_images, tmp_path, caplog):
    short = write_video(tmp_path / "vis.mp4", sample_images[1], 15, 15)  # 1 s of the infrared video's 2 s
    out = tmp_path / "fused.mp4"
    assert run_cli("--ir", videos[0], "--vis", short, "--out", out) == 1
    _, frames = decode(out)
    assert len(frames) == 11  # infrared 0.0 ... 1.0 s; the visible video's last frame is at 0.933 s (+ 0.1 s)
    assert "the visible video ends at 0.933 s; infrared frames from 1.100 s on were not fused" in caplog.text


def test_existing_output_is_refused_and_kept(videos, tmp_path, capsys):
    out = tmp_path / "fused.mp4"
    out.write_bytes(b"precious")
    assert run_cli("--ir", videos[0], "--vis", videos[1], "--out", out) == 2
    assert "--overwrite" in one_line_error(capsys) and out.read_bytes() == b"precious"
    assert run_cli("--ir", videos[0], "--vis", videos[1], "--out", out, "--overwrite") == 0
    assert len(decode(out)[1]) == 20


@pytest.mark.parametrize("failure", [RuntimeError("the network failed"), KeyboardInterrupt()])
def test_a_failure_midway_leaves_no_output_file(videos, tmp_path, failure):
    average, calls = get_method("average"), []

    def failing(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 5:
            raise failure
        return average(ir, vis)

    with pytest.raises(type(failure)):
        fuse_video(failing, videos[0], videos[1], tmp_path / "fused.mp4", segmenter=None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_image_and_video_options_cannot_be_mixed(videos, tmp_path, capsys):
    assert run_cli("--ir", videos[0], "--vis", videos[1], "--out", tmp_path / "fused.png") == 2
    assert "--out is not a video" in one_line_error(capsys)
    with pytest.raises(SemfuseError, match="name the output"):
        fuse_video(get_method("average"), videos[0], videos[1], tmp_path / "fused.gif")


def test_a_truncated_video_is_fused_as_far_as_it_goes(videos, tmp_path, caplog):
    """A visible .mkv cut after 80 % of its bytes (a recording that stopped): what pairs is fused, the rest reported."""
    whole = tmp_path / "whole.mkv"
    with av.open(str(videos[1])) as source, av.open(str(whole), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.8)])
    out = tmp_path / "fused.mp4"
    assert run_cli("--ir", videos[0], "--vis", cut, "--out", out) == 1
    _, frames = decode(out)
    assert 0 < len(frames) < 20 and "ended early: the visible video ends at" in caplog.text
