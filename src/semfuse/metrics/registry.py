"""The fusion metric panel by name: ``FUSION_METRICS`` and :func:`evaluate_triplet`.

The default panel, in the order of the field's tables: EN, SD, SF, AG, MI, SCD, VIF, Qabf, Nabf, SSIM, MS-SSIM, CC,
PSNR, MSE. FMI_pixel and FMI_dct are registered too but left out of the default panel: they take seconds per image.
Both lists are also in :mod:`semfuse.names` (for the command line, without torch). Every metric takes images on the
0-255 scale.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from semfuse.checks import check_tensors
from semfuse.errors import InputError, InputTypeError
from semfuse.metrics.correlation import (
    correlation_coefficient,
    sum_of_correlations_of_differences,
)
from semfuse.metrics.error import (
    mean_squared_error,
    peak_signal_to_noise_ratio,
    psnr_and_mse,
)
from semfuse.metrics.fmi import fmi_dct, fmi_pixel
from semfuse.metrics.gradient import nabf, qabf, qabf_and_nabf
from semfuse.metrics.information import mutual_information
from semfuse.metrics.statistics import (
    average_gradient,
    entropy,
    spatial_frequency,
    standard_deviation,
)
from semfuse.metrics.structural import ms_ssim, ssim_and_ms_ssim, structural_similarity
from semfuse.metrics.vif import visual_information_fidelity
from semfuse.registry import Registry, UnknownNameError


@dataclass(frozen=True)
class FusionMetric:
    """One registered metric.

    Attributes:
        name: the name used in tables and on the command line.
        function: ``function(fused)`` if ``uses_sources`` is False, else ``function(fused, ir, vis)``; tensors of
            shape (B, 1, H, W) on the 0-255 scale in, (B,) float64 out.
        higher_is_better: the direction of improvement.
        uses_sources: whether the metric compares with the infrared and visible images.
        description: a few words for tables and ``--help``.
        in_panel: whether the default selection (``names=None``) includes it.
        grey_levels: whether it reads integer grey levels (a histogram): :func:`evaluate_metrics` then hands it
            the images as they came (uint8 is its fast path) rather than the float64 copy the others share.
    """

    name: str
    function: Callable[..., Tensor]
    higher_is_better: bool
    uses_sources: bool
    description: str
    in_panel: bool = True
    grey_levels: bool = False

    def __call__(self, fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
        """Score a batch: (B, 1, H, W) tensors on the 0-255 scale -> (B,) float64."""
        return self.function(fused, ir, vis) if self.uses_sources else self.function(fused)


FUSION_METRICS = Registry[FusionMetric]("metric")
for _metric in (
    FusionMetric("EN", entropy, True, False, "entropy of the grey levels, bits", grey_levels=True),
    FusionMetric("SD", standard_deviation, True, False, "standard deviation (contrast)"),
    FusionMetric("SF", spatial_frequency, True, False, "spatial frequency"),
    FusionMetric("AG", average_gradient, True, False, "average gradient"),
    FusionMetric(
        "MI", mutual_information, True, True, "mutual information with both sources, bits", grey_levels=True
    ),
    FusionMetric("SCD", sum_of_correlations_of_differences, True, True, "sum of correlations of differences"),
    FusionMetric("VIF", visual_information_fidelity, True, True, "visual information fidelity, sum over sources"),
    FusionMetric("Qabf", qabf, True, True, "edge information transferred from the sources"),
    FusionMetric("Nabf", nabf, False, True, "fusion artifacts (edges no source has)"),
    FusionMetric("SSIM", structural_similarity, True, True, "Wang SSIM, sum over sources"),
    FusionMetric("MS-SSIM", ms_ssim, True, True, "multi-scale MEF-SSIM against both sources"),
    FusionMetric("CC", correlation_coefficient, True, True, "correlation coefficient, mean over sources"),
    FusionMetric("PSNR", peak_signal_to_noise_ratio, True, True, "peak signal-to-noise ratio, dB"),
    FusionMetric("MSE", mean_squared_error, False, True, "mean squared error on the 0-1 scale"),
    FusionMetric("FMI_pixel", fmi_pixel, True, True, "feature mutual information of the pixels", False),
    FusionMetric("FMI_dct", fmi_dct, True, True, "feature mutual information of the DCT coefficients", False),
):
    FUSION_METRICS.register(_metric.name, _metric)
PANEL: tuple[str, ...] = tuple(name for name, metric in FUSION_METRICS.items() if metric.in_panel)
# Metrics that share their heavy intermediate results: when all of a group are asked for, one call computes them
# together (the values are those of the metrics' own functions, up to rounding).
SHARED_METRICS: dict[tuple[str, ...], Callable[[Tensor, Tensor, Tensor], tuple[Tensor, ...]]] = {
    ("SSIM", "MS-SSIM"): ssim_and_ms_ssim,  # the same 11x11 Gaussian moments at full size
    ("PSNR", "MSE"): psnr_and_mse,  # PSNR is a function of the MSE
    ("Qabf", "Nabf"): qabf_and_nabf,  # the same Sobel responses (one pass of the compiled kernel)
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def resolve_metric_names(names: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """Canonical metric names, in the order given; None means the default :data:`PANEL`.

    Matching ignores case and treats '_' as '-' (``ms_ssim`` -> ``MS-SSIM``). A string is split at commas; empty
    entries and repeats are dropped.

    Raises:
        UnknownNameError: for a name that is not registered, or an empty selection.

    Example:
        >>> resolve_metric_names("en,ms_ssim")
        ('EN', 'MS-SSIM')
    """
    if names is None:
        return PANEL
    if isinstance(names, str):
        names = names.split(",")
    canonical = {_normalise(name): name for name in FUSION_METRICS}
    resolved: list[str] = []
    for name in names:
        key = _normalise(name)
        if not key:  # "EN,,SF" or a trailing comma
            continue
        if key not in canonical:
            raise UnknownNameError(f"unknown metric {name.strip()!r}; choose from {', '.join(FUSION_METRICS)}")
        if canonical[key] not in resolved:
            resolved.append(canonical[key])
    if not resolved:
        raise UnknownNameError(f"no metric selected; choose from {', '.join(FUSION_METRICS)}")
    return tuple(resolved)


def evaluate_metrics(
    fused: Tensor, ir: Tensor, vis: Tensor, names: str | Iterable[str] | None = None
) -> dict[str, Tensor]:
    """Score a batch of fused images with the metric panel, sharing work between metrics (see SHARED_METRICS).

    Args:
        fused: tensor of shape (B, 1, H, W) on the 0-255 scale.
        ir: infrared images, same shape.
        vis: visible images, same shape.
        names: metrics to compute (see :func:`resolve_metric_names`); None for the panel.

    Returns:
        Metric name -> (B,) float64 tensor, in the order of ``names``.

    Example:
        >>> x = torch.arange(64 * 64).reshape(1, 1, 64, 64) % 256
        >>> evaluate_metrics(x, x, x, names="SSIM,MS-SSIM")
        {'SSIM': tensor([2.], dtype=torch.float64), 'MS-SSIM': tensor([1.0000], dtype=torch.float64)}
    """
    selected = resolve_metric_names(names)
    as_given = (fused, ir, vis)
    # One float64 copy of the images for all the metrics that compute in float64 (each would convert them).
    as_float = tuple(image.to(torch.float64) if isinstance(image, Tensor) else image for image in as_given)
    values: dict[str, Tensor] = {}
    for group, function in SHARED_METRICS.items():
        if all(name in selected for name in group):
            values.update(zip(group, function(*as_float)))
    for name in selected:
        if name not in values:
            metric = FUSION_METRICS[name]
            values[name] = metric(*(as_given if metric.grey_levels else as_float))
    return {name: values[name] for name in selected}


def _as_batch(name: str, image: np.ndarray | Tensor) -> Tensor:
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.array(image))  # a copy: the caller may reuse or freeze its array
    if not isinstance(image, Tensor):
        raise InputTypeError(f"evaluate_triplet expects {name} as a numpy array or a tensor, "
                             f"got {type(image).__name__}")
    check_tensors("evaluate_triplet", {name: image}, "(H, W)")
    return image.reshape(1, 1, *image.shape)


def evaluate_triplet(
    fused: np.ndarray | Tensor,
    ir: np.ndarray | Tensor,
    vis: np.ndarray | Tensor,
    names: str | Iterable[str] | None = None,
) -> dict[str, float]:
    """Score one fused image against its two sources with the metric panel.

    Args:
        fused: 2-D uint8 numpy array, or an (H, W) tensor / array on the 0-255 scale.
        ir: infrared image, same shape.
        vis: visible image, same shape.
        names: metrics to compute (see :func:`resolve_metric_names`); None for the panel, in the order EN, SD, SF,
            AG, MI, SCD, VIF, Qabf, Nabf, SSIM, MS-SSIM, CC, PSNR, MSE.

    Returns:
        Metric name -> value, in the order of ``names``.

    Example:
        >>> x = np.arange(64 * 64, dtype=np.int64).reshape(64, 64) % 256
        >>> round(evaluate_triplet(x.astype(np.uint8), x, x, names=["EN"])["EN"], 6)
        8.0
    """
    selected = resolve_metric_names(names)
    batches = {key: _as_batch(key, image) for key, image in (("fused", fused), ("ir", ir), ("vis", vis))}
    shapes = {key: tuple(batch.shape[-2:]) for key, batch in batches.items()}
    if len(set(shapes.values())) != 1:
        raise InputError(f"evaluate_triplet expects images of one shape, got {shapes}")
    scores = evaluate_metrics(batches["fused"], batches["ir"], batches["vis"], selected)
    return {name: float(value[0]) for name, value in scores.items()}
