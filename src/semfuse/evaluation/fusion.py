"""Score the fused images of several methods against their sources: the library behind ``semfuse evaluate``.

Images are paired by file stem across the infrared folder, the visible folder and each method's folder. Every
image is brought to 8-bit grey as the MATLAB evaluation code sees it: grey files (including colour files with
R = G = B) as their 8-bit values, colour files with MATLAB's ``rgb2gray`` (see :func:`matlab_rgb2gray`). Missing,
unreadable and size-mismatched images are logged, skipped and counted; everything else is scored.

:func:`score_methods` returns the scores and writes nothing; :func:`write_scores` writes them (tables, notes, CDF
plots, run.json); :func:`evaluate_methods`, what ``semfuse evaluate`` runs, refuses existing outputs, then does both.
"""

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from semfuse.data.io import ImageReadError, list_images, read_image, to_uint8
from semfuse.engine.distributed import DistributedContext
from semfuse.errors import SemfuseError
from semfuse.evaluation.undefined import notes_csv, score_triplet
from semfuse.files import atomic_write_text, refuse_existing
from semfuse.interrupts import summarise_interruption
from semfuse.metrics import FUSION_METRICS, resolve_metric_names
from semfuse.process import torch_threads
from semfuse.report import (
    metrics_csv,
    plot_cdf,
    summarise,
    summary_csv,
    summary_markdown,
)
from semfuse.report.provenance import RUN_RECORD, run_record, write_run_record
from semfuse.sharding import all_gather, decide_on_main, fail_once

logger = logging.getLogger("semfuse.evaluate")

RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def matlab_rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of a uint8 (H, W, 3) image: round half away from zero of 0.2989 R + 0.5870 G + 0.1140 B.

    The exact weights are those of MATLAB (the first row of the inverse of its NTSC matrix), not BT.601's Y of
    YCbCr; the fusion metric code of the field converts colour images this way.

    Example:
        >>> matlab_rgb2gray(np.array([[[255, 0, 0], [10, 20, 30]]], dtype=np.uint8))
        array([[76, 18]], dtype=uint8)
    """
    grey = np.asarray(rgb, dtype=np.float64) @ np.array(RGB2GRAY_WEIGHTS)
    return np.floor(grey + 0.5).clip(0, 255).astype(np.uint8)  # values are >= 0: half away from zero = half up


def load_grey_uint8(path: Path) -> np.ndarray:
    """Read an image as uint8 grey (H, W): 8-bit values of grey files, :func:`matlab_rgb2gray` of colour files.

    16-bit files are rounded to 8 bits first.

    Raises:
        ImageReadError: if the file is missing or unreadable.
    """
    return grey_uint8(read_image(path))


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """A float [0, 1] image as :func:`~semfuse.data.io.read_image` returns it ((H, W), or (H, W, 3) colour) as uint8
    grey (H, W): rounded to 8 bits, colour through :func:`matlab_rgb2gray`.

    Example:
        >>> grey_uint8(np.array([[[1.0, 0.0, 0.0]]], dtype=np.float32))
        array([[76]], dtype=uint8)
    """
    image = to_uint8(image)
    return matlab_rgb2gray(image) if image.ndim == 3 else image


Scores = dict[str, dict[str, dict[str, float]]]  # {method: {image stem: {metric: value}}}
Notes = dict[str, dict[str, dict[str, str]]]  # {method: {image stem: {metric: reason}}} for every NaN score


@dataclass
class FusionScores:
    """What :func:`score_methods` scored.

    Attributes:
        metrics: the metric names, in column order.
        scores: ``{method: {image stem: {metric: value}}}``.
        problems: one line per skipped file or pair.
        notes: ``{method: {image stem: {metric: reason}}}`` for every NaN score.
    """

    metrics: tuple[str, ...]
    scores: Scores
    problems: list[str] = field(default_factory=list)
    notes: Notes = field(default_factory=dict)


@dataclass
class EvaluationResult(FusionScores):
    """What :func:`evaluate_methods` scored (see :class:`FusionScores`) and wrote (``outputs``: the files)."""

    outputs: list[Path] = field(default_factory=list)


def output_files(out_dir: Path, metrics: Sequence[str]) -> list[Path]:
    """The files :func:`write_scores` writes under ``out_dir``."""
    out_dir = Path(out_dir)
    tables = [out_dir / "metrics.csv", out_dir / "summary.csv", out_dir / "summary.md", out_dir / "notes.csv",
              out_dir / RUN_RECORD]
    return tables + [out_dir / "cdf" / f"{name}.{suffix}" for name in metrics for suffix in ("png", "svg")]


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


class _Scoring:
    """Scores the triplets of one run into its tables, in threads when ``workers > 1``.

    With workers, triplets are scored in threads (the metrics' tensor operations release the GIL), at most
    2 * workers in flight; results land in the same tables in the same order.
    """

    def __init__(self, methods: Sequence[str], metrics: tuple[str, ...], workers: int):
        self.metrics = metrics
        self.scores: Scores = {method: {} for method in methods}
        self.notes: Notes = {method: {} for method in methods}
        self.problems: list[str] = []
        self.problem_stems: list[int] = []  # per problem: the index of its stem in the sorted stems, -1 before them
        self.stem_index = -1
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None
        self.pending: deque = deque()

    def report(self, message: str) -> None:
        logger.warning(message)
        self.problems.append(message)
        self.problem_stems.append(self.stem_index)

    def load(self, path: Path, what: str) -> np.ndarray | None:
        try:
            return load_grey_uint8(path)
        except ImageReadError as error:
            self.report(f"{what}: {error}; skipped")
            return None

    def sources(self, stem: str, ir_images: Mapping[str, Path],
                vis_images: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray] | None:
        """The pair (infrared, visible) of ``stem`` as grey images, or None (reported) when it cannot be scored."""
        if stem not in ir_images or stem not in vis_images:
            present, missing = ("infrared", "visible") if stem in ir_images else ("visible", "infrared")
            self.report(f"{stem}: {present} image without a {missing} image; skipped")
            return None
        ir, vis = self.load(ir_images[stem], stem), self.load(vis_images[stem], stem)
        if ir is None or vis is None:
            return None
        if ir.shape != vis.shape:
            self.report(f"{stem}: infrared {_size(ir)} and visible {_size(vis)} differ in size; skipped")
            return None
        return ir, vis

    def fused(self, method: str, images: Mapping[str, Path], stem: str, ir: np.ndarray) -> np.ndarray | None:
        """A method's fused image of ``stem`` as grey, or None (reported) when missing, unreadable or mis-sized."""
        if stem not in images:
            self.report(f"{method}: no fused image for {stem}; skipped")
            return None
        fused = self.load(images[stem], f"{method}/{stem}")
        if fused is not None and fused.shape != ir.shape:
            self.report(f"{method}/{stem}: fused image is {_size(fused)}, sources are {_size(ir)}; skipped")
            return None
        return fused

    def submit(self, method: str, stem: str, fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> None:
        if self.pool is None:
            self.store(method, stem, score_triplet(fused, ir, vis, self.metrics))
            return
        self.pending.append((method, stem, self.pool.submit(score_triplet, fused, ir, vis, self.metrics)))
        self.collect(2 * self.workers)

    def collect(self, keep: int) -> None:
        """Store finished triplets until at most ``keep`` are in flight."""
        while len(self.pending) > keep:
            method, stem, future = self.pending.popleft()
            self.store(method, stem, future.result())

    def store(self, method: str, stem: str, scored: tuple[dict[str, float], dict[str, str]]) -> None:
        self.scores[method][stem], reasons = scored
        if reasons:
            self.notes[method][stem] = reasons

    def run(self, ir_images: Mapping[str, Path], vis_images: Mapping[str, Path],
            fused_images: Mapping[str, Mapping[str, Path]], progress: bool, share: tuple[int, int] = (0, 1)) -> None:
        """Score every method's image of every pair, in stem order; with ``share`` (rank, world size) only the
        stems ``rank, rank + world size, ...`` (rank 0 also reports fused images without sources)."""
        stems = sorted(set(ir_images) | set(vis_images))
        rank, world_size = share
        if rank == 0:
            for method, images in fused_images.items():
                for stem in sorted(set(images) - set(stems)):
                    self.report(f"{method}: {images[stem]} has no infrared/visible pair of that name; skipped")
        indices = range(rank, len(stems), world_size)
        total = len(indices) * len(fused_images)
        with (
            logging_redirect_tqdm(),
            tqdm(total=total, desc="evaluate", unit="image", disable=not progress) as bar,
            summarise_interruption(lambda: sum(map(len, self.scores.values())), total, "images",
                                   "nothing was written; run again to score them all"),
        ):
            for self.stem_index in indices:
                stem = stems[self.stem_index]
                pair = self.sources(stem, ir_images, vis_images)
                for method, images in fused_images.items():
                    bar.update(1)
                    if pair is None:
                        continue
                    fused = self.fused(method, images, stem, pair[0])
                    if fused is not None:
                        self.submit(method, stem, fused, *pair)
            self.collect(0)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _metric_names(metrics: str | Sequence[str] | None, fused_dirs: Mapping) -> tuple[str, ...]:
    names = resolve_metric_names(metrics)
    if not fused_dirs:
        raise SemfuseError("no fused folder given; pass at least one --fused NAME=DIR")
    return names


def score_methods(
    ir_dir: str | Path,
    vis_dir: str | Path,
    fused_dirs: Mapping[str, str | Path],
    metrics: str | Sequence[str] | None = None,
    progress: bool = True,
    workers: int = 1,
) -> FusionScores:
    """Score every method's fused images against the sources; returns the scores and writes nothing.

    Args:
        ir_dir: folder of infrared images.
        vis_dir: folder of visible images (grey or colour).
        fused_dirs: method name -> folder of its fused images, named like the sources.
        metrics: metric names (a list or a comma-separated string); None for the whole panel.
        progress: show a progress bar.
        workers: triplets scored at once, each in its own thread with one torch thread (the scores are the same);
            at most the number of triplets, and with a single worker the torch threads stay as they are.

    Returns:
        The scores, the problems (skipped files, also logged) and the reasons for NaN scores.

    Raises:
        SemfuseError: bad arguments, a missing folder, or nothing could be scored.
    """
    share = _score_share(ir_dir, vis_dir, fused_dirs, metrics, progress, workers)
    return _require_scores(_merge_shares([share]))


_Share = tuple[FusionScores, list[int]]  # one rank's scores, and the stem index of each of its problems


def _score_share(ir_dir: str | Path, vis_dir: str | Path, fused_dirs: Mapping[str, str | Path],
                 metrics: str | Sequence[str] | None, progress: bool, workers: int,
                 share: tuple[int, int] = (0, 1)) -> _Share:
    """:func:`score_methods` of the stems of ``share`` (rank, world size), nothing raised for an empty result."""
    names = _metric_names(metrics, fused_dirs)
    ir_images, vis_images = list_images(ir_dir), list_images(vis_dir)
    fused_images = {method: list_images(folder) for method, folder in fused_dirs.items()}
    # No more workers than triplets: with one triplet, its tensor operations keep all the torch threads.
    triplets = sum(len(set(images) & set(ir_images) & set(vis_images)) for images in fused_images.values())
    workers = max(1, min(workers, -(-triplets // share[1])))
    scoring = _Scoring(list(fused_images), names, workers)
    try:
        with torch_threads(1 if workers > 1 else None):
            scoring.run(ir_images, vis_images, fused_images, progress, share)
    finally:
        scoring.close()
    return FusionScores(names, scoring.scores, scoring.problems, scoring.notes), scoring.problem_stems


def _merge_shares(shares: Sequence[_Share]) -> FusionScores:
    """The scores of all ranks as one process would have them: images and problems in stem order."""
    first = shares[0][0]
    scores: Scores = {method: {} for method in first.scores}
    notes: Notes = {method: {} for method in first.scores}
    for method in scores:
        for merged, part in ((scores, "scores"), (notes, "notes")):
            rows = [row for share, _ in shares for row in getattr(share, part).get(method, {}).items()]
            merged[method] = dict(sorted(rows))
    problems = [(stem, rank, order, message) for rank, (share, stems) in enumerate(shares)
                for order, (stem, message) in enumerate(zip(stems, share.problems, strict=True))]
    return FusionScores(first.metrics, scores, [message for *_, message in sorted(problems)], notes)


def _require_scores(scored: FusionScores) -> FusionScores:
    if not any(scored.scores.values()):
        raise SemfuseError(f"no fused image could be scored ({len(scored.problems)} problems above); "
                           "check the folders")
    return scored


def write_scores(
    result: FusionScores,
    out_dir: str | Path,
    inputs: Mapping[str, str | Path],
    fused_dirs: Mapping[str, str | Path],
    weights: Mapping[str, str | Path] | None = None,
    command: Sequence[str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the scores to ``out_dir`` (created); returns the files written, each atomically.

    Writes ``metrics.csv`` (``method,image,<metrics>``), ``summary.csv`` and ``summary.md`` (mean ± std per method,
    best in bold), ``notes.csv`` (the reason for every NaN score), ``cdf/<metric>.png`` / ``.svg`` (one curve per
    method) and ``run.json`` (version, commit, command line, ``inputs``, ``fused_dirs``, ``weights``, metrics and
    problems; read by the HTML report).

    Raises:
        SemfuseError: an output file exists and ``overwrite`` is not set.
    """
    names, scores, out_dir = result.metrics, result.scores, Path(out_dir)
    targets = output_files(out_dir, names)
    direction = {name: FUSION_METRICS[name].higher_is_better for name in names}
    with np.errstate(invalid="ignore"):  # the spread of infinite values (PSNR of identical images) is NaN
        summary = summarise(scores, names)
    outputs = [
        atomic_write_text(targets[0], metrics_csv(scores, names), overwrite),
        atomic_write_text(targets[1], summary_csv(summary, names), overwrite),
        atomic_write_text(targets[2], summary_markdown(summary, names, direction), overwrite),
        atomic_write_text(targets[3], notes_csv(result.notes), overwrite),
    ]
    for name in names:
        values = {method: [row[name] for row in images.values()] for method, images in scores.items()}
        paths = [out_dir / "cdf" / f"{name}.png", out_dir / "cdf" / f"{name}.svg"]
        outputs += plot_cdf(values, name, direction[name], paths, overwrite)
    record = run_record(inputs, fused_dirs, weights, command, {"metrics": list(names), "problems": result.problems})
    outputs.append(write_run_record(out_dir, record, overwrite))
    return outputs


def _check_outputs(ir_dir: str | Path, vis_dir: str | Path, fused_dirs: Mapping[str, str | Path], out_dir: str | Path,
                   metrics: str | Sequence[str] | None, overwrite: bool, context: DistributedContext) -> None:
    """Refuse existing outputs (unless ``overwrite``) and, under torchrun, missing input folders, before any work."""
    if context.enabled:
        for folder in (ir_dir, vis_dir, *fused_dirs.values()):
            list_images(folder)
    refuse_existing(output_files(Path(out_dir), _metric_names(metrics, fused_dirs)), overwrite)


def evaluate_methods(
    ir_dir: str | Path,
    vis_dir: str | Path,
    fused_dirs: Mapping[str, str | Path],
    out_dir: str | Path,
    metrics: str | Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    weights: Mapping[str, str | Path] | None = None,
    command: Sequence[str] | None = None,
    workers: int = 1,
    context: DistributedContext | None = None,
) -> EvaluationResult:
    """Score every method's fused images against the sources and write tables and CDF plots to ``out_dir``.

    :func:`score_methods` then :func:`write_scores` (see them for the scoring and the files); existing outputs are
    refused before any scoring unless ``overwrite``.

    Args:
        ir_dir: folder of infrared images.
        vis_dir: folder of visible images (grey or colour).
        fused_dirs: method name -> folder of its fused images, named like the sources.
        out_dir: output folder (created).
        metrics: metric names (a list or a comma-separated string); None for the whole panel.
        overwrite: replace existing output files.
        progress: show a progress bar.
        weights: method -> the weights file its images were fused with, recorded in ``run.json`` when known.
        command: the command line recorded in ``run.json`` (default: ``sys.argv``).
        workers: triplets scored at once (see :func:`score_methods`); ``semfuse evaluate`` passes ``--threads``
            (default: the physical cores).
        context: the process group under ``torchrun`` (:func:`semfuse.sharding.torchrun_group`): rank 0 refuses
            existing outputs once, every rank scores its share of the pairs, and rank 0 writes the gathered scores,
            the same files as one process (the other ranks return the scores with no ``outputs``).

    Returns:
        The scores, the problems (skipped files) and the written files.

    Raises:
        SemfuseError: bad arguments, a missing folder, existing outputs, or nothing could be scored.
    """
    context = context or DistributedContext()
    decide_on_main(context, lambda: _check_outputs(ir_dir, vis_dir, fused_dirs, out_dir, metrics, overwrite, context))
    share = _score_share(ir_dir, vis_dir, fused_dirs, metrics, progress and context.is_main, workers,
                         (context.rank, context.world_size))
    scored = _merge_shares(all_gather(context, share))
    try:
        _require_scores(scored)
    except SemfuseError as error:
        fail_once(context, error)
    outputs = []
    if context.is_main:
        outputs = write_scores(scored, out_dir, {"ir": ir_dir, "vis": vis_dir}, fused_dirs, weights, command,
                               overwrite)
    return EvaluationResult(scored.metrics, scored.scores, scored.problems, scored.notes, outputs)
