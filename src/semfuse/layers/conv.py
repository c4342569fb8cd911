"""Convolution blocks of the fusion network's encoders and decoder."""

import torch
from torch import Tensor, nn


class DenseBlock(nn.Module):
    """Two conv3x3 + LeakyReLU(0.2) with dense concatenation, then conv1x1 + LeakyReLU(0.1).

    (B, in_channels, H, W) -> (B, out_channels, H, W). Each conv3x3 adds ``growth`` channels
    (default ``out_channels // 2``) to the running concatenation.
    """

    def __init__(self, in_channels: int, out_channels: int, growth: int | None = None):
        super().__init__()
        growth = growth or max(out_channels // 2, 1)
        self.conv1 = nn.Conv2d(in_channels, growth, 3, padding=1, padding_mode="replicate")
        self.conv2 = nn.Conv2d(in_channels + growth, growth, 3, padding=1, padding_mode="replicate")
        self.fuse = nn.Conv2d(in_channels + 2 * growth, out_channels, 1)
        self.act_dense = nn.LeakyReLU(0.2, inplace=True)  # in place on the convolutions' fresh outputs
        self.act_out = nn.LeakyReLU(0.1, inplace=True)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x, self.act_dense(self.conv1(x))], dim=1)
        x = torch.cat([x, self.act_dense(self.conv2(x))], dim=1)
        return self.act_out(self.fuse(x))


class ConvBlock(nn.Module):
    """conv3x3 + LeakyReLU(0.2), twice: (B, in_channels, H, W) -> (B, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
