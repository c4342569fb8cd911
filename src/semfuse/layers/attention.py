"""The attention kinds of the fusion block, chosen by name through :func:`get_attention`.

Every kind maps (B, C, H, W) to (B, C, H, W) and, except ``none``, has the paper's form
``out = x + x * a``: a weight ``a`` computed from the features strengthens them element-wise, and the residual
keeps the detail.

* ``efficient`` (default; the paper): tokens (N = H*W, C) -> Q, K, V by linear layers,
  ``a = Q · Softmax(Kᵀ V)`` per head (Shen et al., "Efficient attention", WACV 2021, as the paper writes it).
  Two choices the paper leaves open are fixed here: the tokens are layer-normalised before Q, K, V, and
  ``Kᵀ V`` is divided by N (a mean over positions, so the softmax does not saturate as images grow) and by
  sqrt(d) (d = C / heads) before the softmax over its last axis.
* ``official``: the variant of the authors' public code (REFERENCE.md): two conv3x3+BN+ReLU pre-convolutions,
  Q, K, V without bias, a channel context ``Softmax(Qᵀ K / sqrt(d))`` per head, ``V · context``, a linear
  projection, LayerNorm and a conv feed-forward give ``a``.
* ``none`` (ablation "w/o SLA"): identity.
* ``channel`` (ablation "CHA"): squeeze-and-excitation (Hu et al., CVPR 2018), ``a`` = sigmoid(MLP(avg-pool(x)))
  per channel, reduction 4.
* ``spatial`` (ablation "SPA"): spatial attention in the manner of SCA-CNN (Chen et al., CVPR 2017),
  ``a`` = sigmoid(conv1x1(tanh(conv1x1(x)))) per pixel.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semfuse.errors import InputError
from semfuse.registry import Registry


def _to_heads(tokens: Tensor, heads: int) -> Tensor:
    batch, count, channels = tokens.shape
    return tokens.view(batch, count, heads, channels // heads).transpose(1, 2)  # (B, heads, N, d)


def _check_heads(channels: int, heads: int) -> None:
    if heads < 1 or channels % heads:
        raise InputError(f"attention needs channels divisible by heads; got {channels} channels and {heads} heads")


class EfficientSelfAttention(nn.Module):
    """The paper's self-attention: ``x + x * (Q · Softmax(Kᵀ V / (N sqrt(d))))`` over (N, C) tokens.

    Computed without moving the heads around: Q, K, V come from one matrix product with the three weights stacked,
    the per-head (d, d) contexts are placed on the diagonal of one (C, C) matrix, and ``Q`` times that matrix gives
    every head's weights in token order at once. On a channels-last input the tokens and the weights are views of
    the feature map, so the block copies nothing but its LayerNorm and its output.
    """

    def __init__(self, channels: int, heads: int):
        super().__init__()
        _check_heads(channels, heads)
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.query = nn.Linear(channels, channels, bias=False)
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V of the layer-normalised tokens of x (B, C, H, W): three (B, N, C) views of one product."""
        batch, channels, height, width = x.shape
        tokens = self.norm(x.permute(0, 2, 3, 1).reshape(batch, height * width, channels))  # (B, N, C)
        stacked = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3C, C)
        return F.linear(tokens, stacked).split(channels, dim=-1)

    def context_sum(self, x: Tensor, rows: slice = slice(None), columns: slice = slice(None)) -> Tensor:
        """``Kᵀ V`` per head summed over the positions ``x[..., rows, columns]`` (Q, K, V computed on all of x):
        (B, heads, d, d). Sums over disjoint parts of an image add up to the whole image's (see tiling)."""
        batch, channels, height, width = x.shape
        _, k, v = self._project(x)
        k, v = (t.reshape(batch, height, width, channels)[:, rows, columns] for t in (k, v))  # (B, h, w, C)
        k = k.reshape(batch, -1, self.heads, channels // self.heads).permute(0, 2, 3, 1)  # (B, heads, d, n)
        v = v.reshape(batch, -1, self.heads, channels // self.heads).transpose(1, 2)  # (B, heads, n, d)
        return k @ v

    def mixing(self, context_sum: Tensor, count: int) -> Tensor:
        """The block-diagonal (B, C, C) matrix of the heads' ``Softmax(Kᵀ V / (N sqrt(d)))``, N = ``count``."""
        batch, heads, depth, _ = context_sum.shape
        context = (context_sum / (count * depth**0.5)).softmax(dim=-1)  # (B, heads, d, d)
        diagonal = torch.eye(heads, dtype=context.dtype, device=context.device).view(1, heads, 1, heads, 1)
        return (context.unsqueeze(3) * diagonal).reshape(batch, heads * depth, heads * depth)

    def gate(self, x: Tensor, mixing: Tensor | None = None, scale: float = 1.0) -> Tensor:
        """``scale * (1 + weight)`` as (B, N, C) tokens, so that ``x * gate`` (token view) is ``scale * forward(x)``.

        The fast path's form of the same function, with fewer passes over the image: ``Kᵀ V = W_k (Tᵀ T) W_vᵀ``
        from the tokens' (C, C) Gram matrix, and ``Q · mixing = T · (W_qᵀ · mixing)`` (T: the layer-normalised
        tokens), so neither Q, K nor V is ever formed.
        """
        batch, channels, height, width = x.shape
        tokens = self.norm(x.permute(0, 2, 3, 1).reshape(batch, height * width, channels))  # (B, N, C)
        if mixing is None:
            heads, depth = self.heads, channels // self.heads
            gram = tokens.transpose(1, 2) @ tokens  # (B, C, C)
            full = self.key.weight @ gram @ self.value.weight.T  # (B, C, C); each head's Kᵀ V on the diagonal
            blocks = full.view(batch, heads, depth, heads, depth).diagonal(dim1=1, dim2=3)  # (B, d, d, heads)
            mixing = self.mixing(blocks.permute(0, 3, 1, 2), height * width)
        mapping = self.query.weight.T @ mixing  # (B, C, C)
        return torch.matmul(tokens, mapping * scale).add_(scale)  # faster than baddbmm, which first copies the 1s

    def forward(self, x: Tensor, mixing: Tensor | None = None) -> Tensor:
        """``x + x * weight``; ``mixing`` (from :meth:`mixing`) replaces x's own context, e.g. a whole image's
        context for one tile of it."""
        batch, channels, height, width = x.shape
        heads, depth, count = self.heads, channels // self.heads, height * width
        q, k, v = self._project(x)
        if mixing is None:
            k = k.reshape(batch, count, heads, depth).permute(0, 2, 3, 1)  # (B, heads, d, N)
            v = v.reshape(batch, count, heads, depth).transpose(1, 2)  # (B, heads, N, d)
            mixing = self.mixing(k @ v, count)
        weight = (q @ mixing).view(batch, height, width, channels).permute(0, 3, 1, 2)  # (B, C, H, W)
        return torch.addcmul(x, x, weight)


class OfficialSelfAttention(nn.Module):
    """The authors' code variant: pre-convs, channel context ``Softmax(Qᵀ K / sqrt(d))``, ``V · context``."""

    def __init__(self, channels: int, heads: int, expansion: int = 2):
        super().__init__()
        _check_heads(channels, heads)
        self.heads = heads
        self.pre = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.query = nn.Linear(channels, channels, bias=False)
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.project = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)
        self.feed_forward = nn.Sequential(
            nn.Conv2d(channels, channels * expansion, 1),
            nn.GELU(),
            nn.Conv2d(channels * expansion, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        _, channels, height, width = x.shape
        tokens = self.pre(x).flatten(2).transpose(1, 2)  # (B, N, C)
        q, k, v = (_to_heads(layer(tokens), self.heads) for layer in (self.query, self.key, self.value))
        depth = channels // self.heads
        context = (q.transpose(-2, -1) @ k * depth**-0.5).softmax(dim=-1)  # (B, heads, d, d)
        attended = (v @ context).transpose(1, 2).reshape(tokens.shape)  # (B, N, C)
        attended = self.norm(self.project(attended))
        weight = self.feed_forward(attended.transpose(1, 2).reshape(x.shape))  # (B, C, H, W)
        return x + x * weight


class SqueezeExcitation(nn.Module):
    """Channel attention: ``x + x * sigmoid(W2 relu(W1 avgpool(x))))``."""

    def __init__(self, channels: int, heads: int = 1, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + x * self.gate(x)


class SpatialAttention(nn.Module):
    """Spatial attention: ``x + x * sigmoid(conv1x1(tanh(conv1x1(x))))``, one weight per pixel."""

    def __init__(self, channels: int, heads: int = 1, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.Tanh(),
            nn.Conv2d(hidden, 1, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + x * self.gate(x)


class NoAttention(nn.Module):
    """Identity (the "w/o SLA" ablation)."""

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


ATTENTION_KINDS = Registry[Callable[..., nn.Module]]("attention kind")
ATTENTION_KINDS.register("efficient", EfficientSelfAttention)
ATTENTION_KINDS.register("official", OfficialSelfAttention)
ATTENTION_KINDS.register("none", NoAttention)
ATTENTION_KINDS.register("channel", SqueezeExcitation)
ATTENTION_KINDS.register("spatial", SpatialAttention)


def get_attention(name: str, channels: int, heads: int) -> nn.Module:
    """Build the attention module ``name`` (one of :data:`ATTENTION_KINDS`) for ``channels`` and ``heads``.

    Raises:
        UnknownNameError: naming the kinds, for an unknown ``name``.
    """
    return ATTENTION_KINDS[name](channels, heads)
