"""Reading the outputs the HTML report is built from: an ``evaluate`` folder and a ``segeval`` folder.

Both are read defensively: a report shows what a folder holds (older folders have no ``run.json``, segeval folders
may or may not hold per-seed statistics or saved predictions) and says what is missing instead of failing.
"""

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semfuse.errors import SemfuseError
from semfuse.metrics import FUSION_METRICS
from semfuse.report.provenance import read_run_record


@dataclass
class EvaluationFolder:
    """An ``evaluate`` output folder.

    Attributes:
        path: the folder.
        metrics: metric names in column order.
        higher_is_better: metric -> direction.
        scores: ``{method: {pair: {metric: value}}}`` from metrics.csv.
        record: its run.json (empty for older folders).
    """

    path: Path
    metrics: tuple[str, ...]
    higher_is_better: dict[str, bool]
    scores: dict[str, dict[str, dict[str, float]]]
    record: dict = field(default_factory=dict)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_evaluation(folder: str | Path) -> EvaluationFolder:
    """Read ``folder/metrics.csv`` (``method,image,<metrics>``) and ``folder/run.json``.

    Raises:
        SemfuseError: if metrics.csv is missing or not an evaluate table.
    """
    folder = Path(folder)
    table = folder / "metrics.csv"
    if not table.is_file():
        raise SemfuseError(f"{folder} has no metrics.csv; give the --out folder of 'semfuse evaluate'")
    with table.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0][:2] != ["method", "image"] or len(rows[0]) < 3:
        raise SemfuseError(f"{table} is not a metrics table of 'semfuse evaluate' (columns method,image,METRICS...)")
    metrics = tuple(rows[0][2:])
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows[1:]:
        if len(row) != len(rows[0]):
            continue
        scores.setdefault(row[0], {})[row[1]] = {name: _float(value) for name, value in zip(metrics, row[2:])}
    record = read_run_record(folder)
    for method in record.get("fused", {}):  # methods with nothing scored still get a gallery column
        scores.setdefault(method, {})
    directions = {name: FUSION_METRICS[name].higher_is_better if name in FUSION_METRICS else True for name in metrics}
    return EvaluationFolder(folder, metrics, directions, scores, record)


@dataclass(frozen=True)
class Statistic:
    """A score with its spread over seeds (``std`` None for a single run; ``mean`` NaN when absent)."""

    mean: float
    std: float | None = None


def statistic(value) -> Statistic:
    """A score as segeval may store it: a number, None, a list of per-seed numbers or ``{"mean", "std"}``.

    Example:
        >>> statistic([0.5, 0.7]), statistic({"mean": 0.4, "std": 0.1}), statistic(None).mean
        (Statistic(mean=0.6, std=0.09999999999999998), Statistic(mean=0.4, std=0.1), nan)
    """
    if isinstance(value, bool):
        return Statistic(math.nan)
    if isinstance(value, (int, float)):
        return Statistic(float(value))
    if isinstance(value, dict) and "mean" in value:
        std = value.get("std")
        return Statistic(statistic(value["mean"]).mean, float(std) if isinstance(std, (int, float)) else None)
    if isinstance(value, list):
        numbers = [float(item) for item in value if isinstance(item, (int, float)) and not isinstance(item, bool)]
        if numbers:
            return Statistic(float(np.mean(numbers)), float(np.std(numbers)) if len(numbers) > 1 else None)
    return Statistic(math.nan)


@dataclass
class SegmentationMethod:
    """One method's row of Table I."""

    classes: dict[str, dict[str, Statistic]]  # "Acc"/"IoU" -> class -> value (fractions)
    overall: dict[str, Statistic]  # "mAcc", "mIoU"
    details: dict  # train/test image counts, seeds, ... as stored
    problems: list[str]
    predictions: Path | None  # runs/NAME/predictions when the run saved them


@dataclass
class SegevalFolder:
    """A ``segeval`` output folder."""

    path: Path
    methods: dict[str, SegmentationMethod]
    classes: list[str]
    table_markdown: str | None
    record: dict = field(default_factory=dict)


def _seed_average(scores: list) -> dict:
    """Per-seed score dicts -> one dict whose leaves are lists over seeds."""
    first = next((item for item in scores if isinstance(item, dict)), {})
    merged = {}
    for key, value in first.items():
        items = [item.get(key) for item in scores if isinstance(item, dict)]
        merged[key] = _seed_average(items) if isinstance(value, dict) else items
    return merged


def _method(entry: dict) -> tuple[dict, dict]:
    """The score dict of a scores.json entry (single run, per-seed list, or mean/std dicts) and its other fields."""
    scores = entry.get("scores", entry)
    if isinstance(scores, list):
        scores = _seed_average(scores)
    elif isinstance(scores, dict) and isinstance(scores.get("mean"), dict):
        means, stds = scores["mean"], scores.get("std") or {}
        if isinstance(entry.get("seeds"), dict) and len(entry["seeds"]) < 2:
            stds = {}  # a spread over one seed says nothing

        def pair(mean, std):
            if isinstance(mean, dict):
                return {key: pair(value, (std or {}).get(key) if isinstance(std, dict) else None)
                        for key, value in mean.items()}
            return {"mean": mean, "std": std}

        scores = pair(means, stds)
    details = {key: value for key, value in entry.items() if key not in ("scores", "problems", "mean", "std")}
    return (scores if isinstance(scores, dict) else {}), details


def read_segeval(folder: str | Path) -> SegevalFolder:
    """Read ``folder/scores.json`` (or, failing that, ``table.md`` only), ``run.json`` and the prediction folders.

    Raises:
        SemfuseError: if the folder has neither scores.json nor table.md.
    """
    folder = Path(folder)
    scores_path, table_path = folder / "scores.json", folder / "table.md"
    if not scores_path.is_file() and not table_path.is_file():
        raise SemfuseError(f"{folder} has no scores.json or table.md; give the --out folder of 'semfuse segeval'")
    try:
        payload = json.loads(scores_path.read_text(encoding="utf-8")) if scores_path.is_file() else {}
    except ValueError as error:
        raise SemfuseError(f"{scores_path} is not valid JSON ({error}); rerun segeval or remove it") from None
    entries = payload.get("methods", payload) if isinstance(payload, dict) else {}
    methods = {}
    classes = [str(name) for name in payload.get("classes", [])] if isinstance(payload, dict) else []
    for name, entry in (entries.items() if isinstance(entries, dict) else []):
        if not isinstance(entry, dict):
            continue
        scores, details = _method(entry)
        per_class = {kind: {cls: statistic(value) for cls, value in (scores.get(kind) or {}).items()}
                     for kind in ("Acc", "IoU") if isinstance(scores.get(kind), dict)}
        for cls in per_class.get("IoU", per_class.get("Acc", {})):
            if cls not in classes:
                classes.append(cls)
        predictions = folder / "runs" / name / "predictions"
        problems = entry.get("problems")
        problems = problems if isinstance(problems, list) else []
        methods[name] = SegmentationMethod(per_class, {key: statistic(scores.get(key)) for key in ("mAcc", "mIoU")},
                                           details, [str(problem) for problem in problems],
                                           predictions if predictions.is_dir() else None)
    table = table_path.read_text(encoding="utf-8") if table_path.is_file() else None
    return SegevalFolder(folder, methods, classes, table, read_run_record(folder))
