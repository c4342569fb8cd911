"""Frames per second of video fusion (``semfuse fuse --ir IR.mp4 --vis VIS.mp4 --out FUSED.mp4``) at 640x480.

Method: a video pair is made from the bundled MSRS sample ``msrs_00004N`` (640x480): the infrared image as a grey
video and the visible image as a colour video, ``--frames`` frames each at 25 fps, every frame shifted 4 pixels to
the right of the one before (H.264, CRF 12, so that the decoder has real motion to decode). Then, in one process,
each of these runs ``--warmup`` times untimed and ``--repeats`` times timed (median, min, max, IQR, every time;
``_env.time_calls``):

* ``end_to_end``: :func:`semfuse.video.fuse_video` from the two files to an H.264 .mp4 (decoding threads, fusion,
  encoding thread), what the command line runs.
* ``fuse_frames``: :func:`semfuse.video.fuse_frame` on the same frames, decoded beforehand: the per-frame compute of
  ``end_to_end`` (luminance, the method, colour restored, uint8) without decoding or encoding.
* ``network``: the method's ``FuseFn`` alone on (1, 1, 480, 640) luminance tensors of the first frame pair.
* ``decode``: decoding both videos to arrays (rgb24 and gray), ``encode``: encoding the fused frames to H.264
  (CRF 18, veryfast, yuv420p), each alone.

Reported: frames per second of each; ``end_to_end / fuse_frames`` (1.0: decoding and encoding cost nothing, they
overlap with the compute) and the rate a serial pipeline would have, ``1 / (1/decode + 1/fuse_frames + 1/encode)``.

Usage, from the repository root::

    python benchmarks/video_fps.py                      # CPU, 1 torch thread -> results/video_fps_cpu.json
    python benchmarks/video_fps.py --device cuda --output benchmarks/results/video_fps_cuda.json
"""

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, time_calls, write_report  # noqa: E402

from semfuse.data.videos import H264_CRF, encoder_settings  # noqa: E402
from semfuse.device import resolve_device
from semfuse.methods import get_method
from semfuse.video import fuse_frame, fuse_video  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "semfuse" / "samples"
NAME = "msrs_00004N.png"
RATE = 25


def write_video(path: Path, image: np.ndarray, frames: int) -> Path:
    """``frames`` frames of ``image`` shifted 4 pixels per frame, H.264 CRF 12 at 25 fps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        for index in range(frames):
            shifted = np.ascontiguousarray(np.roll(image, 4 * index, axis=1))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(shifted, format="gray" if shifted.ndim == 2
                                                                   else "rgb24")))
        container.mux(stream.encode(None))
    return path


def decode(path: Path, image_format: str) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return [frame.to_ndarray(format=image_format) for frame in container.decode(stream)]


def encode(path: Path, frames: list[np.ndarray]) -> None:
    codec, pixels, options = encoder_settings(".mp4", frames[0].shape[1], frames[0].shape[0])
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pixels
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame.reformat(format=pixels)))
        container.mux(stream.encode(None))


def rate(timing: dict, frames: int) -> dict:
    """``timing`` (seconds per run of ``frames`` frames) with frames per second added (of the median)."""
    return {"frames_per_s": frames / timing["median_s"], **timing}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Frames per second of 640x480 video fusion.")
    parser.add_argument("--method", default="semfuse", help="registered fusion method (default: semfuse)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (default 1)")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "video_fps_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    fuse = get_method(args.method, device=device)
    ir_image = np.asarray(Image.open(SAMPLE / "ir" / NAME).convert("L"))
    vis_image = np.asarray(Image.open(SAMPLE / "vi" / NAME).convert("RGB"))
    with tempfile.TemporaryDirectory() as folder:
        ir_path = write_video(Path(folder) / "ir.mp4", ir_image, args.frames)
        vis_path = write_video(Path(folder) / "vis.mp4", vis_image, args.frames)
        ir_frames, vis_frames = decode(ir_path, "gray"), decode(vis_path, "rgb24")
        fused = [fuse_frame(fuse, ir, vis) for ir, vis in zip(ir_frames, vis_frames)]
        ir_t = torch.from_numpy(ir_frames[0].astype(np.float32) / 255)[None, None].to(device)
        vis_y = vis_frames[0] @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255  # BT.601 luminance
        vis_t = torch.from_numpy(vis_y)[None, None].to(device)

        def network() -> None:
            with torch.inference_mode():
                fuse(ir_t, vis_t)

        runs = {
            "end_to_end": lambda: fuse_video(fuse, ir_path, vis_path, Path(folder) / "fused.mp4", overwrite=True,
                                             progress=False),
            "fuse_frames": lambda: [fuse_frame(fuse, ir, vis) for ir, vis in zip(ir_frames, vis_frames)],
            "decode": lambda: (decode(ir_path, "gray"), decode(vis_path, "rgb24")),
            "encode": lambda: encode(Path(folder) / "encoded.mp4", fused),
        }
        results = {name: rate(time_calls(run, device, args.warmup, args.repeats), args.frames)
                   for name, run in runs.items()}
        results["network"] = rate(time_calls(network, device, args.warmup, args.repeats * args.frames), 1)
    fps = {name: result["frames_per_s"] for name, result in results.items()}
    serial = 1 / (1 / fps["decode"] + 1 / fps["fuse_frames"] + 1 / fps["encode"])
    report = {
        "benchmark": "video_fps", **environment(),
        "settings": {"method": args.method, "device": str(device), "torch_threads": args.threads, "size": "640x480",
                     "frames": args.frames, "rate": RATE, "warmup": args.warmup, "repeats": args.repeats,
                     "output_codec": f"libx264 crf {H264_CRF} veryfast yuv420p", "av": av.__version__},
        "frames_per_s": fps,
        "end_to_end_over_fuse_frames": fps["end_to_end"] / fps["fuse_frames"],
        "serial_pipeline_frames_per_s": serial,
        "runs": results,
    }
    write_report(args.output, report)
    for name, value in fps.items():
        print(f"{name:12s} {value:8.2f} frames/s")
    print(f"end_to_end / fuse_frames = {report['end_to_end_over_fuse_frames']:.3f}; serial would be {serial:.2f}")


if __name__ == "__main__":
    main()
