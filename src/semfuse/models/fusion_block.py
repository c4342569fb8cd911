"""The fusion block of one scale: one attention module per modality, outputs averaged."""

from torch import Tensor, nn


class FusionBlock(nn.Module):
    """``(attend_ir(x_ir) + attend_vis(x_vis)) / 2`` for features of shape (B, C, H, W).

    ``mixings`` (tiled inference): a whole image's attention contexts for the two modules, passed on to attention
    kinds that take one (``efficient``); None computes each from its own input.
    """

    def __init__(self, attend_ir: nn.Module, attend_vis: nn.Module):
        super().__init__()
        self.attend_ir = attend_ir
        self.attend_vis = attend_vis

    def forward(self, ir: Tensor, vis: Tensor, mixings: tuple[Tensor, Tensor] | None = None) -> Tensor:
        if mixings is None:
            return (self.attend_ir(ir) + self.attend_vis(vis)) / 2
        return (self.attend_ir(ir, mixings[0]) + self.attend_vis(vis, mixings[1])) / 2
