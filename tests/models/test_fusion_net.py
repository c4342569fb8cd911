"""The fusion network with every attention kind inside it: output size, range, gradients, the authors' widths."""

import pytest
import torch

from semfuse.layers.attention import ATTENTION_KINDS
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net

KINDS = sorted(ATTENTION_KINDS)
TINY = dict(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(32, 48), (17, 23), (5, 3)])
def test_fusion_net_output_matches_input_size(kind, size):
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(attention=kind, **TINY)).eval()
    ir, vis = torch.rand(2, 1, *size), torch.rand(2, 1, *size)
    with torch.no_grad():
        fused = net(ir, vis)
    assert fused.shape == ir.shape
    assert torch.isfinite(fused).all()
    assert fused.min() >= 0 and fused.max() <= 1


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_receives_a_gradient(kind):
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(attention=kind, **TINY)).train()
    ir, vis = torch.rand(2, 1, 19, 21), torch.rand(2, 1, 19, 21)
    net(ir, vis).square().mean().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no or non-finite gradient for {missing}"


def test_default_network_has_the_authors_widths_and_heads():
    net = build_fusion_net()
    assert net.encoder_ir.out_channels == (32, 64, 96, 128)
    assert [block.attend_ir.heads for block in net.fusion_blocks] == [4, 8, 8, 16]
    assert net.encoder_ir is not net.encoder_vis  # two unshared encoders


def test_mismatched_inputs_are_rejected_with_shapes():
    net = build_fusion_net(FusionNetConfig(**TINY))
    with pytest.raises(ValueError, match=r"\(1, 1, 8, 8\)"):
        net(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
