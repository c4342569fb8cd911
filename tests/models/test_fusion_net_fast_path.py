"""The fusion network's fast path against its reference path, and the attention against its textbook form.

* The efficient attention computes its heads through one block-diagonal matrix; ``reference_efficient_attention``
  below is the per-head formulation it replaced, written out step by step.
* The channels-last fast path (:meth:`FusionNet.use_channels_last`) must give the reference (NCHW) path's output on
  every bundled sample pair, far inside the 1/255 that a saved 8-bit image can show.
"""

import pytest
import torch

from semfuse.export import bundled_sample_pairs
from semfuse.layers.attention import EfficientSelfAttention
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.weights import load_fusion_net

TINY = FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


def reference_efficient_attention(module: EfficientSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """``x + x * (Q Softmax(Kᵀ V / (N sqrt(d))))`` head by head, with explicit reshapes."""
    batch, channels, height, width = x.shape
    heads, depth, count = module.heads, channels // module.heads, height * width
    tokens = module.norm(x.flatten(2).transpose(1, 2))  # (B, N, C)

    def to_heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, count, heads, depth).transpose(1, 2)  # (B, heads, N, d)

    q, k, v = to_heads(module.query(tokens)), to_heads(module.key(tokens)), to_heads(module.value(tokens))
    context = (k.transpose(-2, -1) @ v) / (count * depth**0.5)  # (B, heads, d, d)
    attended = (q @ context.softmax(dim=-1)).transpose(1, 2).reshape(batch, count, channels)  # (B, N, C)
    weight = attended.transpose(1, 2).reshape(batch, channels, height, width)
    return x + x * weight


@pytest.mark.parametrize("channels,heads", [(8, 1), (16, 4), (32, 8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_efficient_attention_matches_the_per_head_formulation(channels, heads, channels_last):
    torch.manual_seed(0)
    module = EfficientSelfAttention(channels, heads)
    x = torch.randn(2, channels, 7, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = reference_efficient_attention(module, x)
    torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)


def test_efficient_attention_gradients_match_the_per_head_formulation():
    torch.manual_seed(0)
    module = EfficientSelfAttention(16, 4).double()
    x = torch.randn(2, 16, 5, 6, dtype=torch.float64, requires_grad=True)
    module(x).square().sum().backward()
    fast = [x.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    x.grad = None
    module.zero_grad()
    reference_efficient_attention(module, x).square().sum().backward()
    slow = [x.grad] + [p.grad for p in module.parameters()]
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_efficient_attention_gradcheck():
    torch.manual_seed(0)
    module = EfficientSelfAttention(8, 2).double()
    x = torch.randn(1, 8, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


def test_channels_last_keeps_the_state_dict():
    net = build_fusion_net(TINY)
    before = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    after = net.use_channels_last().state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert net.use_channels_last(False).channels_last is False


def test_channels_last_trains_like_the_reference_path():
    torch.manual_seed(0)
    reference = build_fusion_net(TINY).double()
    fast = build_fusion_net(TINY).double()
    fast.load_state_dict(reference.state_dict())
    fast.use_channels_last()
    ir, vis = torch.rand(2, 1, 19, 23, dtype=torch.float64), torch.rand(2, 1, 19, 23, dtype=torch.float64)
    reference(ir, vis).square().mean().backward()
    fast(ir, vis).square().mean().backward()
    for (name, a), b in zip(reference.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10, msg=name)


@pytest.fixture(scope="module")
def bundled_net():
    return load_fusion_net("warm-start", "cpu")


def _crop(pair, index):
    # every bundled pair, cropped (an odd size for half of them) so that two eager passes per pair stay quick
    height, width = (101, 137) if index % 2 else (128, 160)
    return tuple(image[..., 50 : 50 + height, 70 : 70 + width] for image in pair)


def test_fast_path_matches_the_reference_on_every_bundled_sample(bundled_net):
    import copy

    fast = copy.deepcopy(bundled_net).use_channels_last()
    with torch.inference_mode():
        for index, (name, pair) in enumerate(bundled_sample_pairs().items()):
            ir, vis = _crop(pair, index)
            difference = (fast(ir, vis) - bundled_net(ir, vis)).abs().max().item()
            assert difference < 1e-4, f"{name}: fast path differs by {difference:.2e}"


def test_bundled_weights_give_the_per_head_formulation_output(bundled_net, monkeypatch):
    """The outputs of the bundled network equal those of the attention as it was first written (within 1/255)."""
    pairs = {name: _crop(pair, index) for index, (name, pair) in enumerate(bundled_sample_pairs().items())}
    with torch.inference_mode():
        fused = {name: bundled_net(*pair) for name, pair in pairs.items()}
        monkeypatch.setattr(EfficientSelfAttention, "forward", reference_efficient_attention)
        for name, pair in pairs.items():
            difference = (bundled_net(*pair) - fused[name]).abs().max().item()
            assert difference < 1 / 255 / 100, f"{name}: differs from the per-head formulation by {difference:.2e}"


@pytest.mark.slow
def test_fast_path_matches_the_reference_on_full_size_samples(bundled_net):
    import copy

    fast = copy.deepcopy(bundled_net).use_channels_last()
    with torch.inference_mode():
        for name, (ir, vis) in bundled_sample_pairs().items():
            difference = (fast(ir, vis) - bundled_net(ir, vis)).abs().max().item()
            assert difference < 1 / 255, f"{name}: fast path differs by {difference:.2e}"
