"""Infrared/visible video -> fused video, frame by frame on the same numeric path as images.

* **Pairing** (:func:`pair_by_time`): each infrared frame is fused with the visible frame nearest to it in
  presentation time (seconds, as the two containers store them; a tie goes to the earlier visible frame). The
  output follows the infrared stream: its size, its rate, its frame count. An infrared frame with no visible frame
  within ``max_offset`` seconds is skipped and reported; the default (:func:`default_max_offset`) is one frame
  interval of the slower stream, twice the largest offset two steady streams can have, so that one dropped visible
  frame is tolerated but a real gap is not.
* **Per frame** (:func:`fuse_frame`): the infrared frame reduced to BT.601 luminance as for images, the visible frame
  kept in colour, :func:`semfuse.inference.fuse_arrays` (fuse the visible Y, restore its Cb/Cr) and
  :func:`semfuse.data.io.to_uint8`: a video frame is fused exactly as the same frame saved as PNG would be.
* **Files and codecs**: read and written by :mod:`semfuse.data.videos` (``.mp4``/``.mkv``/``.mov`` as H.264,
  ``.avi`` as MPEG-4 Part 2; :func:`semfuse.data.videos.encoder_settings`).
* **Threads**: each input is decoded by its own thread into a bounded queue and the output is encoded by another, so
  that decoding and encoding overlap with the fusion (``benchmarks/video_fps.py`` measures the shares).
* **Files**: the outputs are encoded to hidden temporary files beside the targets and renamed when complete
  (:func:`semfuse.files.atomic_write`); a failure, Ctrl-C or SIGTERM leaves nothing under the final names.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from semfuse.data.convert import infrared_luminance
from semfuse.data.io import to_uint8
from semfuse.data.videos import FrameReader, VideoInfo, VideoWriter, encoder_settings, open_video
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write, refuse_existing
from semfuse.inference import fuse_arrays
from semfuse.methods.registry import FuseFn

logger = logging.getLogger("semfuse.video")

__all__ = ["VideoSummary", "default_max_offset", "fuse_frame", "fuse_video", "overlay_path", "pair_by_time"]


@dataclass
class VideoSummary:
    """What :func:`fuse_video` did: the files written, frame counts, one message per skipped infrared frame, and
    one when a stream ended before the other (its remaining frames were not fused)."""

    out: Path
    overlay: Path | None = None
    infrared_frames: int = 0
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    ended_early: str | None = None
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every infrared frame was fused and neither stream ended early."""
        return not self.skipped and self.ended_early is None

    @property
    def fps(self) -> float:
        """Frames written per second of wall-clock time, end to end."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def default_max_offset(ir: VideoInfo, vis: VideoInfo) -> float:
    """Seconds an infrared frame may lie from its visible partner by default: one frame interval of the slower
    stream.

    Example:
        >>> from fractions import Fraction
        >>> ir = VideoInfo(Path("ir.mp4"), 640, 480, Fraction(10), None, False)
        >>> default_max_offset(ir, VideoInfo(Path("vis.mp4"), 640, 480, Fraction(25), None, True))
        0.1
    """
    return max(ir.frame_interval, vis.frame_interval)


def pair_by_time(ir_frames: Iterable[tuple[float, Any]], vis_frames: Iterable[tuple[float, Any]],
                 max_offset: float) -> Iterator[tuple[float, Any, Any, float]]:
    """Pair each infrared ``(seconds, frame)`` with the visible frame nearest in time (ties: the earlier one).

    Both inputs are in presentation order and read lazily. Yields ``(seconds, ir, vis, offset)`` per infrared frame,
    ``vis`` None when no visible frame lies within ``max_offset`` seconds (``offset`` to the nearest one; infinite
    when the visible stream is empty).

    Example:
        >>> ir = [(0.0, "i0"), (0.1, "i1"), (0.2, "i2"), (0.6, "i3")]
        >>> vis = [(0.0, "v0"), (0.066, "v1"), (0.133, "v2"), (0.2, "v3")]
        >>> [(i, v) for _, i, v, _ in pair_by_time(ir, vis, max_offset=0.1)]
        [('i0', 'v0'), ('i1', 'v2'), ('i2', 'v3'), ('i3', None)]
    """
    visible = iter(vis_frames)
    current, upcoming = next(visible, None), next(visible, None)
    for seconds, ir in ir_frames:
        while upcoming is not None and current is not None and abs(upcoming[0] - seconds) < abs(current[0] - seconds):
            current, upcoming = upcoming, next(visible, None)
        offset = abs(current[0] - seconds) if current is not None else float("inf")
        yield seconds, ir, (current[1] if offset <= max_offset and current is not None else None), offset


def fuse_frame(fuse: FuseFn, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Fuse one frame pair of uint8 arrays: ``ir`` (H, W) or (H, W, 3) (reduced to BT.601 luminance), ``vis`` (H, W)
    or (H, W, 3) -> uint8 like ``vis``, exactly as ``semfuse fuse`` fuses the two frames saved as PNG files.

    Example:
        >>> from semfuse.methods import get_method
        >>> ir, vis = np.full((4, 6), 200, np.uint8), np.zeros((4, 6, 3), np.uint8)
        >>> fused = fuse_frame(get_method("average"), ir, vis)
        >>> fused.shape, fused.dtype, int(fused[0, 0, 0])
        ((4, 6, 3), dtype('uint8'), 100)
    """
    ir_float = infrared_luminance(ir.astype(np.float32) / 255.0)
    return to_uint8(fuse_arrays(fuse, ir_float, vis.astype(np.float32) / 255.0))


