"""The semfuse fusion network as a registered method."""

from contextlib import nullcontext

import torch

from semfuse.errors import SemfuseError
from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.tiling import fuse_tiled
from semfuse.models.weights import load_fusion_net
from semfuse.names import PRECISIONS


@register_method(
    "semfuse",
    "the paper's multi-scale attention fusion network with bundled or given weights",
    "Wu, Liu, Liu, Fan, Liu: Breaking Free from Fusion Rule, IEEE Signal Processing Letters 2023",
    takes_weights=True,
)
def semfuse_network(weights: str | None = None, device: str | torch.device = "cpu", tile: int | None = None,
                    precision: str = "fp32") -> FuseFn:
    """``weights``: a bundled name (``warm-start``) or a ``.safetensors`` file; ``device``: where the network runs;
    ``tile``: fuse in tiles of this side (64-pixel halo) with the whole image's attention context, for images too
    large for memory (:mod:`semfuse.models.tiling`; differences from whole-image fusion in benchmarks/README.md);
    None: whole images; ``precision``: ``fp32`` (default, the reference) or ``bf16`` (bfloat16 autocast: 1.5-3x as
    fast on CUDA and on CPUs with AMX, slower on other CPUs; differs from fp32 by up to about 2 grey levels of 255,
    measured in benchmarks/README.md). On the CPU the network runs on its channels-last fast path."""
    if precision not in PRECISIONS:
        raise SemfuseError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    net = load_fusion_net(weights, device)
    device = torch.device(device)
    if device.type == "cpu":
        net.use_channels_last()
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else nullcontext

    def fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast():
            ir, vis = ir.to(device), vis.to(device)
            fused = net(ir, vis) if tile is None else fuse_tiled(net, ir, vis, tile=tile)
            return fused.float().cpu()

    return fuse
