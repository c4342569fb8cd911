"""The fusion block of one scale: one attention module per modality, outputs averaged."""

import torch
from torch import Tensor, nn

from semfuse.layers.attention import EfficientSelfAttention
from semfuse.layers.conv import FastPathMixin


def _tokens(x: Tensor) -> Tensor:
    batch, channels, height, width = x.shape
    return x.permute(0, 2, 3, 1).reshape(batch, height * width, channels)


class FusionBlock(FastPathMixin, nn.Module):
    """``(attend_ir(x_ir) + attend_vis(x_vis)) / 2`` for features of shape (B, C, H, W).

    ``mixings`` (tiled inference): a whole image's attention contexts for the two modules, passed on to attention
    kinds that take one (``efficient``); None computes each from its own input.

    On the fast path (``fast_path``, efficient attention) the block is computed as
    ``x_ir * gate_ir / 2 + x_vis * gate_vis / 2`` from the modules' :meth:`EfficientSelfAttention.gate`, with the
    halving folded into the gates: three passes over the features instead of seven.
    """

    def __init__(self, attend_ir: nn.Module, attend_vis: nn.Module):
        super().__init__()
        self.attend_ir = attend_ir
        self.attend_vis = attend_vis

    def forward(self, ir: Tensor, vis: Tensor, mixings: tuple[Tensor, Tensor] | None = None) -> Tensor:
        if self.fast_path and isinstance(self.attend_ir, EfficientSelfAttention) and isinstance(
                self.attend_vis, EfficientSelfAttention):
            mixing_ir, mixing_vis = mixings or (None, None)
            gate_ir = self.attend_ir.gate(ir, mixing_ir, 0.5)
            gate_vis = self.attend_vis.gate(vis, mixing_vis, 0.5)
            fused = torch.addcmul(_tokens(ir) * gate_ir, _tokens(vis), gate_vis)  # (B, N, C)
            batch, channels, height, width = ir.shape
            return fused.view(batch, height, width, channels).permute(0, 3, 1, 2)
        if mixings is None:
            return (self.attend_ir(ir) + self.attend_vis(vis)) / 2
        return (self.attend_ir(ir, mixings[0]) + self.attend_vis(vis, mixings[1])) / 2
