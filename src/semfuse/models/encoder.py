"""One modality's multi-scale encoder."""

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semfuse.layers.conv import DenseBlock, FastPathMixin, _fused_activation_available


class Encoder(FastPathMixin, nn.Module):
    """conv1x1 stem, then one dense block per scale with 2x2 max-pooling between scales.

    Contract: input (B, in_channels, H, W), any H and W; output a list of ``len(widths)`` features, feature s of
    shape (B, widths[s], ceil(H / 2^s), ceil(W / 2^s)) (output strides 1, 2, 4, 8 for four scales). Pooling uses
    ``ceil_mode`` so odd sizes lose no row or column.
    """

    def __init__(self, widths: tuple[int, ...], stem_channels: int = 16, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 1), nn.LeakyReLU(0.2))
        channels = (stem_channels, *widths)
        self.blocks = nn.ModuleList(DenseBlock(channels[i], channels[i + 1]) for i in range(len(widths)))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.out_channels = tuple(widths)
        self.strides = tuple(2**s for s in range(len(widths)))

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        if self.fast_path and x.shape[1] == 1 and _fused_activation_available(x):  # float32 CPU inference
            x = self._stem_broadcast(x)
        else:
            x = self.stem(x)
            if self.fast_path:  # a one-channel input leaves the stem's output layout to oneDNN, which picks NCHW
                x = x.contiguous(memory_format=torch.channels_last)
        for scale, block in enumerate(self.blocks):
            if scale:
                x = self.pool(x)
            x = block(x)
            features.append(x)
        return features

    def _stem_broadcast(self, x: Tensor) -> Tensor:
        """The stem for inference on a one-channel image: ``bias + x * weight`` broadcast straight into the
        channels-last layout, then the activation in place; one pass, where oneDNN's 1x1 convolution of a single
        channel is five times as slow and leaves NCHW behind to be converted."""
        conv, activation = cast(nn.Conv2d, self.stem[0]), cast(nn.LeakyReLU, self.stem[1])
        batch, _, height, width = x.shape
        pixels = x.reshape(batch, height, width, 1)
        weight = conv.weight.view(-1)
        out = torch.addcmul(conv.bias, pixels, weight) if conv.bias is not None else pixels * weight
        return F.leaky_relu_(out, activation.negative_slope).permute(0, 3, 1, 2)  # (B, C, H, W), channels-last
