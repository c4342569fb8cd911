"""The semfuse fusion network as a registered method."""

import torch

from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.tiling import fuse_tiled
from semfuse.models.weights import load_fusion_net


@register_method(
    "semfuse",
    "the paper's multi-scale attention fusion network with bundled or given weights",
    "Wu, Liu, Liu, Fan, Liu: Breaking Free from Fusion Rule, IEEE Signal Processing Letters 2023",
    takes_weights=True,
)
def semfuse_network(weights: str | None = None, device: str | torch.device = "cpu", tile: int | None = None) -> FuseFn:
    """``weights``: a bundled name (``warm-start``) or a ``.safetensors`` file; ``device``: where the network runs;
    ``tile``: fuse in tiles of this side (64-pixel halo) with the whole image's attention context, for images too
    large for memory (:mod:`semfuse.models.tiling`; differences from whole-image fusion in benchmarks/README.md);
    None: whole images. On the CPU the network runs on its channels-last fast path."""
    net = load_fusion_net(weights, device)
    if torch.device(device).type == "cpu":
        net.use_channels_last()

    def fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            ir, vis = ir.to(device), vis.to(device)
            return (net(ir, vis) if tile is None else fuse_tiled(net, ir, vis, tile=tile)).cpu()

    return fuse
