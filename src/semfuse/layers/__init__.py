"""Reusable blocks: convolution blocks and the attention kinds behind one factory."""

from semfuse.layers.attention import ATTENTION_KINDS, get_attention
from semfuse.layers.conv import ConvBlock, DenseBlock

__all__ = ["ATTENTION_KINDS", "ConvBlock", "DenseBlock", "get_attention"]
