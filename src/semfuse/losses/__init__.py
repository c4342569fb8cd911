"""Training losses of the two phases."""

from semfuse.losses.warm_start import WARM_START_TARGETS, warm_start_loss, warm_start_target

__all__ = ["WARM_START_TARGETS", "warm_start_loss", "warm_start_target"]
