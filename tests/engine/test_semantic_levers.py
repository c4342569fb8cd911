"""The joint phase's levers beyond the paper: the fusion network's learning-rate factor and the L1 anchor to a rule.
Both default to the paper (factor 1, anchor 0) and change exactly what they name."""

import pytest
import torch

from semfuse.config import load_config
from semfuse.data.colour import luminance
from semfuse.engine.phases import build_optimizer
from semfuse.engine.trainer import semantic_phase
from semfuse.errors import SemfuseError
from semfuse.losses.warm_start import warm_start_loss
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.segmenter import Segmenter

TINY_MODEL = ["model.widths=[8,16,16,24]", "model.heads=[2,4,4,8]", "model.stem_channels=8"]


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    ir = torch.rand(2, 1, 32, 48, generator=generator)
    vis = torch.rand(2, 3, 32, 48, generator=generator)
    label = torch.randint(0, 4, (2, 32, 48), generator=generator)
    return {"ir": ir, "vis": vis, "label": label}


def _phase(*overrides):
    config = load_config(None, TINY_MODEL + [f"semantic.{item}" for item in overrides])
    torch.manual_seed(0)
    fusion_net = build_fusion_net(FusionNetConfig(**vars(config.model)))
    return semantic_phase(fusion_net, Segmenter(4), config.semantic).eval()  # no dropout: two calls compare


def test_defaults_are_the_papers():
    semantic = load_config().semantic
    assert semantic.fusion_lr_mult == 1.0 and semantic.anchor_weight == 0.0


def test_the_anchor_adds_mu_times_the_l1_to_the_rule(batch):
    plain, anchored = _phase(), _phase("anchor_weight=2.5", "anchor_rule=max")
    assert "anchor" not in plain(batch)
    out, reference = anchored(batch), plain(batch)
    with torch.no_grad():
        vis_y = luminance(batch["vis"])
        expected = warm_start_loss(anchored.fusion_net(batch["ir"], vis_y), batch["ir"], vis_y, "max")
    assert float(out["anchor"]) == pytest.approx(float(expected), rel=1e-6)
    assert float((out["loss"] - reference["loss"]).detach()) == pytest.approx(2.5 * float(expected), abs=1e-4)  # float32 sums


def test_a_zero_learning_rate_factor_keeps_the_fusion_network_and_trains_the_segmenter(batch):
    phase = _phase("fusion_lr_mult=0.0")
    groups = phase.parameter_groups()
    assert [group["lr_mult"] for group in groups] == [0.0, 1.0, 10.0]
    optimizer = build_optimizer(phase, 1e-3, 0.01)
    fusion_before = [p.detach().clone() for p in phase.fusion_net.parameters()]
    segmenter_before = [p.detach().clone() for p in phase.segmenter.parameters()]
    phase(batch)["loss"].backward()
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(fusion_before, phase.fusion_net.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(segmenter_before, phase.segmenter.parameters()))


@pytest.mark.parametrize("override, message", [
    ("semantic.anchor_rule=median", "semantic.anchor_rule must be avg or max"),
    ("semantic.anchor_weight=-1", "must be >= 0"),
    ("semantic.fusion_lr_mult=-0.5", "must be >= 0"),
])
def test_bad_lever_values_are_refused_by_name(override, message):
    config = load_config(None, ["phase=semantic", override])
    with pytest.raises(SemfuseError, match=message):
        config.validate()
