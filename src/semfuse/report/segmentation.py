"""Tables of the segmentation protocol: the paper's Table I layout (per-class Acc and IoU, mAcc, mIoU).

Scores are those of :func:`semfuse.metrics.segmentation.segmentation_scores` (``{"Acc": {class: v}, "IoU": {...},
"mAcc", "mIoU", "aAcc"}``), one dict per seed; tables give the mean over seeds, ± the standard deviation when there
are several. With MFNet's 9 classes the columns are the paper's seven (car ... bump); otherwise every class but the
first (background / unlabelled).
"""

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from semfuse.data.classes import MFNET_CLASSES
from semfuse.errors import InputError

TABLE_I_CLASSES = ("car", "person", "bike", "curve", "car_stop", "color_cone", "bump")  # the columns of Table I
TABLE_I_TITLES = {"car": "Car", "person": "Person", "bike": "Bike", "curve": "Curve", "car_stop": "Car Stop",
                  "color_cone": "Color Cone", "bump": "Bump"}


class SeedScores(Protocol):
    """What the tables read of one method's result (:class:`semfuse.evaluation.segmentation.MethodResult`)."""

    seeds: dict[int, dict]  # the scores of each seed
    train_images: int
    test_images: int

    @property
    def mean(self) -> dict: ...  # the mean over seeds of every score

    @property
    def std(self) -> dict: ...  # the population standard deviation over seeds of every score


def aggregate_seeds(runs: Sequence[dict]) -> tuple[dict, dict]:
    """(mean, population std) over seeds of every score, class by class; NaN where a class is absent.

    Example:
        >>> mean, std = aggregate_seeds([{"mIoU": 0.5, "IoU": {"car": 0.2}}, {"mIoU": 0.7, "IoU": {"car": 0.4}}])
        >>> round(mean["mIoU"], 3), round(std["IoU"]["car"], 3)
        (0.6, 0.1)
    """
    def combine(values: list, reduce) -> Any:
        if isinstance(values[0], dict):
            return {key: combine([value[key] for value in values], reduce) for key in values[0]}
        array = np.array(values, dtype=np.float64)
        return float("nan") if np.isnan(array).all() else float(reduce(array))

    if not runs:
        raise InputError("aggregate_seeds needs at least one run")
    return combine(list(runs), np.nanmean), combine(list(runs), np.nanstd)


def table_classes(classes: Sequence[str]) -> list[str]:
    """The per-class columns: Table I's seven for MFNet's classes, else every class but the background."""
    if tuple(classes) == MFNET_CLASSES:
        return list(TABLE_I_CLASSES)
    return list(classes[1:])


def _title(name: str) -> str:
    return TABLE_I_TITLES.get(name, name.replace("_", " ").title())


def _cell(mean: float, std: float, seeds: int) -> str:
    if math.isnan(mean):
        return "–"
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if seeds > 1 else f"{100 * mean:.2f}"


def segmentation_table_markdown(results: Mapping[str, SeedScores], classes: Sequence[str],
                                test_split: str = "test") -> str:
    """Table I: per-class Acc and IoU (%), then mAcc and mIoU, mean (± std over seeds); best mean per column bold.

    ``results`` maps a method name to its :class:`SeedScores`.
    """
    columns: list[tuple[str, str | None]] = [(kind, name) for name in table_classes(classes) for kind in ("Acc", "IoU")]
    columns += [("mAcc", None), ("mIoU", None)]

    def value(scores: dict, kind: str, name: str | None) -> float:
        return scores[kind][name] if name else scores[kind]

    means = {method: [value(r.mean, k, c) for k, c in columns] for method, r in results.items()}
    stds = {method: [value(r.std, k, c) for k, c in columns] for method, r in results.items()}
    best = []
    for i in range(len(columns)):
        finite = [row[i] for row in means.values() if not math.isnan(row[i])]
        best.append(max(finite) if finite else math.nan)
    header = "| Method | " + " | ".join(f"{_title(c)} {k}" if c else k for k, c in columns) + " |"
    lines = [header, "|:---|" + "---:|" * len(columns)]
    seed_counts = {len(r.seeds) for r in results.values()}
    for method, row in means.items():
        seeds = len(results[method].seeds)
        cells = []
        for i, mean in enumerate(row):
            text = _cell(mean, stds[method][i], seeds)
            cells.append(f"**{text}**" if not math.isnan(mean) and mean == best[i] and len(means) > 1 else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if len(seed_counts) > 1:
        seeds_text = "seeds differ by method"
    else:
        count = seed_counts.pop()
        seeds_text = f"mean ± std over {count} seeds" if count > 1 else "one seed"
    return "\n".join(lines) + (
        f"\n\nSegFormer-b0 trained from scratch on each method's fused train images, scored on the {test_split} "
        f"split; Acc and IoU in %, {seeds_text}; mAcc and mIoU over every labelled class "
        f"({', '.join(classes)}); best mean in bold.\n")


def segmentation_table_csv(results: Mapping[str, SeedScores], classes: Sequence[str]) -> str:
    """One row per method: image counts, seeds, mAcc/mIoU and every class's Acc/IoU, mean and std over seeds."""
    header = ["method", "seeds", "train_images", "test_images", "mAcc", "mAcc_std", "mIoU", "mIoU_std"]
    header += [f"{kind}_{name}{suffix}" for name in classes for kind in ("Acc", "IoU") for suffix in ("", "_std")]
    rows = [header]
    for method, r in results.items():
        mean, std = r.mean, r.std
        cells = [method, str(len(r.seeds)), str(r.train_images), str(r.test_images)]
        cells += [f"{v:.6f}" for v in (mean["mAcc"], std["mAcc"], mean["mIoU"], std["mIoU"])]
        cells += [f"{source[kind][name]:.6f}" for name in classes for kind in ("Acc", "IoU") for source in (mean, std)]
        rows.append(cells)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
