"""Folder -> fused images, for any registered fusion method.

Every method fuses luminance: the visible image's BT.601 Y (or the grey image itself) with the infrared image;
when the visible image is in colour its Cb/Cr are put back (:mod:`semfuse.data.colour`). The output has the
input's size and is grey exactly when the visible input is grey.
"""

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from threading import Event
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

from semfuse.data.colour import luminance, restore_colour
from semfuse.data.io import write_image
from semfuse.data.pairs import Pair, load_pair
from semfuse.errors import SemfuseError
from semfuse.files import OutputExistsError, OutputWriteError, refuse_existing
from semfuse.interrupts import summarise_interruption
from semfuse.methods.registry import FuseFn
from semfuse.process import physical_cores

logger = logging.getLogger("semfuse.fuse")
T = TypeVar("T")


@dataclass
class FuseSummary:
    """What a batch fusion did: files written, a message per pair that failed, and outputs that existed already
    (``skip_existing``)."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text or (
        "can't allocate memory" in text)  # CPU tensors: "DefaultCPUAllocator: can't allocate memory"


def out_of_memory_message(ir: np.ndarray, error: BaseException) -> str:
    """One line for a pair too large for the device's memory: its size and the options that help."""
    height, width = ir.shape[:2]
    size = f"the {width}x{height} image ({width * height:,} pixels)"
    skip = f"fuse it in tiles with --tile 1024 (semfuse network), or skip images this large with --max-pixels " \
        f"{width * height - 1}"
    if isinstance(error, torch.OutOfMemoryError) or "cuda" in str(error).lower():
        return f"{size} does not fit in the GPU's memory; fuse it with --device cpu (main memory), {skip}"
    return f"{size} does not fit in memory; free memory or downscale the pair, {skip}"


def stretch_range(image: np.ndarray) -> np.ndarray:
    """Min–max stretch of one image to [0, 1], all channels together; a constant image is returned as it is.

    What the authors' test code does to every fused image before saving it (the paper does not say so). It raises
    EN, SD, SF and AG without adding information, so semfuse does it only when asked (``semfuse fuse --stretch``).

    >>> stretch_range(np.array([[0.25, 0.5], [0.5, 0.75]], dtype=np.float32)).tolist()
    [[0.0, 0.5], [0.5, 1.0]]
    """
    low, high = float(image.min()), float(image.max())
    if not high > low:
        return image
    return ((image - low) / (high - low)).astype(image.dtype, copy=False)


def fuse_tensors(fuse: FuseFn, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Fuse a batch of pairs: the numeric core of :func:`fuse_arrays`, ``semfuse fuse`` and :class:`semfuse.Fuser`.

    The visible image's BT.601 luminance is fused with the infrared image; a colour visible image gets its Cb/Cr
    back (:func:`~semfuse.data.colour.restore_colour`). The colour work happens on ``vis``'s device.

    Args:
        fuse: a fusion method (:func:`semfuse.methods.get_method`).
        ir: (B, 1, H, W) float32 infrared luminance in [0, 1].
        vis: (B, 1, H, W) grey or (B, 3, H, W) RGB float32 visible image in [0, 1].

    Returns:
        (B, 1, H, W) or (B, 3, H, W), like ``vis``: float32 in [0, 1] on ``vis``'s device.

    Example:
        >>> from semfuse.methods import get_method
        >>> fuse_tensors(get_method("average"), torch.zeros(2, 1, 4, 4), torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 3, 4, 4])
    """
    with torch.inference_mode():
        return _with_colour(_fuse_luminance(fuse, ir, _visible_luminance(vis), vis.device), vis)


def _visible_luminance(vis: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): the grey visible image itself, or the BT.601 Y of an RGB one."""
    with torch.inference_mode():
        return vis if vis.shape[1] == 1 else luminance(vis)


