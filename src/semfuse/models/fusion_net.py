"""The paper's fusion network N_F, assembled from parts passed in (see :func:`build_fusion_net`)."""

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from semfuse.errors import InputError
from semfuse.layers.attention import ATTENTION_KINDS, get_attention
from semfuse.layers.conv import FastPathMixin
from semfuse.models.decoder import NestDecoder
from semfuse.models.encoder import Encoder
from semfuse.models.fusion_block import FusionBlock


@dataclass
class FusionNetConfig:
    """Shape of the fusion network. Defaults are the authors' (REFERENCE.md)."""

    widths: list[int] = field(default_factory=lambda: [32, 64, 96, 128])  # encoder channels per scale
    heads: list[int] = field(default_factory=lambda: [4, 8, 8, 16])  # attention heads per scale
    stem_channels: int = 16  # channels of each encoder's conv1x1 stem
    attention: str = "efficient"  # efficient | official | none | channel | spatial

    def validate(self) -> None:
        """Raise InputError (a ValueError) for widths and heads of different lengths or an unknown attention kind."""
        if len(self.widths) != len(self.heads):
            raise InputError(f"widths {self.widths} and heads {self.heads} must have one entry per scale")
        ATTENTION_KINDS.check(self.attention)

    def to_dict(self) -> dict:
        """The config as plain values (stored as JSON in weights files)."""
        return asdict(self)


class FusionNet(nn.Module):
    """Two unshared encoders, one fusion block per scale, one nest decoder.

    ``forward(ir, vis)``: two (B, 1, H, W) luminance tensors in [0, 1], any H and W -> fused (B, 1, H, W) in [0, 1].

    Two execution paths compute the same function: the reference path (the default, PyTorch's usual NCHW layout
    and replicate-padded convolutions as PyTorch defines them) and the fast path of :meth:`use_channels_last`
    (weights and features in channels-last layout, which the CPU's oneDNN convolutions and the attention's token
    view prefer; 3x3 convolutions whose replicate padding is a border correction instead of a padded copy,
    :func:`semfuse.layers.conv.conv3x3_replicate`; an up-sampling with a fast backward). They agree to float
    rounding (about 1e-6), gradients included.
    """

    def __init__(self, encoder_ir: Encoder, encoder_vis: Encoder, fusion_blocks: nn.ModuleList, decoder: NestDecoder,
                 config: FusionNetConfig):
        super().__init__()
        self.config = config  # the description it was built from; saved with its weights
        self.encoder_ir = encoder_ir
        self.encoder_vis = encoder_vis
        self.fusion_blocks = fusion_blocks
        self.decoder = decoder
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> "FusionNet":
        """Switch to the channels-last fast path (or back to the reference layout); returns the network.

        Only the memory layout of the weights changes: the state dict, its names and values stay the same.
        """
        self.channels_last = enabled
        for module in self.modules():
            if isinstance(module, FastPathMixin):
                module.fast_path = enabled
        layout = torch.channels_last if enabled else torch.contiguous_format
        return self.to(memory_format=layout)  # type: ignore[call-overload]  # torch's stubs omit memory_format

    def encode(self, ir: Tensor, vis: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The two encoders' features per scale, (B, C_s, H/2^s, W/2^s) each, for (B, 1, H, W) ``ir`` and ``vis``."""
        if self.channels_last:
            ir, vis = (image.contiguous(memory_format=torch.channels_last) for image in (ir, vis))
        return self.encoder_ir(ir), self.encoder_vis(vis)

    def fuse(self, features_ir: list[Tensor], features_vis: list[Tensor],
             mixings: dict[int, tuple[Tensor, Tensor]] | None = None) -> list[Tensor]:
        """One fused feature map per scale; ``mixings`` (tiled fusion): a whole image's attention contexts per scale."""
        mixings = mixings or {}
        return [block(a, b, mixings.get(scale))
                for scale, (block, a, b) in enumerate(zip(self.fusion_blocks, features_ir, features_vis))]

    def decode(self, fused: list[Tensor]) -> Tensor:
        """The fused image (B, 1, H, W) in [0, 1] from the fused features of every scale."""
        return self.decoder(fused).contiguous()

    def forward(self, ir: Tensor, vis: Tensor) -> Tensor:
        if ir.dim() != 4 or ir.shape[1] != 1 or ir.shape != vis.shape:
            raise InputError(
                f"FusionNet expects ir and vis of one shape (B, 1, H, W); got {tuple(ir.shape)} and {tuple(vis.shape)}"
            )
        return self.decode(self.fuse(*self.encode(ir, vis)))


def build_fusion_net(config: FusionNetConfig | None = None) -> FusionNet:
    """Assemble a :class:`FusionNet` from ``config`` (defaults: the authors' widths, heads, efficient attention)."""
    config = config or FusionNetConfig()
    config.validate()
    widths = tuple(config.widths)

    def attention_pair(scale: int) -> FusionBlock:
        build = lambda: get_attention(config.attention, widths[scale], config.heads[scale])  # noqa: E731
        return FusionBlock(build(), build())

    return FusionNet(
        Encoder(widths, config.stem_channels),
        Encoder(widths, config.stem_channels),
        nn.ModuleList(attention_pair(scale) for scale in range(len(widths))),
        NestDecoder(widths),
        config,
    )
