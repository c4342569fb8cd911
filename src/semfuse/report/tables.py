"""Tables of evaluation results: per-image CSV, per-method summary as CSV and Markdown.

``scores`` everywhere is ``{method: {image: {metric: value}}}``; methods and images keep their order.
The summary is the mean and the population standard deviation (divide by n) over a method's images.
"""

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]


@dataclass(frozen=True)
class MetricSummary:
    """Mean and population standard deviation of one metric over ``count`` images (NaN when count is 0)."""

    count: int
    mean: float
    std: float


def summarise(scores: Scores, names: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
    """Per method and metric: count, mean and standard deviation over the method's images.

    Example:
        >>> summarise({"avg": {"01": {"EN": 6.0}, "02": {"EN": 8.0}}}, ["EN"])["avg"]["EN"]
        MetricSummary(count=2, mean=7.0, std=1.0)
    """
    summary: dict[str, dict[str, MetricSummary]] = {}
    for method, images in scores.items():
        summary[method] = {}
        for name in names:
            values = np.array([row[name] for row in images.values()], dtype=np.float64)
            if values.size == 0:
                summary[method][name] = MetricSummary(0, math.nan, math.nan)
            else:
                summary[method][name] = MetricSummary(int(values.size), float(values.mean()), float(values.std()))
    return summary


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def metrics_csv(scores: Scores, names: Sequence[str]) -> str:
    """CSV text with columns ``method,image,<names...>``, one row per scored image, full float precision.

    Example:
        >>> print(metrics_csv({"avg": {"01": {"EN": 6.5}}}, ["EN"]), end="")
        method,image,EN
        avg,01,6.5
    """
    rows = [["method", "image", *names]]
    for method, images in scores.items():
        for image, values in images.items():
            rows.append([method, image, *(repr(float(values[name])) for name in names)])
    return _csv_text(rows)


def summary_csv(summary: Mapping[str, Mapping[str, MetricSummary]], names: Sequence[str]) -> str:
    """CSV text with columns ``method,n,<name>_mean,<name>_std,...``, one row per method."""
    rows = [["method", "n", *(f"{name}_{part}" for name in names for part in ("mean", "std"))]]
    for method, metrics in summary.items():
        count = next(iter(metrics.values())).count if metrics else 0
        cells = [repr(getattr(metrics[name], part)) for name in names for part in ("mean", "std")]
        rows.append([method, str(count), *cells])
    return _csv_text(rows)


def format_mean_std(mean: float, std: float) -> str:
    """'mean ± std' with about four significant digits of the mean; scientific notation for tiny or huge values.

    Example:
        >>> format_mean_std(6.48813, 0.4213), format_mean_std(2.7e-07, 1.1e-07)
        ('6.488 ± 0.421', '2.700e-07 ± 1.1e-07')
    """
    if not math.isfinite(mean):
        return f"{mean}"
    magnitude = abs(mean)
    if magnitude and (magnitude < 1e-2 or magnitude >= 1e5):
        return f"{mean:.3e} ± {std:.1e}"
    decimals = max(0, 3 - math.floor(math.log10(magnitude))) if magnitude else 4
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def _best(values: list[float], higher_is_better: bool) -> float | None:
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return None
    return max(finite) if higher_is_better else min(finite)


def summary_markdown(
    summary: Mapping[str, Mapping[str, MetricSummary]],
    names: Sequence[str],
    higher_is_better: Mapping[str, bool],
) -> str:
    """A Markdown table: one row per method, 'mean ± std' per metric, ↑/↓ in the header, the best mean in bold.

    Example:
        >>> table = summary_markdown({"a": {"MSE": MetricSummary(1, 0.5, 0.0)}}, ["MSE"], {"MSE": False})
        >>> table.splitlines()[0], table.splitlines()[2]
        ('| Method | n | MSE ↓ |', '| a | 1 | **0.5000 ± 0.0000** |')
    """
    header = ["Method", "n", *(f"{name} {'↑' if higher_is_better[name] else '↓'}" for name in names)]
    lines = ["| " + " | ".join(header) + " |", "|:---|---:|" + "---:|" * len(names)]
    best = {
        name: _best([metrics[name].mean for metrics in summary.values()], higher_is_better[name]) for name in names
    }
    for method, metrics in summary.items():
        count = next(iter(metrics.values())).count if metrics else 0
        cells = [method, str(count)]
        for name in names:
            entry = metrics[name]
            if entry.count == 0:
                cells.append("–")
                continue
            text = format_mean_std(entry.mean, entry.std)
            cells.append(f"**{text}**" if best[name] is not None and entry.mean == best[name] else text)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Mean ± standard deviation over n image pairs; ↑ higher is better, ↓ lower is better; "
                 "best in bold.")
    return "\n".join(lines) + "\n"
