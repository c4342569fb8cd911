"""DenseFuse (Li & Wu, IEEE TIP 2019) as registered methods: the auto-encoder with the addition or l1-norm rule.

The auto-encoder is :class:`semfuse.models.densefuse.DenseFuse`; its weights are saved and loaded by
:mod:`semfuse.models.weights` (default: the bundled ``densefuse.safetensors``, see ``semfuse/weights/densefuse.md``).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.weights import load_densefuse

FeatureRule = Callable[[Tensor, Tensor], Tensor]
REFERENCE = "Li & Wu: DenseFuse, IEEE Transactions on Image Processing 2019"


def addition_rule(features_ir: Tensor, features_vis: Tensor) -> Tensor:
    """``f = φ_ir + φ_vis`` (DenseFuse's addition strategy); features (B, C, H, W)."""
    return features_ir + features_vis


def l1_norm_rule(features_ir: Tensor, features_vis: Tensor, radius: int = 1, eps: float = 1e-8) -> Tensor:
    """DenseFuse's l1-norm strategy: activity ``C = Σ_c |φ|``, averaged over a (2r+1)² window (r = 1), gives
    weights ``w_k = Ĉ_k / (Ĉ_ir + Ĉ_vis)`` and ``f = w_ir φ_ir + w_vis φ_vis``; features (B, C, H, W)."""
    activity = torch.cat([features_ir.abs().sum(1, keepdim=True), features_vis.abs().sum(1, keepdim=True)], dim=1)
    activity = F.avg_pool2d(F.pad(activity, [radius] * 4, mode="replicate"), 2 * radius + 1, stride=1)  # (B, 2, H, W)
    weights = activity / (activity.sum(dim=1, keepdim=True) + eps)
    return weights[:, :1] * features_ir + weights[:, 1:] * features_vis


def densefuse_method(rule: FeatureRule, weights: str | None = None, device: str | torch.device = "cpu") -> FuseFn:
    """Encode both sources with the auto-encoder on ``device``, fuse the features by ``rule``, decode (CPU out)."""
    model = load_densefuse(weights, device)

    def fuse(ir: Tensor, vis: Tensor) -> Tensor:
        with torch.inference_mode():
            fused = rule(model.encode(ir.to(device)), model.encode(vis.to(device)))
            return model.decode(fused).clamp(0.0, 1.0).cpu()

    return fuse


@register_method("densefuse-add", "DenseFuse auto-encoder, features fused by addition (bundled or given weights)",
                 REFERENCE, takes_weights=True)
def densefuse_addition(weights: str | None = None, device: str | torch.device = "cpu") -> FuseFn:
    """DenseFuse with the addition rule; ``weights``: a ``.safetensors`` file (default: bundled)."""
    return densefuse_method(addition_rule, weights, device)


@register_method("densefuse-l1",
                 "DenseFuse auto-encoder, features fused by the l1-norm rule (bundled or given weights)",
                 REFERENCE, takes_weights=True)
def densefuse_l1(weights: str | None = None, device: str | torch.device = "cpu") -> FuseFn:
    """DenseFuse with the l1-norm rule; ``weights``: a ``.safetensors`` file (default: bundled)."""
    return densefuse_method(l1_norm_rule, weights, device)
