"""The fusion network N_F and its weight files."""

from semfuse.models.fusion_net import FusionNet, FusionNetConfig, build_fusion_net
from semfuse.models.weights import (
    BUNDLED_WEIGHTS,
    load_fusion_net,
    resolve_weights,
    save_fusion_net,
)

__all__ = [
    "BUNDLED_WEIGHTS",
    "FusionNet",
    "FusionNetConfig",
    "build_fusion_net",
    "load_fusion_net",
    "resolve_weights",
    "save_fusion_net",
]
