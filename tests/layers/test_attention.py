"""Every attention kind on its own: shapes, odd sizes, finite values, dependence on the input, bad options.

The fusion network with each kind inside it is tested in tests/models/test_fusion_net.py.
"""

import pytest
import torch

from semfuse.layers.attention import ATTENTION_KINDS, get_attention

KINDS = sorted(ATTENTION_KINDS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(16, 16), (9, 13), (1, 1)])
def test_attention_keeps_shape_and_is_finite(kind, size):
    torch.manual_seed(0)
    module = get_attention(kind, 16, 4).eval()
    x = torch.randn(2, 16, *size)
    y = module(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("kind", KINDS)
def test_attention_depends_on_input(kind):
    torch.manual_seed(0)
    module = get_attention(kind, 8, 2).eval()
    x = torch.rand(1, 8, 6, 7)
    if kind == "none":
        assert torch.equal(module(x), x)
    else:
        assert not torch.allclose(module(x), x)  # the gate changes the features


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="efficient"):
        get_attention("cross", 8, 2)


def test_heads_must_divide_channels():
    with pytest.raises(ValueError, match="divisible"):
        get_attention("efficient", 10, 4)


def test_efficient_attention_does_not_saturate_with_size():
    # Kᵀ V is averaged over positions, so the same content tiled 4x gives the same per-pixel result.
    torch.manual_seed(0)
    module = get_attention("efficient", 8, 2).eval()
    x = torch.rand(1, 8, 5, 6)
    tiled = x.repeat(1, 1, 2, 2)
    with torch.no_grad():
        assert torch.allclose(module(tiled)[..., :5, :6], module(x), atol=1e-5)
