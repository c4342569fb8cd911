"""The fusion block of one scale: one attention module per modality, outputs averaged."""

from torch import Tensor, nn


class FusionBlock(nn.Module):
    """``(attend_ir(x_ir) + attend_vis(x_vis)) / 2`` for features of shape (B, C, H, W)."""

    def __init__(self, attend_ir: nn.Module, attend_vis: nn.Module):
        super().__init__()
        self.attend_ir = attend_ir
        self.attend_vis = attend_vis

    def forward(self, ir: Tensor, vis: Tensor) -> Tensor:
        return (self.attend_ir(ir) + self.attend_vis(vis)) / 2
