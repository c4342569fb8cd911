"""DenseFuse (Li & Wu, IEEE TIP 2019) as registered methods: the auto-encoder with the addition or l1-norm rule."""

import json

import torch
import torch.nn.functional as F
from torch import Tensor

from semfuse.errors import SemfuseError
from semfuse.methods.registry import FuseFn, register_method
from semfuse.models.densefuse import DenseFuse, DenseFuseConfig

DENSEFUSE_CONFIG_KEY = "semfuse_densefuse"
DENSEFUSE_WEIGHTS = "densefuse.safetensors"  # bundled in semfuse/weights


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


def load_densefuse(weights: str | None = None, device: str = "cpu") -> DenseFuse:
    """The DenseFuse auto-encoder from a ``.safetensors`` file (default: the bundled one)."""
    from importlib import resources
    from pathlib import Path

    from safetensors.torch import load_file

    from semfuse.models.weights import read_metadata

    path = Path(weights) if weights else Path(str(resources.files("semfuse") / "weights" / DENSEFUSE_WEIGHTS))
    if not path.is_file():
        raise SemfuseError(f"DenseFuse weights {path} do not exist; train them with 'semfuse train --phase densefuse'")
    metadata = read_metadata(path)
    if DENSEFUSE_CONFIG_KEY not in metadata:
        raise SemfuseError(f"{path} holds no DenseFuse config; was it written by 'semfuse train --phase densefuse'?")
    model = DenseFuse(DenseFuseConfig(**json.loads(metadata[DENSEFUSE_CONFIG_KEY])))
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval()


def _densefuse(rule, weights: str | None, device: str) -> FuseFn:
    model = load_densefuse(weights, device)

    def fuse(ir: Tensor, vis: Tensor) -> Tensor:
        with torch.inference_mode():
            fused = rule(model.encode(ir.to(device)), model.encode(vis.to(device)))
            return model.decode(fused).clamp(0.0, 1.0).cpu()

    return fuse


@register_method("densefuse-add", "DenseFuse auto-encoder, features fused by addition (bundled weights)",
                 "Li & Wu: DenseFuse, IEEE Transactions on Image Processing 2019")
def densefuse_addition(weights: str | None = None, device: str = "cpu") -> FuseFn:
    return _densefuse(addition_rule, weights, device)


@register_method("densefuse-l1", "DenseFuse auto-encoder, features fused by the l1-norm rule (bundled weights)",
                 "Li & Wu: DenseFuse, IEEE Transactions on Image Processing 2019")
def densefuse_l1(weights: str | None = None, device: str = "cpu") -> FuseFn:
    return _densefuse(l1_norm_rule, weights, device)