def _fuse_luminance(fuse: FuseFn, ir: torch.Tensor, vis_y: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The method's fused luminance (B, 1, H, W), float32 in [0, 1] on ``device``."""
    with torch.inference_mode():
        fused_y = fuse(ir, vis_y).float().to(device).clamp(0.0, 1.0)
    if fused_y.shape != ir.shape:
        raise RuntimeError(f"the fusion method returned shape {tuple(fused_y.shape)} for input {tuple(ir.shape)}")
    return fused_y


def _with_colour(fused_y: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """The fused image like ``vis``: the fused luminance, with ``vis``'s Cb/Cr when it is in colour."""
    with torch.inference_mode():
        return fused_y if vis.shape[1] == 1 else restore_colour(fused_y, vis)


def _as_tensors(ir: np.ndarray, vis: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W) infrared and (H, W) or (H, W, 3) visible arrays -> (1, 1, H, W) and (1, 1|3, H, W) tensors."""
    ir_t = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None, None]  # (1, 1, H, W)
    vis_t = torch.from_numpy(np.ascontiguousarray(vis, dtype=np.float32))
    return ir_t, (vis_t[None, None] if vis.ndim == 2 else vis_t.permute(2, 0, 1)[None])  # (1, 1|3, H, W)


def _as_array(fused: torch.Tensor) -> np.ndarray:
    """(1|3, H, W) tensor -> (H, W) or (H, W, 3) array."""
    return fused[0].numpy() if fused.shape[0] == 1 else fused.permute(1, 2, 0).numpy()


def fuse_arrays(fuse: FuseFn, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Fuse one pair of float [0, 1] arrays: ``ir`` (H, W), ``vis`` (H, W) or (H, W, 3) -> fused like ``vis``."""
    ir_t, vis_t = _as_tensors(ir, vis)
    return _as_array(fuse_tensors(fuse, ir_t, vis_t)[0])


def output_path(out_dir: Path, name: str) -> Path:
    """Where the fused image of the pair ``name`` goes: ``out_dir/NAME.png``."""
    return out_dir / f"{name}.png"


def default_batch(device: str | torch.device) -> int:
    """Pairs of equal size fused in one call by default: 1 on the CPU (batching is slower there, and not bit-exact:
    benchmarks/README.md), 8 on CUDA.

    >>> default_batch("cpu")
    1
    """
    return 8 if torch.device(device).type == "cuda" else 1


def default_workers(device: str | torch.device) -> int:
    """Reading threads, and writing threads, by default: on CUDA one per physical core up to 8, as PNG decoding and
    encoding then set the pace; on the CPU 0, one pair after the other in one thread: there the network keeps every
    core busy, reading and writing are a few per cent of its time, and threads beside it slowed a 2-core machine's
    folder run to about 0.7 of the network alone (benchmarks/README.md, pipeline_throughput.py).

    >>> default_workers("cpu")
    0
    """
    return min(8, max(2, physical_cores())) if torch.device(device).type == "cuda" else 0


def fuse_pairs(
    fuse: FuseFn,
    pairs: list[Pair],
    out_dir: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    skip_existing: bool = False,
    stretch: bool = False,
    batch: int = 1,
    workers: int | None = None,
) -> FuseSummary:
    """Fuse every pair into ``out_dir/NAME.png``; a failing pair is logged and skipped, the rest go on.

    A pipeline: ``workers`` threads read, decode and convert the next pairs to luminance while the method fuses,
    and ``workers`` threads restore colour, encode and write (atomically) while it fuses the next; consecutive pairs
    of equal size are fused ``batch`` at a time. Outputs are the same bytes whatever ``workers``; ``summary.written``
    lists them in order of completion.

    A pair too large for the device's memory fails with its size and the options that help. Ctrl-C (or SIGTERM)
    stops with a :class:`KeyboardInterrupt` whose message says how many pairs are done and left; every file
    written until then is complete.

    Args:
        skip_existing: leave pairs whose output exists (e.g. from an interrupted run, or written meanwhile by
            another process) as they are instead of refusing to start.
        stretch: min–max stretch every fused image (:func:`stretch_range`, the authors' choice; off by default).
        batch: at most this many consecutive pairs of equal size per call of ``fuse`` (a failing batch is retried
            pair by pair, so one bad pair fails alone); :func:`default_batch` gives the device's default.
        workers: reading threads and writing threads (each); 0: everything in the calling thread, one pair after
            the other; None: 0 (:func:`default_workers` gives the device's default).

    Raises:
        SemfuseError: before any work, if outputs exist and neither ``overwrite`` nor ``skip_existing`` is set, or
            ``batch`` < 1 or ``workers`` < 0; and when writing fails because of the disk (full, read-only, no
            permission): the batch stops there.
    """
    out_dir = Path(out_dir)
    if overwrite and skip_existing:
        raise SemfuseError("give --overwrite (redo every pair) or --skip-existing (keep finished pairs), not both")
    workers = 0 if workers is None else workers
    if batch < 1 or workers < 0:
        raise SemfuseError(f"--batch needs N >= 1 (got {batch}) and --workers N >= 0 (got {workers})")
    if skip_existing:
        done = {pair.name for pair in pairs if output_path(out_dir, pair.name).exists()}
        summary = FuseSummary(skipped=[output_path(out_dir, name) for name in sorted(done)])
        pairs = [pair for pair in pairs if pair.name not in done]
        if summary.skipped:
            logger.info("%d pair(s) already fused in %s, skipped", len(summary.skipped), out_dir)
    else:
        refuse_existing([output_path(out_dir, pair.name) for pair in pairs], overwrite)
        summary = FuseSummary()
    total = len(pairs) + len(summary.skipped)
    with summarise_interruption(lambda: len(summary.written) + len(summary.failed) + len(summary.skipped), total,
                                "pairs", "run again with --skip-existing to finish"), \
            tqdm(total=len(pairs), desc="fusing", unit="pair", disable=not progress, dynamic_ncols=True) as bar:
        _FolderRun(fuse, out_dir, summary, total, overwrite, skip_existing, stretch, batch, workers, bar).run(pairs)
    return summary


_PAIR_FAILURES = (SemfuseError, OSError, RuntimeError, ValueError, MemoryError)  # a pair fails, the batch goes on


@dataclass
class _Loaded:
    """A pair read and converted: (1, 1, H, W) infrared, (1, 1|3, H, W) visible and its luminance."""

    pair: Pair
    ir: torch.Tensor
    vis: torch.Tensor
    vis_y: torch.Tensor


def _load(pair: Pair) -> _Loaded:
    loaded = load_pair(pair)
    ir, vis = _as_tensors(loaded["ir"], loaded["vis"])
    return _Loaded(pair, ir, vis, _visible_luminance(vis))


def _outcome(task: Callable[[], T]) -> T | BaseException:
    """``task()``, or the pair failure it raised."""
    try:
        return task()
    except _PAIR_FAILURES as error:
        return error


class _FolderRun:
    """The pipeline of :func:`fuse_pairs`: reading threads ahead of the method, writing threads behind it."""

    def __init__(self, fuse: FuseFn, out_dir: Path, summary: FuseSummary, total: int, overwrite: bool,
                 skip_existing: bool, stretch: bool, batch: int, workers: int, bar: tqdm) -> None:
        self.fuse, self.out_dir, self.summary, self.total, self.bar = fuse, out_dir, summary, total, bar
        self.overwrite, self.skip_existing, self.stretch, self.batch = overwrite, skip_existing, stretch, batch
        self.ahead = batch + 2 * workers  # pairs in memory at most on each side of the method
        self.readers = ThreadPoolExecutor(workers, "semfuse-read") if workers else None
        self.writers = ThreadPoolExecutor(workers, "semfuse-write") if workers else None
        self.writing: dict[Future, Pair] = {}
        self.disk_failed = Event()  # set by the write that stops the batch: the writes queued after it do nothing

    def run(self, pairs: list[Pair]) -> None:
        try:
            group: list[_Loaded] = []
            for pair, loaded in self._loads(pairs):
                if isinstance(loaded, BaseException):
                    self._record(pair, loaded)
                    continue
                if group and group[0].vis_y.shape != loaded.vis_y.shape:
                    self._fuse_group(group)
                    group = []
                group.append(loaded)
                if len(group) == self.batch:
                    self._fuse_group(group)
                    group = []
            if group:
                self._fuse_group(group)
            self._collect(every=True)
        finally:
            self._close()

    def _loads(self, pairs: list[Pair]) -> Iterator[tuple[Pair, "_Loaded | BaseException"]]:
        """Each pair with its loaded images (or why it failed to load), in order; read ``ahead`` in threads."""
        if self.readers is None:
            yield from ((pair, _outcome(partial(_load, pair))) for pair in pairs)
            return
        queued: deque[tuple[Pair, Future]] = deque()
        for pair in pairs:
            queued.append((pair, self.readers.submit(_outcome, partial(_load, pair))))
            if len(queued) > self.ahead:
                first, future = queued.popleft()
                yield first, future.result()
        while queued:
            first, future = queued.popleft()
            yield first, future.result()

    def _fuse_group(self, group: list[_Loaded]) -> None:
        """Fuse pairs of one size in one call (pair by pair if that fails) and hand each to the writers."""
        ir, vis_y = torch.cat([item.ir for item in group]), torch.cat([item.vis_y for item in group])  # (B, 1, H, W)
        fused_y = _outcome(partial(_fuse_luminance, self.fuse, ir, vis_y, torch.device("cpu")))
        if isinstance(fused_y, BaseException):
            if len(group) > 1:
                for item in group:
                    self._fuse_group([item])
                return
            self._record(group[0].pair, fused_y, group[0].ir)
            return
        for index, item in enumerate(group):
            self._write(item, fused_y[index:index + 1])

    def _write(self, item: _Loaded, fused_y: torch.Tensor) -> None:
        task = partial(self._write_task, item.vis, item.pair.name, fused_y)
        if self.writers is None:
            self._record(item.pair, task())
            return
        self.writing[self.writers.submit(task)] = item.pair
        self._collect(every=len(self.writing) > self.ahead)

    def _write_task(self, vis: torch.Tensor, name: str, fused_y: torch.Tensor) -> "Path | BaseException | None":
        """Encode and write one fused image; None when an earlier write stopped the batch."""
        if self.disk_failed.is_set():
            return None
        outcome = _outcome(partial(self._encode_and_write, vis, name, fused_y))
        if isinstance(outcome, OutputWriteError) and outcome.stops_batch:
            self.disk_failed.set()
        return outcome

    def _encode_and_write(self, vis: torch.Tensor, name: str, fused_y: torch.Tensor) -> Path:
        fused = _as_array(_with_colour(fused_y, vis)[0])
        if self.stretch:
            fused = stretch_range(fused)
        return write_image(output_path(self.out_dir, name), fused, overwrite=self.overwrite)

    def _collect(self, every: bool) -> None:
        """Record the finished writes; with ``every``, wait for all of them first."""
        if every and self.writing:
            wait(self.writing)
        for future in [future for future in self.writing if future.done()]:
            pair = self.writing.pop(future)
            if not future.cancelled():
                self._record(pair, future.result())

    def _record(self, pair: Pair, outcome: "Path | BaseException | None", ir: torch.Tensor | None = None) -> None:
        """Note a pair's outcome in the summary; raises for a disk problem that stops the batch."""
        if outcome is None:  # not written: the batch stopped before
            return
        self.bar.update(1)
        if isinstance(outcome, Path):
            self.summary.written.append(outcome)
        elif isinstance(outcome, OutputExistsError) and self.skip_existing:
            self.summary.skipped.append(output_path(self.out_dir, pair.name))  # another process fused it meanwhile
        elif isinstance(outcome, OutputWriteError) and outcome.stops_batch:
            done = len(self.summary.written) + len(self.summary.skipped)
            raise SemfuseError(f"{outcome} (stopped after {done} of {self.total} pairs; run again with "
                               "--skip-existing to finish)") from None
        elif ir is not None and _is_out_of_memory(outcome):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            _failed(self.summary, pair, out_of_memory_message(ir[0, 0].numpy(), outcome))
        else:
            _failed(self.summary, pair, outcome)

    def _close(self) -> None:
        """Stop reading; let writes already started finish (each file is complete or absent) and count them."""
        for pool in (self.readers, self.writers):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._collect(every=False)
        except SemfuseError:  # a second disk failure while stopping: the first one is reported
            pass


def _failed(summary: FuseSummary, pair: Pair, error: BaseException | str) -> None:
    message = f"{pair.name}: {error}"
    logger.error("failed, skipped: %s", message)
    summary.failed.append(message)
