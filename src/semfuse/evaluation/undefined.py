"""Scores that are not numbers: every metric of a triplet as a value, or NaN with the reason it is undefined.

Degenerate images (constant or all-black images, a fused image equal to a source, images smaller than a metric's
window) make some metrics undefined: a correlation with a constant image, a ratio 0/0, a fractional power of a
negative number. :func:`score_triplet` never raises for such images: each metric gives its number, or NaN with a
one-line reason; ``semfuse evaluate`` writes the reasons to ``notes.csv`` (:func:`notes_csv`). Infinite values
(PSNR of identical images) are numbers and are kept.
"""

import csv
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

from semfuse.metrics import evaluate_triplet

Notes = Mapping[str, Mapping[str, Mapping[str, str]]]  # method -> image -> metric -> reason

_CORRELATIONS = ("CC", "SCD")


def _constant(image: np.ndarray) -> bool:
    return bool(image.min() == image.max())


def explain_nan(name: str, fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> str:
    """Why metric ``name`` is NaN for this triplet, in one line (the images are (H, W) arrays of any dtype)."""
    images = {"fused": fused, "infrared": ir, "visible": vis}
    constant = [what for what, image in images.items() if _constant(image)]
    if name == "MS-SSIM":
        return ("a scale's contrast-structure term is negative and has no real fractional power "
                "(MATLAB's result is complex)")
    if name == "Qabf" and _constant(ir) and _constant(vis):
        return "neither source has an edge, so the edge-strength weights sum to zero (0/0)"
    if name == "SCD" and not constant:
        return "fused minus a source is constant (the fused image equals a source): its correlation is undefined"
    if constant:
        which = constant[0] if len(constant) == 1 else ", ".join(constant[:-1]) + " and " + constant[-1]
        images_are = "images are" if len(constant) > 1 else "image is"
        cause = "correlation with a constant image is undefined" if name in _CORRELATIONS else "a ratio is 0/0"
        return f"the {which} {images_are} constant: {cause}"
    return "undefined for these images (a ratio 0/0 inside the metric)"


def score_triplet(
    fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, names: Sequence[str]
) -> tuple[dict[str, float], dict[str, str]]:
    """Score one triplet with metrics ``names``: ``({metric: value}, {metric: reason})``, a reason per NaN value.

    A metric that refuses the images (e.g. too small for its window) is NaN with its error message as the reason;
    the other metrics are still scored.

    Args:
        fused: (H, W) fused image, 0-255 (uint8 or float).
        ir: (H, W) infrared image.
        vis: (H, W) visible image.
        names: metric names of :data:`semfuse.metrics.FUSION_METRICS`.
    """
    reasons: dict[str, str] = {}
    try:
        values = dict(evaluate_triplet(fused, ir, vis, names=tuple(names)))
    except ValueError:  # one metric refused the images: score them one by one
        values = {}
        for name in names:
            try:
                values.update(evaluate_triplet(fused, ir, vis, names=(name,)))
            except ValueError as error:
                values[name], reasons[name] = math.nan, str(error)
    for name, value in values.items():
        if math.isnan(value) and name not in reasons:
            reasons[name] = explain_nan(name, fused, ir, vis)
    return {name: values[name] for name in names}, reasons


def notes_csv(notes: Notes) -> str:
    """CSV text ``method,image,metric,reason``: one row per NaN score (header only when there is none).

    Example:
        >>> print(notes_csv({"avg": {"01": {"CC": "the visible image is constant"}}}), end="")
        method,image,metric,reason
        avg,01,CC,the visible image is constant
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "image", "metric", "reason"])
    for method, images in notes.items():
        for image, reasons in images.items():
            writer.writerows([method, image, metric, reason] for metric, reason in reasons.items())
    return buffer.getvalue()
