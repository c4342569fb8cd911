"""The fast path's building blocks against what they replace: replicate-padded convolution, up-sampling, concatenation.

Each is checked in value and in gradient (float64, where the two must agree to rounding) on the awkward sizes: one
pixel, one row, one column, odd sides.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import semfuse.layers.conv as conv_module
from semfuse.layers.attention import EfficientSelfAttention
from semfuse.layers.conv import (
    cat_upsampled,
    conv3x3_replicate,
    conv_padded_leaky_relu,
    conv_upsampled_leaky_relu,
    upsample2x_to,
    upsampling_kernel,
)

SIZES = [(1, 1), (1, 5), (4, 1), (2, 2), (7, 9), (16, 11)]


def _conv(in_channels: int = 3, out_channels: int = 4, bias: bool = True) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="replicate", bias=bias).double()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_border_corrected_convolution_equals_replicate_padding(size, channels_last):
    conv = _conv()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    if channels_last:
        x, conv = x.contiguous(memory_format=torch.channels_last), conv.to(memory_format=torch.channels_last)
    torch.testing.assert_close(conv3x3_replicate(x, conv), conv(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (1, 4), (3, 1), (5, 6)])
@pytest.mark.parametrize("bias", [True, False])
def test_border_corrected_convolution_gradients(size, bias):
    conv = _conv(bias=bias)
    x = torch.randn(1, 3, *size, dtype=torch.float64, requires_grad=True)
    parameters = (conv.weight,) + ((conv.bias,) if bias else ())

    grad = torch.randn(1, 4, *size, dtype=torch.float64)
    fast = torch.autograd.grad(conv3x3_replicate(x, conv), (x, *parameters), grad)
    reference = torch.autograd.grad(conv(x), (x, *parameters), grad)
    for a, b in zip(fast, reference):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: conv3x3_replicate(x, conv), (x,))


def test_border_corrected_convolution_under_bf16_autocast():
    conv = _conv().float()
    x = torch.randn(2, 3, 9, 10, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv3x3_replicate(x, conv)
    out.float().square().sum().backward()
    assert out.dtype == torch.bfloat16
    assert x.grad.dtype == torch.float32 and conv.weight.grad.dtype == torch.float32
    reference = conv(x.detach())
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.1)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 4), (7, 9)])
def test_upsampling_backward_sums_the_copies(size):
    height, width = size
    low = torch.randn(1, 3, (height + 1) // 2, (width + 1) // 2, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(1, 3, height, width, dtype=torch.float64)
    fast = torch.autograd.grad(upsample2x_to(low, height, width, fast=True), low, grad)[0]
    reference = torch.autograd.grad(upsample2x_to(low, height, width), low, grad)[0]
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)
    assert torch.equal(upsample2x_to(low, height, width, fast=True), upsample2x_to(low, height, width))


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 4), (8, 8), (7, 9)])
def test_concatenation_with_upsampling_in_one_tensor(size):
    height, width = size
    parts = [torch.randn(2, channels, height, width) for channels in (3, 5)]
    low = torch.randn(2, 4, (height + 1) // 2, (width + 1) // 2).contiguous(memory_format=torch.channels_last)
    expected = torch.cat(parts + [upsample2x_to(low, height, width)], dim=1)
    joined = cat_upsampled(parts, low)
    assert torch.equal(joined, expected)
    assert joined.is_contiguous(memory_format=torch.channels_last)


def test_upsampling_kernel_is_the_kernel_on_the_upsampled_image():
    """The stride-2 transposed convolution of the padded image is the 3x3 convolution of its padded up-sampling."""
    torch.manual_seed(0)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    low = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    up = F.interpolate(low, scale_factor=2.0, mode="nearest")
    expected = F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), weight)  # (2, 4, 8, 10)
    padded = F.pad(low, (1, 1, 1, 1), mode="replicate")
    got = F.conv_transpose2d(padded, upsampling_kernel(weight), stride=2, padding=3)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (1, 4), (3, 1), (2, 3), (5, 4), (8, 8), (7, 9)])
@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("pad_copy", [True, False])
@pytest.mark.parametrize("padded_output", [False, True])
def test_convolution_of_the_upsampled_concatenation(size, parts, pad_copy, padded_output, monkeypatch):
    """Float64 (the generic path): odd and even sizes, per-part convolutions, both ways of replicate padding, the
    result as it is or replicate-padded for the next convolution."""
    monkeypatch.setattr(conv_module, "_PAD_COPY_LIMIT", 1 << 30 if pad_copy else 0)
    height, width = size
    torch.manual_seed(0)
    pieces = [torch.randn(2, channels, height, width, dtype=torch.float64) for channels in (3, 5, 2)[:parts]]
    low = torch.randn(2, 4, (height + 1) // 2, (width + 1) // 2, dtype=torch.float64)
    conv = _conv(sum(piece.shape[1] for piece in pieces) + 4, 6)
    expected = F.leaky_relu(conv(torch.cat(pieces + [upsample2x_to(low, height, width)], dim=1)), 0.2)
    if padded_output:
        expected = F.pad(expected, (1, 1, 1, 1), mode="replicate")
    with torch.inference_mode():
        out = conv_upsampled_leaky_relu(pieces, low, conv, 0.2, padded_output=padded_output)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 9), (16, 11)])
@pytest.mark.parametrize("pad_copy", [True, False])
def test_convolution_of_the_upsampled_concatenation_on_onednn(size, pad_copy, monkeypatch):
    """Float32 channels-last, as the CPU fast path runs it (oneDNN's in-place sum), against the concatenated form."""
    from semfuse.layers.conv import _fused_activation_available

    monkeypatch.setattr(conv_module, "_PAD_COPY_LIMIT", 1 << 30 if pad_copy else 0)
    height, width = size
    torch.manual_seed(0)
    cl = torch.channels_last
    pieces = [torch.randn(1, 8, height, width).contiguous(memory_format=cl) for _ in range(2)]
    low = torch.randn(1, 16, (height + 1) // 2, (width + 1) // 2).contiguous(memory_format=cl)
    conv = nn.Conv2d(32, 8, 3, padding=1, padding_mode="replicate").to(memory_format=cl)
    second = nn.Conv2d(8, 8, 3, padding=1, padding_mode="replicate").to(memory_format=cl)
    with torch.inference_mode():
        if not _fused_activation_available(low):
            pytest.skip("this PyTorch build has no oneDNN convolution with fused operations")
        expected = F.leaky_relu(conv(torch.cat(pieces + [upsample2x_to(low, height, width)], dim=1)), 0.1)
        out = conv_upsampled_leaky_relu(pieces, low, conv, 0.1)
        padded = conv_upsampled_leaky_relu(pieces, low, conv, 0.1, padded_output=True)
        expected_second = F.leaky_relu(second(expected), 0.2)
        out_second = conv_padded_leaky_relu(padded, second, nn.LeakyReLU(0.2))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded, F.pad(expected, (1, 1, 1, 1), mode="replicate"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_second, expected_second, rtol=1e-5, atol=1e-5)
    assert out.is_contiguous(memory_format=cl) and out_second.is_contiguous(memory_format=cl)


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("channels_last", [False, True])
def test_attention_gate_is_the_forward_in_other_terms(scale, channels_last):
    torch.manual_seed(0)
    module = EfficientSelfAttention(16, 4).double()
    x = torch.randn(2, 16, 7, 9, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    tokens = x.permute(0, 2, 3, 1).reshape(2, 63, 16)
    gated = (tokens * module.gate(x, scale=scale)).view(2, 7, 9, 16).permute(0, 3, 1, 2)
    torch.testing.assert_close(gated, scale * module(x), rtol=1e-12, atol=1e-12)
    mixing = module.mixing(module.context_sum(x[..., :4, :]), 4 * 9)  # another image's context (as in tiling)
    gated = (tokens * module.gate(x, mixing)).view(2, 7, 9, 16).permute(0, 3, 1, 2)
    torch.testing.assert_close(gated, module(x, mixing), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kernel", [3, 1])
@pytest.mark.parametrize("pad_copy", [True, False])
def test_convolution_with_fused_activation_equals_the_unfused_form(size, kernel, pad_copy, monkeypatch):
    """Both ways of replicate padding: a padded copy (small inputs) and border corrections (large ones)."""
    from semfuse.layers.conv import _fused_activation_available, conv_leaky_relu

    monkeypatch.setattr(conv_module, "_PAD_COPY_LIMIT", 1 << 30 if pad_copy else 0)
    torch.manual_seed(0)
    padding = {"padding": 1, "padding_mode": "replicate"} if kernel == 3 else {}
    conv = nn.Conv2d(5, 6, kernel, **padding).to(memory_format=torch.channels_last)
    x = torch.randn(2, 5, *size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if not _fused_activation_available(x):
            pytest.skip("this PyTorch build has no oneDNN convolution with a fused activation")
        expected = F.leaky_relu(conv(x), 0.2)
        torch.testing.assert_close(conv_leaky_relu(x, conv, 0.2), expected, rtol=1e-5, atol=1e-6)
    assert not _fused_activation_available(x.requires_grad_())  # training keeps the autograd path
