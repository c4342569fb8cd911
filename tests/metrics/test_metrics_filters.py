"""The filtering helpers against direct loops and against MATLAB's fspecial formula."""

import doctest
import importlib
import math

import numpy as np
import pytest
import torch

from semfuse.metrics.filters import (
    box_sum_valid,
    gaussian_kernel_1d,
    gaussian_window,
    separable_filter_valid,
)
from semfuse.metrics.fmi import dct2


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """fspecial('gaussian') written out: exp(-(x^2 + y^2) / (2 sigma^2)), cut below eps * max, sum 1."""
    half = (size - 1) / 2
    window = np.array(
        [[math.exp(-((x - half) ** 2 + (y - half) ** 2) / (2 * sigma**2)) for x in range(size)] for y in range(size)]
    )
    window[window < np.finfo(float).eps * window.max()] = 0
    return window / window.sum()


def correlate_valid_loops(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    kh, kw = window.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i : i + kh, j : j + kw] * window).sum()
    return out


@pytest.mark.parametrize("size, sigma", [(17, 17 / 5), (9, 9 / 5), (5, 1.0), (3, 0.6), (11, 1.5)])
def test_gaussian_window_is_fspecial(size, sigma):
    assert np.allclose(gaussian_window(size, sigma).numpy(), fspecial_gaussian(size, sigma), rtol=1e-14, atol=1e-17)


def test_a_window_that_fspecial_would_cut_is_refused():
    with pytest.raises(ValueError, match="not separable"):
        gaussian_kernel_1d(41, 1.0)


def test_separable_filter_matches_a_direct_correlation():
    image = np.random.default_rng(0).integers(0, 256, (2, 1, 20, 23)).astype(np.float64)
    kernel = gaussian_kernel_1d(5, 1.0)
    out = separable_filter_valid(torch.from_numpy(image), kernel).numpy()
    window = torch.outer(kernel, kernel).numpy()
    expected = np.stack([[correlate_valid_loops(plane, window) for plane in item] for item in image])
    assert out.shape == (2, 1, 16, 19)
    assert np.allclose(out, expected, rtol=1e-13, atol=1e-11)


def test_separable_filter_is_a_correlation_not_a_convolution():
    # an asymmetric kernel shows the direction: out[i] = sum_u k[u] x[i + u]
    image = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    image[0, 0, 0, 0] = 1
    out = separable_filter_valid(image, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert out[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_box_sum_is_exact_for_integer_data():
    image = np.random.default_rng(1).integers(0, 256, (1, 1, 30, 31)).astype(np.float64) ** 2
    out = box_sum_valid(torch.from_numpy(image), 11).numpy()
    expected = correlate_valid_loops(image[0, 0], np.ones((11, 11)))
    assert np.array_equal(out[0, 0], expected)


def test_dct2_is_the_orthonormal_dct_ii():
    scipy_fft = pytest.importorskip("scipy.fft")
    image = np.random.default_rng(2).integers(0, 256, (7, 10)).astype(np.float64)
    expected = scipy_fft.dctn(image, type=2, norm="ortho")
    assert np.allclose(dct2(torch.from_numpy(image)).numpy(), expected, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize(
    "module",
    ["statistics", "information", "correlation", "error", "vif", "gradient", "structural", "fmi", "filters",
     "registry"],
)
def test_docstring_examples_run(module):
    loaded = importlib.import_module(f"semfuse.metrics.{module}")
    result = doctest.testmod(
        loaded, extraglobs={"torch": torch, "np": np}, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0 and result.failed == 0
