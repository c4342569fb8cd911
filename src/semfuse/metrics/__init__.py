"""Fusion quality metrics as pure, batched tensor functions that agree with the MATLAB code fusion papers use.

Every metric takes (B, 1, H, W) tensors on the 0-255 scale (uint8 or float, CPU or CUDA) and returns a (B,) float64
tensor. ``FUSION_METRICS`` maps the table names (the default ``PANEL``: EN, SD, SF, AG, MI, SCD, VIF, Qabf, Nabf, SSIM,
MS-SSIM, CC, PSNR, MSE; and the slower FMI_pixel, FMI_dct) to the functions and their direction;
:func:`evaluate_triplet` scores one image triplet and :func:`evaluate_metrics` a batch, sharing work between metrics
(``SHARED_METRICS``). Definitions, reference code and agreement are in docs/metrics.md.
"""

from semfuse.metrics.correlation import (
    correlation_coefficient,
    pearson_correlation,
    sum_of_correlations_of_differences,
)
from semfuse.metrics.error import mean_squared_error, peak_signal_to_noise_ratio
from semfuse.metrics.fmi import dct2, feature_mutual_information, fmi_dct, fmi_pixel
from semfuse.metrics.gradient import nabf, qabf, qabf_and_nabf
from semfuse.metrics.information import mutual_information, mutual_information_pair
from semfuse.metrics.registry import (
    FUSION_METRICS,
    PANEL,
    SHARED_METRICS,
    FusionMetric,
    evaluate_metrics,
    evaluate_triplet,
    resolve_metric_names,
)
from semfuse.metrics.statistics import (
    average_gradient,
    entropy,
    spatial_frequency,
    standard_deviation,
)
from semfuse.metrics.structural import (
    mef_ssim_scales,
    ms_ssim,
    ssim_and_ms_ssim,
    ssim_wang,
    structural_similarity,
)
from semfuse.metrics.vif import vif_pixel, visual_information_fidelity

__all__ = [
    "FUSION_METRICS",
    "PANEL",
    "SHARED_METRICS",
    "FusionMetric",
    "average_gradient",
    "correlation_coefficient",
    "dct2",
    "entropy",
    "evaluate_metrics",
    "evaluate_triplet",
    "feature_mutual_information",
    "fmi_dct",
    "fmi_pixel",
    "mean_squared_error",
    "mef_ssim_scales",
    "ms_ssim",
    "mutual_information",
    "mutual_information_pair",
    "nabf",
    "peak_signal_to_noise_ratio",
    "pearson_correlation",
    "qabf",
    "qabf_and_nabf",
    "resolve_metric_names",
    "spatial_frequency",
    "ssim_and_ms_ssim",
    "ssim_wang",
    "standard_deviation",
    "structural_similarity",
    "sum_of_correlations_of_differences",
    "vif_pixel",
    "visual_information_fidelity",
]
