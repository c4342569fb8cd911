"""Score the fused images of several methods against their sources: the library behind ``semfuse evaluate``.

Images are paired by file stem across the infrared folder, the visible folder and each method's folder. Every
image is brought to 8-bit grey as the MATLAB evaluation code sees it: grey files (including colour files with
R = G = B) as their 8-bit values, colour files with MATLAB's ``rgb2gray`` (see :func:`matlab_rgb2gray`). Missing,
unreadable and size-mismatched images are logged, skipped and counted; everything else is scored and written.
"""

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from semfuse.data.io import ImageReadError, list_images, read_image, to_uint8
from semfuse.errors import SemfuseError
from semfuse.evaluation.undefined import notes_csv, score_triplet
from semfuse.files import atomic_write_text, refuse_existing
from semfuse.interrupts import summarise_interruption
from semfuse.metrics import FUSION_METRICS, resolve_metric_names
from semfuse.report import (
    metrics_csv,
    plot_cdf,
    summarise,
    summary_csv,
    summary_markdown,
)
from semfuse.report.provenance import RUN_RECORD, run_record, write_run_record

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
    image = to_uint8(read_image(path))
    return matlab_rgb2gray(image) if image.ndim == 3 else image


@dataclass
class EvaluationResult:
    """What :func:`evaluate_methods` scored and wrote.

    Attributes:
        metrics: the metric names, in column order.
        scores: ``{method: {image stem: {metric: value}}}``.
        problems: one line per skipped file or pair.
        outputs: the files written.
        notes: ``{method: {image stem: {metric: reason}}}`` for every NaN score.
    """

    metrics: tuple[str, ...]
    scores: dict[str, dict[str, dict[str, float]]]
    problems: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    notes: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


def output_files(out_dir: Path, metrics: Sequence[str]) -> list[Path]:
    """The files :func:`evaluate_methods` writes under ``out_dir``."""
    out_dir = Path(out_dir)
    tables = [out_dir / "metrics.csv", out_dir / "summary.csv", out_dir / "summary.md", out_dir / "notes.csv",
              out_dir / RUN_RECORD]
    return tables + [out_dir / "cdf" / f"{name}.{suffix}" for name in metrics for suffix in ("png", "svg")]


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def _report(problems: list[str], message: str) -> None:
    logger.warning(message)
    problems.append(message)


def _load(path: Path, problems: list[str], what: str) -> np.ndarray | None:
    try:
        return load_grey_uint8(path)
    except ImageReadError as error:
        _report(problems, f"{what}: {error}; skipped")
        return None


