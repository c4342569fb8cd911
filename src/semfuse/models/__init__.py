"""The fusion network N_F and its weight files."""

from semfuse.models.fusion_net import FusionNet, FusionNetConfig, build_fusion_net
from semfuse.models.weights import (
    BUNDLED_WEIGHTS,
    load_fusion_net,
    load_network,
    resolve_weights,
    save_network,
)

__all__ = [
    "BUNDLED_WEIGHTS",
    "FusionNet",
    "FusionNetConfig",
    "build_fusion_net",
    "load_fusion_net",
    "load_network",
    "resolve_weights",
    "save_network",
]
