"""The semfuse fusion network as a registered method."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from semfuse.errors import SemfuseError
from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.tiling import fuse_tiled
from semfuse.models.weights import load_fusion_net
from semfuse.names import PRECISIONS


@contextmanager
def cudnn_autotuning(enabled: bool) -> Iterator[None]:
    """Within the block, cuDNN times its convolution algorithms for each new input shape and keeps the fastest
    (``torch.backends.cudnn.benchmark``) when ``enabled``; the previous setting is restored after it."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


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
    measured in benchmarks/README.md). On the CPU the network runs on its channels-last fast path. On CUDA its
    weights are channels-last (the tensor cores' layout; the same arithmetic), cuDNN convolutions use TF32 in fp32
    (PyTorch's default) and cuDNN autotunes each image size from its second batch on, so a folder of equal sizes
    runs on the fastest algorithms while a folder of all different sizes pays no tuning."""
    if precision not in PRECISIONS:
        raise SemfuseError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    net = load_fusion_net(weights, device)
    device = torch.device(device)
    if device.type == "cpu":
        net.use_channels_last()
    elif device.type == "cuda":
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit memory_format
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else nullcontext
    batches_of_shape: Counter[tuple[int, ...]] = Counter()

    def fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        batches_of_shape[tuple(ir.shape)] += 1
        tuning = cudnn_autotuning(batches_of_shape[tuple(ir.shape)] > 1) if device.type == "cuda" else nullcontext()
        with torch.inference_mode(), autocast(), tuning:
            ir, vis = ir.to(device), vis.to(device)
            fused = net(ir, vis) if tile is None else fuse_tiled(net, ir, vis, tile=tile)
            return fused.float().cpu()

    return fuse
