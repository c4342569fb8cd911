"""Filters, the guided filter and the selection rules against independent references (numpy, scipy, loops)."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from semfuse.methods.classical.filters import (
    border_index,
    gaussian_kernel,
    laplacian_filter,
    mean_filter,
    separable_filter,
)
from semfuse.methods.classical.guided import guided_filter
from semfuse.methods.classical.rules import choose_max_abs, choose_max_abs_consistent


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(size=shape))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("pad", [0, 1, 2, 7])
def test_border_index_matches_numpy_pad(size, pad):
    axis = np.arange(size)
    for border, mode in (("reflect", "reflect"), ("replicate", "edge")):
        expected = np.pad(axis, pad, mode=mode) if size > 1 or mode == "edge" else np.zeros(size + 2 * pad, int)
        assert border_index(size, pad, border).tolist() == expected.tolist()


def test_border_index_refuses_an_unknown_rule():
    with pytest.raises(ValueError, match="border"):
        border_index(4, 1, "wrap")


@pytest.mark.parametrize("radius", [0, 1, 2, 6])
def test_mean_filter_truncate_matches_a_loop(radius):
    image = _random(1, 1, 5, 7)
    got = mean_filter(image, radius)
    array = image[0, 0].numpy()
    for i in range(5):
        for j in range(7):
            window = array[max(0, i - radius) : i + radius + 1, max(0, j - radius) : j + radius + 1]
            assert got[0, 0, i, j].item() == pytest.approx(window.mean(), abs=1e-12)


@pytest.mark.parametrize("border, mode", [("replicate", "nearest"), ("reflect", "mirror")])
def test_mean_filter_with_extension_matches_scipy(border, mode):
    image = _random(1, 1, 9, 12, seed=1)
    expected = ndimage.uniform_filter(image[0, 0].numpy(), size=5, mode=mode)
    np.testing.assert_allclose(mean_filter(image, 2, border=border)[0, 0].numpy(), expected, atol=1e-12)


def test_gaussian_and_laplacian_match_scipy():
    kernel = gaussian_kernel(5, 5.0)
    assert kernel.sum().item() == pytest.approx(1.0)
    # 11 taps, sigma 5: scipy's gaussian_filter with truncate = radius / sigma = 1 uses the same kernel
    image = _random(1, 1, 15, 13, seed=2)
    expected = ndimage.gaussian_filter(image[0, 0].numpy(), sigma=5.0, truncate=1.0, mode="nearest")
    np.testing.assert_allclose(separable_filter(image, kernel, "replicate")[0, 0].numpy(), expected, atol=1e-12)
    stencil = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    expected = ndimage.correlate(image[0, 0].numpy(), stencil, mode="nearest")
    np.testing.assert_allclose(laplacian_filter(image)[0, 0].numpy(), expected, atol=1e-12)


def test_guided_filter_matches_the_per_window_definition():
    """q_i = mean over windows k containing i of (a_k I_i + b_k), a_k, b_k the least-squares fit of p on I in k."""
    guide, source = _random(1, 1, 6, 5, seed=3), _random(1, 1, 6, 5, seed=4)
    radius, eps = 1, 0.01
    I, p = guide[0, 0].numpy(), source[0, 0].numpy()
    a, b = np.zeros_like(I), np.zeros_like(I)
    for i in range(6):
        for j in range(5):
            window = (slice(max(0, i - radius), i + radius + 1), slice(max(0, j - radius), j + radius + 1))
            gi, pi = I[window].ravel(), p[window].ravel()
            a[i, j] = (np.mean(gi * pi) - gi.mean() * pi.mean()) / (gi.var() + eps)
            b[i, j] = pi.mean() - a[i, j] * gi.mean()
    expected = np.zeros_like(I)
    for i in range(6):
        for j in range(5):
            window = (slice(max(0, i - radius), i + radius + 1), slice(max(0, j - radius), j + radius + 1))
            expected[i, j] = a[window].mean() * I[i, j] + b[window].mean()
    np.testing.assert_allclose(guided_filter(guide, source, radius, eps)[0, 0].numpy(), expected, atol=1e-12)


def test_guided_filter_keeps_constants_and_edges():
    guide = _random(1, 1, 20, 20, seed=5)
    torch.testing.assert_close(guided_filter(guide, torch.ones_like(guide), 4, 0.3), torch.ones_like(guide))
    # with a tiny eps the output follows the guide wherever the source is the guide itself
    torch.testing.assert_close(guided_filter(guide, guide, 3, 1e-9), guide, rtol=0, atol=1e-5)


def test_choose_max_abs_by_hand():
    a = torch.tensor([1.0, -3.0, 2.0, 0.0])
    b = torch.tensor([-2.0, 1.0, -2.0, 0.0])
    # |1| < |-2| -> -2; |-3| > |1| -> -3; |2| = |-2| -> (2 - 2) / 2 = 0; both 0 -> 0
    assert choose_max_abs(a, b).tolist() == [-2.0, -3.0, 0.0, 0.0]


def test_consistency_check_follows_the_neighbourhood_majority():
    a = torch.full((1, 1, 5, 5), 1.0)
    b = torch.full((1, 1, 5, 5), 2.0)
    a[0, 0, 2, 2] = 3.0
    # activity (3x3 max of |.|): a is 3 on rows 1..3 x cols 1..3 and 1 elsewhere; b is 2 everywhere.
    # votes: +1 (for a) on that 3x3 block, -1 on the 16 other positions.
    fused = choose_max_abs_consistent(a, b)
    # (2, 2): 9 votes for a -> a = 3
    assert fused[0, 0, 2, 2].item() == 3.0
    # (1, 2): window rows 0..2 x cols 1..3 holds 6 votes for a and 3 for b -> a = 1, where plain max-abs takes b
    assert fused[0, 0, 1, 2].item() == 1.0
    assert choose_max_abs(a, b)[0, 0, 1, 2].item() == 2.0
    # (1, 1): window rows 0..2 x cols 0..2 holds 4 votes for a and 5 for b -> b = 2
    assert fused[0, 0, 1, 1].item() == 2.0
    # (0, 0): truncated window rows 0..1 x cols 0..1 holds 1 vote for a and 3 for b -> b = 2
    assert fused[0, 0, 0, 0].item() == 2.0
    # a tie of votes averages: equal activities everywhere give 0 votes
    torch.testing.assert_close(choose_max_abs_consistent(a.abs(), -a.abs()), torch.zeros_like(a))
