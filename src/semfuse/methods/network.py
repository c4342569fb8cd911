"""The semfuse fusion network as a registered method."""

import torch

from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.weights import load_fusion_net


@register_method(
    "semfuse",
    "the paper's multi-scale attention fusion network with bundled or given weights",
    "Wu, Liu, Liu, Fan, Liu: Breaking Free from Fusion Rule, IEEE Signal Processing Letters 2023",
    takes_weights=True,
)
def semfuse_network(weights: str | None = None, device: str | torch.device = "cpu") -> FuseFn:
    """``weights``: a bundled name (``warm-start``) or a ``.safetensors`` file; ``device``: where the network runs."""
    net = load_fusion_net(weights, device)

    def fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(ir.to(device), vis.to(device)).cpu()

    return fuse
