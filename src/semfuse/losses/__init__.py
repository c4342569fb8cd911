"""Training losses of the two phases."""

from semfuse.losses.correlation import (
    CORRELATION_MODES,
    correlation_regulariser,
    pearson_correlation,
)
from semfuse.losses.semantic import IGNORE_INDEX, exclude_classes, semantic_loss
from semfuse.losses.warm_start import (
    WARM_START_TARGETS,
    warm_start_loss,
    warm_start_target,
)

__all__ = [
    "CORRELATION_MODES",
    "IGNORE_INDEX",
    "WARM_START_TARGETS",
    "correlation_regulariser",
    "exclude_classes",
    "pearson_correlation",
    "semantic_loss",
    "warm_start_loss",
    "warm_start_target",
]
