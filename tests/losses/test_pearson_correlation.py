"""The correlation regulariser builds on the metric's Pearson formula: same values, gradients intact (gradcheck)."""

import pytest
import torch

from semfuse.losses.correlation import correlation_regulariser
from semfuse.losses.correlation import pearson_correlation as loss_correlation
from semfuse.metrics.correlation import pearson_correlation as metric_correlation
from semfuse.metrics.correlation import row_correlation


def _images(seed: int, shape=(2, 1, 5, 6)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_row_correlation_by_hand():
    # x = (1, 2, 3), y = (1, 3, 2): deviations (-1, 0, 1) and (-1, 1, 0); Σdxdy = 1, Σdx² = Σdy² = 2, corr = 1/2
    x, y = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 3.0, 2.0]])
    assert row_correlation(x, y).tolist() == [0.5]
    # eps under the root: 1 / sqrt(2 * 2 + 5) = 1/3
    assert row_correlation(x, y, eps=5.0).item() == pytest.approx(1 / 3)


def test_loss_and_metric_are_one_formula():
    x, y = _images(0), _images(1)
    assert torch.equal(loss_correlation(x, y, eps=0.0), metric_correlation(x, y))
    batch = loss_correlation(x, y, per_image=False, eps=0.0)
    assert torch.equal(batch, row_correlation(x.reshape(1, -1), y.reshape(1, -1))[0])


def test_constant_image_metric_is_nan_loss_is_zero():
    x, constant = _images(2), torch.full((2, 1, 5, 6), 0.5, dtype=torch.float64)
    assert metric_correlation(x, constant).isnan().all()
    assert torch.equal(loss_correlation(x, constant), torch.zeros(2, dtype=torch.float64))


def test_gradients_pass_through_the_shared_formula():
    x, y = _images(3).requires_grad_(), _images(4).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: row_correlation(a.flatten(1), b.flatten(1), 1e-6), (x, y))
    for per_image in (True, False):
        assert torch.autograd.gradcheck(lambda a, b: loss_correlation(a, b, per_image), (x, y))
    fused = _images(5).requires_grad_()
    for mode in ("image", "batch"):
        assert torch.autograd.gradcheck(lambda f: correlation_regulariser(f, x.detach(), y.detach(), mode), (fused,))