def overlay_path(out: str | Path) -> Path:
    """Where ``--segment`` writes the overlay video of the fused video ``out``: ``NAME_overlay.EXT`` beside it.

    Example:
        >>> overlay_path("runs/fused.mp4").as_posix()
        'runs/fused_overlay.mp4'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}_overlay{out.suffix}")


def _check_pair(ir: VideoInfo, vis: VideoInfo, out: Path) -> None:
    """Refuse inputs that cannot be fused frame by frame, and an output that would replace an input."""
    if (ir.width, ir.height) != (vis.width, vis.height):
        raise SemfuseError(
            f"the infrared video is {ir.width}x{ir.height} but the visible video is {vis.width}x{vis.height}; "
            f"register or resize the visible video to the infrared one first, e.g. ffmpeg -i {vis.path.name} "
            f"-vf scale={ir.width}:{ir.height} {vis.path.stem}_{ir.width}x{ir.height}{vis.path.suffix}")
    for source in (ir, vis):
        if out.resolve() == source.path.resolve():
            raise SemfuseError(f"the output {out} is an input; choose another output file")


def _segment(segmenter: nn.Module, fused: np.ndarray, device: torch.device) -> np.ndarray:
    """The fused frame (uint8 (H, W) or (H, W, 3)) with its predicted classes tinted over it, uint8 (H, W, 3)."""
    from semfuse.segmentation import overlay, predict

    rgb = torch.from_numpy(fused).to(device=device, dtype=torch.float32) / 255.0
    rgb = rgb[None].expand(3, -1, -1) if rgb.dim() == 2 else rgb.permute(2, 0, 1)  # (3, H, W)
    with torch.inference_mode():
        label = predict(segmenter, rgb[None].contiguous())[0].cpu().numpy()
    return overlay(fused, label)


def fuse_video(
    fuse: FuseFn,
    ir_path: str | Path,
    vis_path: str | Path,
    out_path: str | Path,
    *,
    max_offset: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    segmenter: nn.Module | None = None,
    device: str | torch.device = "cpu",
) -> VideoSummary:
    """Fuse an infrared and a visible video into ``out_path`` (.mp4, .mkv, .mov or .avi), frame by frame.

    The output has the infrared video's size, rate and frames (an infrared frame with no visible frame within
    ``max_offset`` seconds is left out and reported), in colour when the visible video is. With ``segmenter``
    (a :class:`semfuse.models.segmenter.Segmenter` on ``device``) the fused frames' classes are also drawn over
    them into :func:`overlay_path`. See the module's description for pairing, codecs and threads.

    Args:
        fuse: a fusion callable, e.g. ``semfuse.methods.get_method("semfuse")``.
        max_offset: seconds; None for :func:`default_max_offset`.

    Raises:
        SemfuseError: before any work, for a missing, unreadable or video-less input, inputs of different sizes,
            or an existing output without ``overwrite``; a failed encode leaves nothing under the output's name.
    """
    started, out = time.perf_counter(), Path(out_path)
    encoder_settings(out.suffix, 2, 2)  # a bad extension is refused before anything is opened
    opened: list[Any] = []
    try:
        for path, role in ((ir_path, "infrared"), (vis_path, "visible")):
            opened.append(open_video(path, role))
        (ir_container, ir), (vis_container, vis) = opened
        _check_pair(ir, vis, out)
        targets = [out] + ([overlay_path(out)] if segmenter is not None else [])
        refuse_existing(targets, overwrite)
        summary = VideoSummary(out, targets[1] if segmenter is not None else None)
        limit = default_max_offset(ir, vis) if max_offset is None else max_offset
        readers = [FrameReader(ir_container, ir, "infrared"), FrameReader(vis_container, vis, "visible")]
        opened = []  # the readers close them now
    except BaseException:
        for container, _ in opened:
            container.close()
        raise
    try:
        _write_outputs(targets, lambda temporaries: _run(fuse, readers, ir, temporaries, targets, limit, summary,
                                                         segmenter, torch.device(device), progress), overwrite)
    finally:
        for reader in readers:
            reader.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _write_outputs(targets: list[Path], encode: Callable[[list[Path]], None], overwrite: bool) -> None:
    """Call ``encode(temporary paths)`` and rename each temporary file over its target (atomic_write, nested)."""
    def nested(done: list[Path], rest: list[Path]) -> None:
        if not rest:
            encode(done)
            return
        atomic_write(rest[0], lambda temporary: nested(done + [temporary], rest[1:]), overwrite)

    nested([], targets)


def _run(fuse: FuseFn, readers: list[FrameReader], ir: VideoInfo, temporaries: list[Path], targets: list[Path],
         max_offset: float, summary: VideoSummary, segmenter: nn.Module | None, device: torch.device,
         progress: bool) -> None:
    """Pair, fuse, (segment) and encode every frame into ``temporaries``; fills ``summary``."""
    writer = VideoWriter(list(zip(targets, temporaries)), ir)
    first, pts = None, -1
    bar = tqdm(total=ir.frames, desc="fusing", unit="frame", disable=not progress, dynamic_ncols=True)
    try:
        for seconds, ir_frame, vis_frame, offset in pair_by_time(readers[0], readers[1], max_offset):
            summary.infrared_frames += 1
            first = seconds if first is None else first
            bar.update()
            if vis_frame is None:
                _unpaired(summary, readers[1], seconds, offset, max_offset)
                continue
            fused = fuse_frame(fuse, ir_frame, vis_frame)
            images = [fused] + ([_segment(segmenter, fused, device)] if segmenter is not None else [])
            pts = max(pts + 1, round((seconds - first) * ir.rate))  # the infrared frame's slot: gaps are kept
            writer.put(pts, images)
            summary.written += 1
        _visible_left(summary, readers, max_offset)
        _check_written(summary, readers, max_offset)
        writer.finish()
    except KeyboardInterrupt as interruption:
        writer.abandon()
        raise KeyboardInterrupt(f"{interruption or 'Ctrl-C'} after {summary.written} frame(s); the unfinished video "
                                "was removed, run again") from None
    except BaseException:
        writer.abandon()
        raise
    finally:
        bar.close()


def _check_written(summary: VideoSummary, readers: list[FrameReader], max_offset: float) -> None:
    """Raise when not one frame was fused (no output is then written)."""
    infrared, visible = readers
    if summary.written:
        return
    for reader in readers:
        if reader.frames == 0:
            raise SemfuseError(reader.error or f"the {reader.role} video {reader.info.path} has no frames; give a "
                               "video with at least one frame")
    raise SemfuseError(f"no infrared frame has a visible frame within {max_offset:.3f} s (infrared "
                       f"{infrared.info.path.name} ends at {float(infrared.last_time):.3f} s, visible "
                       f"{visible.info.path.name} at {float(visible.last_time):.3f} s); check that the videos show "
                       "the same time, or raise --max-offset")


def _unpaired(summary: VideoSummary, visible: FrameReader, seconds: float, offset: float, max_offset: float) -> None:
    """Record an infrared frame without a visible partner: a gap, or the visible stream's early end."""
    if visible.finished and seconds > visible.last_time + max_offset:
        if summary.ended_early is None:
            why = visible.error or f"the visible video ends at {float(visible.last_time):.3f} s"
            summary.ended_early = f"{why}; infrared frames from {float(seconds):.3f} s on were not fused"
        return
    summary.skipped.append(f"infrared frame at {float(seconds):.3f} s: no visible frame within {max_offset:.3f} s "
                           f"(nearest {float(offset):.3f} s away)")


def _visible_left(summary: VideoSummary, readers: list[FrameReader], max_offset: float) -> None:
    """After the infrared stream: note a damaged infrared file, or visible frames beyond its end left unfused."""
    infrared, visible = readers
    if infrared.error is not None:
        summary.ended_early = f"{infrared.error}; the frames before it were fused"
        return
    if not visible.finished:
        for _ in visible:  # the rest of the visible video, to learn where it ends
            pass
    if visible.last_time > infrared.last_time + max_offset:
        end = float(infrared.last_time)
        summary.ended_early = (f"the infrared video ends at {end:.3f} s, the visible video at "
                               f"{float(visible.last_time):.3f} s; visible frames after {end:.3f} s were not fused")