def _score_methods(
    ir_images: Mapping[str, Path],
    vis_images: Mapping[str, Path],
    fused_images: Mapping[str, Mapping[str, Path]],
    metrics: tuple[str, ...],
    progress: bool,
    workers: int = 1,
) -> tuple[dict[str, dict[str, dict[str, float]]], list[str], dict[str, dict[str, dict[str, str]]]]:
    problems: list[str] = []
    # workers > 1: triplets are scored in threads (the metrics' tensor operations release the GIL), each with one
    # torch thread, at most 2 * workers triplets in flight; results land in the same tables in the same order.
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    pending: deque = deque()

    def collect(keep: int) -> None:
        while len(pending) > keep:
            method, stem, future = pending.popleft()
            scores[method][stem], reasons = future.result()
            if reasons:
                notes[method][stem] = reasons

    scores: dict[str, dict[str, dict[str, float]]] = {method: {} for method in fused_images}
    notes: dict[str, dict[str, dict[str, str]]] = {method: {} for method in fused_images}
    stems = sorted(set(ir_images) | set(vis_images))
    for method, images in fused_images.items():
        for stem in sorted(set(images) - set(stems)):
            _report(problems, f"{method}: {images[stem]} has no infrared/visible pair of that name; skipped")
    total = len(stems) * len(fused_images)
    with (
        logging_redirect_tqdm(),
        tqdm(total=total, desc="evaluate", unit="image", disable=not progress) as bar,
        summarise_interruption(lambda: sum(map(len, scores.values())), total, "images",
                               "nothing was written; run again to score them all"),
    ):
        for stem in stems:
            if stem not in ir_images or stem not in vis_images:
                present, missing = ("infrared", "visible") if stem in ir_images else ("visible", "infrared")
                _report(problems, f"{stem}: {present} image without a {missing} image; skipped")
                bar.update(len(fused_images))
                continue
            ir = _load(ir_images[stem], problems, stem)
            vis = _load(vis_images[stem], problems, stem)
            if ir is not None and vis is not None and ir.shape != vis.shape:
                _report(problems, f"{stem}: infrared {_size(ir)} and visible {_size(vis)} differ in size; skipped")
                ir = None
            for method, images in fused_images.items():
                bar.update(1)
                if ir is None or vis is None:
                    continue
                if stem not in images:
                    _report(problems, f"{method}: no fused image for {stem}; skipped")
                    continue
                fused = _load(images[stem], problems, f"{method}/{stem}")
                if fused is None:
                    continue
                if fused.shape != ir.shape:
                    _report(problems, f"{method}/{stem}: fused image is {_size(fused)}, sources are {_size(ir)}; skipped")
                    continue
                if pool is not None:
                    pending.append((method, stem, pool.submit(score_triplet, fused, ir, vis, metrics)))
                    collect(2 * workers)
                    continue
                scores[method][stem], reasons = score_triplet(fused, ir, vis, metrics)
                if reasons:
                    notes[method][stem] = reasons
        collect(0)
    if pool is not None:
        pool.shutdown(cancel_futures=True)
    return scores, problems, notes


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
) -> EvaluationResult:
    """Score every method's fused images against the sources and write tables and CDF plots to ``out_dir``.

    Writes ``metrics.csv`` (``method,image,<metrics>``), ``summary.csv`` and ``summary.md`` (mean ± std per method,
    best in bold), ``notes.csv`` (the reason for every NaN score), ``cdf/<metric>.png`` / ``.svg`` (one curve per
    method) and ``run.json`` (version, commit, command line, folders, weights; read by the HTML report). Existing
    outputs are refused unless ``overwrite``; every file is written atomically.

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
        workers: triplets scored at once, each in its own thread with one torch thread (the scores are the same);
            at most the number of triplets, and with a single worker the torch threads stay as they are.
            ``semfuse evaluate`` passes ``--threads`` (default: the physical cores).

    Returns:
        The scores, the problems (skipped files) and the written files.

    Raises:
        SemfuseError: bad arguments, a missing folder, existing outputs, or nothing could be scored.
    """
    names = resolve_metric_names(metrics)
    if not fused_dirs:
        raise SemfuseError("no fused folder given; pass at least one --fused NAME=DIR")
    targets = output_files(Path(out_dir), names)
    refuse_existing(targets, overwrite)
    ir_images, vis_images = list_images(ir_dir), list_images(vis_dir)
    fused_images = {method: list_images(folder) for method, folder in fused_dirs.items()}

    # No more workers than triplets: with one triplet, its tensor operations keep all the torch threads.
    triplets = sum(len(set(images) & set(ir_images) & set(vis_images)) for images in fused_images.values())
    workers = max(1, min(workers, triplets))
    torch_threads = torch.get_num_threads()
    if workers > 1:
        torch.set_num_threads(1)
    try:
        scores, problems, notes = _score_methods(ir_images, vis_images, fused_images, names, progress, workers)
    finally:
        torch.set_num_threads(torch_threads)
    if not any(scores.values()):
        raise SemfuseError(f"no fused image could be scored ({len(problems)} problems above); check the folders")

    direction = {name: FUSION_METRICS[name].higher_is_better for name in names}
    with np.errstate(invalid="ignore"):  # the spread of infinite values (PSNR of identical images) is NaN
        summary = summarise(scores, names)
    out_dir = Path(out_dir)
    outputs = [
        atomic_write_text(targets[0], metrics_csv(scores, names), overwrite),
        atomic_write_text(targets[1], summary_csv(summary, names), overwrite),
        atomic_write_text(targets[2], summary_markdown(summary, names, direction), overwrite),
        atomic_write_text(targets[3], notes_csv(notes), overwrite),
    ]
    for name in names:
        values = {method: [row[name] for row in images.values()] for method, images in scores.items()}
        paths = [out_dir / "cdf" / f"{name}.png", out_dir / "cdf" / f"{name}.svg"]
        outputs += plot_cdf(values, name, direction[name], paths, overwrite)
    record = run_record({"ir": ir_dir, "vis": vis_dir}, fused_dirs, weights, command,
                        {"metrics": list(names), "problems": problems})
    outputs.append(write_run_record(out_dir, record, overwrite))
    return EvaluationResult(names, scores, problems, outputs, notes)
