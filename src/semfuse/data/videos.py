"""Video files: open and describe a video's first track, decode it in a thread, encode frames in a thread.

What :mod:`semfuse.video` fuses frame by frame reads and writes through here, as :mod:`semfuse.data.io` does for
images. Codecs (:func:`encoder_settings`): ``.mp4``/``.mkv``/``.mov`` are H.264 (libx264, CRF 18, visually
lossless, yuv420p; yuv444p when a side is odd, which 4:2:0 cannot hold); ``.avi`` is MPEG-4 Part 2 (``mpeg4``,
qscale 2). Decoding and encoding each run in their own thread with a bounded queue, so that they overlap with the
fusion.
"""

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from semfuse.errors import SemfuseError

__all__ = ["VIDEO_EXTENSIONS", "FrameReader", "VideoInfo", "VideoWriter", "container_format", "encoder_settings",
           "open_video"]

VIDEO_EXTENSIONS = (".avi", ".mkv", ".mov", ".mp4")
H264_CRF = 18  # libx264's "visually lossless" quality (0 lossless, 23 its default, 51 worst)
MPEG4_QSCALE = 2  # mpeg4's fixed quantiser (1 best, 31 worst): near-transparent
QUEUE_DEPTH = 8  # frames buffered between a decoding thread, the fusion and the encoding thread


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`open_video` learnt of a file's first video track: size, average rate (frames per second),
    frame count (None when the container does not say) and whether it is in colour."""

    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int | None
    colour: bool

    @property
    def frame_interval(self) -> float:
        """Seconds between two frames at the average rate."""
        return float(1 / self.rate)


def open_video(path: str | Path, role: str) -> tuple[Any, VideoInfo]:
    """Open ``path`` (the ``role`` video, e.g. "infrared") and describe its first video track.

    Returns the open PyAV container (the caller closes it) and its :class:`VideoInfo`.

    Raises:
        SemfuseError: one line for a missing file, a file FFmpeg cannot read, or a file without a video track.
    """
    path = Path(path)
    if not path.is_file():
        raise SemfuseError(f"the {role} video {path} does not exist" if not path.exists() else
                           f"the {role} video {path} is not a file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise SemfuseError(f"cannot read the {role} video {path}: {error.strerror or error}; give a complete video "
                           f"file ({', '.join(VIDEO_EXTENSIONS)})") from None
    if not container.streams.video:
        kinds: list[str] = sorted({stream.type for stream in container.streams}) or ["no streams"]
        container.close()
        raise SemfuseError(f"the {role} file {path} has no video track (it holds {', '.join(kinds)}); give a video")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # FFmpeg's own frame/slice threads for decoding
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        container.close()
        raise SemfuseError(f"the {role} video {path} states no frame rate; remux it, e.g. ffmpeg -i {path.name} "
                           f"-c copy fixed{path.suffix}")
    grey = stream.format is not None and stream.format.name.startswith(("gray", "mono", "ya"))
    info = VideoInfo(path, stream.width, stream.height, Fraction(rate), stream.frames or None, not grey)
    return container, info


def encoder_settings(suffix: str, width: int, height: int) -> tuple[str, str, dict[str, str]]:
    """(codec, pixel format, codec options) of an output file named ``*suffix`` of ``width`` x ``height``.

    Example:
        >>> encoder_settings(".mp4", 640, 480)
        ('libx264', 'yuv420p', {'crf': '18', 'preset': 'veryfast'})
        >>> encoder_settings(".mkv", 641, 480)[1]  # 4:2:0 needs even sides
        'yuv444p'
        >>> encoder_settings(".avi", 640, 480)
        ('mpeg4', 'yuv420p', {'qscale': '2'})
    """
    suffix = suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        raise SemfuseError(f"cannot write video as {suffix or 'a file without extension'}; name the output "
                           f"{' or '.join(VIDEO_EXTENSIONS)}")
    if suffix == ".avi":
        return "mpeg4", "yuv420p", {"qscale": str(MPEG4_QSCALE)}
    pixels = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    return "libx264", pixels, {"crf": str(H264_CRF), "preset": "veryfast"}


class FrameReader:
    """Decodes a container's first video track in a thread into a bounded queue; iterating gives
    ``(seconds, uint8 (H, W) or (H, W, 3))``. ``error`` says why decoding stopped before the end, if it did."""

    _END = object()

    def __init__(self, container: Any, info: VideoInfo, role: str):
        self.container, self.info, self.role = container, info, role
        self.error: str | None = None
        self.frames, self.last_time, self.finished = 0, float("-inf"), False
        self._queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name=f"decode-{role}", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        stream = self.container.streams.video[0]
        image_format = "rgb24" if self.info.colour else "gray"
        try:
            for index, frame in enumerate(self.container.decode(stream)):
                seconds = frame.pts * frame.time_base if frame.pts is not None and frame.time_base else \
                    index / self.info.rate  # an exact Fraction: ties in pair_by_time are real ties
                if not self._put((seconds, frame.to_ndarray(format=image_format))):
                    return
        except (av.FFmpegError, ValueError, OSError) as error:
            self.error = f"the {self.role} video {self.info.path} is damaged after frame {self.frames}: {error}"
        self._put(self._END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        while (item := self._queue.get()) is not self._END:
            self.frames, self.last_time = self.frames + 1, item[0]
            yield item
        self.finished = True

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.container.close()


class VideoWriter:
    """Encodes frames in a thread into one or two open output containers (the fused video, the overlay video)."""

    _END = object()

    def __init__(self, outputs: list[tuple[Path, Path]], info: VideoInfo):
        self.containers: list[Any] = []
        self.streams: list[av.VideoStream] = []
        for target, temporary in outputs:
            codec, pixels, options = encoder_settings(target.suffix, info.width, info.height)
            container = av.open(str(temporary), mode="w", format=container_format(target.suffix))
            stream = container.add_stream(codec, rate=info.rate, options=options)
            assert isinstance(stream, av.VideoStream)  # a video codec gives a video stream
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, pixels
            self.containers.append(container)
            self.streams.append(stream)
        self.time_base = 1 / info.rate  # of the frames' pts: one tick per infrared frame
        self.error: SemfuseError | None = None
        self._queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self._thread = threading.Thread(target=self._encode, name="encode", daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        received_end = False
        try:
            while (item := self._queue.get()) is not self._END:
                index, images = item
                for container, stream, image in zip(self.containers, self.streams, images):
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24" if image.ndim == 3 else "gray")
                    frame.pts, frame.time_base = index, self.time_base
                    container.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
            received_end = True
            for container, stream in zip(self.containers, self.streams):
                container.mux(stream.encode(None))
        except (av.FFmpegError, ValueError, OSError) as error:
            self.error = SemfuseError(f"encoding the output video failed: {error}")
            while not received_end and self._queue.get() is not self._END:  # the producer checks self.error
                pass

    def put(self, index: int, images: list[np.ndarray]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((index, images))

    def finish(self) -> None:
        """Flush the encoders and close the files; raises the encoding error, if there was one."""
        self._queue.put(self._END)
        self._thread.join()
        for container in self.containers:
            container.close()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._END)
            self._thread.join()
        for container in self.containers:
            try:
                container.close()
            except (av.FFmpegError, OSError):  # the file is removed anyway
                pass


def container_format(suffix: str) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".avi": "avi"}.get(suffix.lower(), "mp4")
