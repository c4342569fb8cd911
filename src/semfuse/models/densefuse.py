"""DenseFuse (Li & Wu, IEEE TIP 2019): a dense-block auto-encoder whose features are fused by a fixed rule.

Encoder: conv3x3 1→16 + ReLU, then a dense block of three conv3x3 (16 channels each, ReLU) whose inputs are the
concatenation of all earlier outputs; the 64-channel concatenation [C1, D1, D2, D3] is the feature.
Decoder: conv3x3 64→64→32→16 (ReLU) → 1. Trained to reconstruct single grey images; at fusion time the two sources
are encoded, their features fused by a rule (:mod:`semfuse.methods.densefuse`) and decoded.
"""

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


@dataclass
class DenseFuseConfig:
    """Widths of the DenseFuse auto-encoder (the paper's defaults)."""

    stem_channels: int = 16  # C1 output and each dense layer's growth
    dense_layers: int = 3  # conv layers in the dense block

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(in_channels: int, out_channels: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect")]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class DenseFuseEncoder(nn.Module):
    """(B, 1, H, W) -> (B, stem * (1 + layers), H, W) (64 channels with the defaults)."""

    def __init__(self, config: DenseFuseConfig):
        super().__init__()
        growth = config.stem_channels
        self.stem = _conv(1, growth)
        self.dense = nn.ModuleList(_conv(growth * (i + 1), growth) for i in range(config.dense_layers))
        self.out_channels = growth * (1 + config.dense_layers)

    def forward(self, x: Tensor) -> Tensor:
        features = self.stem(x)
        for layer in self.dense:
            features = torch.cat([features, layer(features)], dim=1)
        return features


class DenseFuseDecoder(nn.Module):
    """(B, C, H, W) -> (B, 1, H, W): conv3x3 C→C→C/2→C/4 with ReLU, then →1 (linear)."""

    def __init__(self, in_channels: int):
        super().__init__()
        widths = [in_channels, in_channels, in_channels // 2, in_channels // 4]
        self.body = nn.Sequential(*(_conv(a, b) for a, b in zip(widths[:-1], widths[1:])), _conv(widths[-1], 1, False))

    def forward(self, features: Tensor) -> Tensor:
        return self.body(features)


class DenseFuse(nn.Module):
    """The auto-encoder; ``forward(x)`` reconstructs x (training), ``encode``/``decode`` serve fusion."""

    def __init__(self, config: DenseFuseConfig | None = None):
        super().__init__()
        self.config = config or DenseFuseConfig()
        self.encoder = DenseFuseEncoder(self.config)
        self.decoder = DenseFuseDecoder(self.encoder.out_channels)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, features: Tensor) -> Tensor:
        return self.decoder(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
