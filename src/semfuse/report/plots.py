"""Cumulative-distribution plots of a metric over image pairs, one curve per method (the paper's Fig. 3).

A point (x, y) means that a fraction x of the image pairs has a value no larger than y: the values sorted in
ascending order are plotted against k / n, k = 1..n. Figures are drawn with matplotlib's Agg canvas directly,
without pyplot, so no global backend is changed.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from semfuse.files import atomic_write


def cdf_points(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(fractions, sorted values) of the finite values: fraction k / n for the k-th smallest of n values.

    Example:
        >>> cdf_points([3.0, 1.0, 2.0, float("nan")])
        (array([0.33333333, 0.66666667, 1.        ]), array([1., 2., 3.]))
    """
    finite = np.sort(np.array([value for value in values if math.isfinite(value)], dtype=np.float64))
    return np.arange(1, finite.size + 1) / max(finite.size, 1), finite


def plot_cdf(
    values_by_method: Mapping[str, Sequence[float]],
    metric: str,
    higher_is_better: bool,
    paths: Sequence[Path],
    overwrite: bool = False,
) -> list[Path]:
    """Draw one metric's cumulative distribution for every method and save it to each of ``paths`` atomically.

    The format follows each path's suffix (.png at 150 dpi, .svg). Methods without finite values are left out.

    Args:
        values_by_method: method name -> the metric's value on each image pair.
        metric: metric name, used in the title and the y label.
        higher_is_better: direction, stated in the title.
        paths: output files.
        overwrite: replace existing files.

    Returns:
        The written paths.
    """
    figure = Figure(figsize=(5.0, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method, values in values_by_method.items():
        fractions, sorted_values = cdf_points(values)
        if sorted_values.size:
            marker = "o" if sorted_values.size <= 60 else None
            axes.plot(fractions, sorted_values, marker=marker, markersize=3, linewidth=1.5, label=method, clip_on=False)
    axes.set_xlim(0, 1)
    axes.set_xlabel("fraction of image pairs")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
    # Plain-text offsets ("1e4"): mathtext would typeset every tick label, about a third of the drawing time.
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useMathText=False)
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")
    written = []
    for path in paths:
        path = Path(path)
        file_format = path.suffix.lstrip(".").lower()
        metadata = {"Date": None} if file_format == "svg" else {"Software": None}

        def save(temporary: Path, file_format=file_format, metadata=metadata) -> None:
            figure.savefig(temporary, format=file_format, dpi=150, metadata=metadata)

        written.append(atomic_write(path, save, overwrite))
    return written
