"""Nest-connection decoder (RFN-Nest / UNet++ style) from multi-scale fused features to an image in [0, 1]."""

from typing import cast

import torch
from torch import Tensor, nn

from semfuse.errors import InputError
from semfuse.layers.conv import ConvBlock, FastPathMixin, upsample2x_to


class NestDecoder(FastPathMixin, nn.Module):
    """Dense nested skip paths over S scales; node (s, j) for j >= 1 sees nodes (s, 0..j-1) and up(node (s+1, j-1)).

    Contract: input a list of S features, feature s of shape (B, widths[s], H_s, W_s) with H_s = ceil(H_{s-1} / 2);
    output (B, 1, H_0, W_0) in [0, 1] as ``tanh(conv1x1(node (0, S-1))) / 2 + 0.5``.
    """

    def __init__(self, widths: tuple[int, ...], out_channels: int = 1):
        super().__init__()
        self.depth = len(widths)
        self.blocks = nn.ModuleDict()
        for level in range(1, self.depth):
            for scale in range(self.depth - level):
                in_channels = level * widths[scale] + widths[scale + 1]
                self.blocks[f"{scale}_{level}"] = ConvBlock(in_channels, widths[scale])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, features: list[Tensor]) -> Tensor:
        if len(features) != self.depth:
            raise InputError(f"NestDecoder expects {self.depth} feature maps, got {len(features)}")
        nodes = [[feature] for feature in features]
        for level in range(1, self.depth):
            for scale in range(self.depth - level):
                # nearest x2 up-sampling, cropped to the finer scale's size (ceil pooling made it >= that)
                low, block = nodes[scale + 1][level - 1], cast(ConvBlock, self.blocks[f"{scale}_{level}"])
                if self.fast_path and not torch.is_grad_enabled():  # inference: no up-sampled copy at all
                    nodes[scale].append(block.forward_upsampled(nodes[scale][:level], low))
                    continue
                height, width = features[scale].shape[-2:]
                up = upsample2x_to(low, height, width, fast=self.fast_path)
                nodes[scale].append(block(torch.cat(nodes[scale][:level] + [up], dim=1)))
        return torch.tanh(self.head(nodes[0][-1])) / 2 + 0.5
