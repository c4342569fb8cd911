"""Losses of the semantic phase: gradcheck in float64, invariants, hand-computed cases, exclusion of classes."""

import math

import pytest
import torch

from semfuse.losses.correlation import (
    REGULARISER_FLOOR,
    correlation_regulariser,
    pearson_correlation,
)
from semfuse.losses.semantic import IGNORE_INDEX, semantic_loss


def _images(seed=0, shape=(2, 1, 5, 6)):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(shape, generator=generator, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("mode", ["image", "batch"])
def test_regulariser_gradcheck(mode):
    fused, ir, vis = _images()
    fused.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: correlation_regulariser(f + ir + vis, ir, vis, mode), (fused,))


def test_regulariser_gradcheck_below_the_floor():
    # a fused image anti-correlated with both sources: the tangent branch, still finite and differentiable
    _, ir, vis = _images(1)
    fused = (-(ir + vis)).detach().requires_grad_(True)
    value = correlation_regulariser(fused, ir, vis)
    assert math.isfinite(float(value.detach())) and float(value.detach()) > 1 / REGULARISER_FLOOR
    assert torch.autograd.gradcheck(lambda f: correlation_regulariser(f, ir, vis), (fused,))
    value.backward()
    assert fused.grad.abs().sum() > 0  # still pushes the correlations up


def test_regulariser_of_a_perfect_fusion_is_one_half():
    fused, _, _ = _images()
    assert float(correlation_regulariser(fused, fused, 3 * fused + 1)) == pytest.approx(0.5, abs=1e-6)


def test_pearson_hand_computed():
    # x = [1, 2, 3, 4], y = [2, 1, 4, 3]: centred x = [-1.5, -0.5, 0.5, 1.5], centred y = [-0.5, -1.5, 1.5, 0.5]
    # Σxy = 0.75 + 0.75 + 0.75 + 0.75 = 3; Σx² = Σy² = 5 -> corr = 3 / 5 = 0.6
    x = torch.tensor([1.0, 2, 3, 4], dtype=torch.float64).view(1, 1, 2, 2)
    y = torch.tensor([2.0, 1, 4, 3], dtype=torch.float64).view(1, 1, 2, 2)
    assert float(pearson_correlation(x, y)[0]) == pytest.approx(0.6, abs=1e-7)  # eps = 1e-6 under the sqrt


def test_per_image_mode_ignores_batch_statistics_and_batch_mode_does_not():
    noise, ir, vis = _images(2)
    fused = (ir + vis) / 2 + 0.2 * noise
    brighter = ir.clone()
    brighter[1] = brighter[1] * 10 + 3  # an affine change of one image keeps its own correlations
    assert float(correlation_regulariser(fused, brighter, vis, "image")) == pytest.approx(
        float(correlation_regulariser(fused, ir, vis, "image")), abs=1e-6)  # up to eps
    assert float(correlation_regulariser(fused, brighter, vis, "batch")) != pytest.approx(
        float(correlation_regulariser(fused, ir, vis, "batch")), abs=1e-3)


def test_constant_image_gives_no_nan():
    fused, ir, vis = _images()
    value = correlation_regulariser(torch.full_like(fused, 0.5), ir, vis)
    assert math.isfinite(float(value))


def test_semantic_loss_hand_computed():
    # two pixels, uniform logits over 3 classes: CE = ln 3 for each
    logits = torch.zeros(1, 3, 1, 2)
    assert float(semantic_loss(logits, torch.tensor([[[0, 2]]]))) == pytest.approx(math.log(3))


def test_excluded_classes_contribute_no_loss_and_no_gradient():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 9, 4, 5, generator=generator, requires_grad=True)
    label = torch.randint(0, 9, (2, 4, 5), generator=generator)
    label[0, 0, 0] = IGNORE_INDEX
    loss = semantic_loss(logits, label, excluded=[1, 2])
    by_hand = label.clone()
    by_hand[(label == 1) | (label == 2)] = IGNORE_INDEX
    assert float(loss.detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(logits.detach(), by_hand, ignore_index=255)))
    loss.backward()
    excluded = ((label == 1) | (label == 2)).unsqueeze(1).expand_as(logits)
    assert logits.grad[excluded].abs().max() == 0
    assert logits.grad[~excluded & (label != IGNORE_INDEX).unsqueeze(1).expand_as(logits)].abs().max() > 0


def test_semantic_loss_with_nothing_labelled_is_zero_with_a_graph():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = semantic_loss(logits, torch.full((1, 2, 2), IGNORE_INDEX))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert logits.grad is not None
