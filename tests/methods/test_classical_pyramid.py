"""Laplacian pyramid and patch utilities: exact reconstruction, scipy reference, any size."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from semfuse.methods.classical.patches import (
    assemble_patches,
    extract_patches,
    window_starts,
)
from semfuse.methods.classical.pyramid import (
    collapse_pyramid,
    laplacian_pyramid,
    reduce_level,
    usable_levels,
)

BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
SIZES = [(1, 1), (2, 3), (7, 9), (8, 8), (33, 17), (61, 64)]


def _random(height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(size=(1, 1, height, width)))


@pytest.mark.parametrize("size", SIZES)
def test_pyramid_collapses_back_to_the_image(size):
    image = _random(*size)
    pyramid = laplacian_pyramid(image, levels=4)
    assert len(pyramid) == usable_levels(*size, 4) + 1
    torch.testing.assert_close(collapse_pyramid(pyramid), image, rtol=0, atol=1e-12)


def test_level_sizes_halve_rounding_up_and_stop_at_two_pixels():
    sizes = [tuple(level.shape[-2:]) for level in laplacian_pyramid(_random(33, 17), levels=10)]
    assert sizes == [(33, 17), (17, 9), (9, 5), (5, 3), (3, 2), (2, 1)]
    assert usable_levels(1, 100, 4) == 0 and usable_levels(2, 2, 4) == 1 and usable_levels(640, 480, 4) == 4


@pytest.mark.parametrize("size", [(7, 9), (33, 17), (2, 3)])
def test_constant_image_has_zero_detail(size):
    pyramid = laplacian_pyramid(torch.full((1, 1, *size), 0.3, dtype=torch.float64), levels=4)
    for detail in pyramid[:-1]:
        assert detail.abs().max().item() < 1e-15
    torch.testing.assert_close(pyramid[-1], torch.full_like(pyramid[-1], 0.3))


def test_reduce_matches_scipy_mirror_convolution():
    image = _random(13, 10, seed=1)
    array = image[0, 0].numpy()
    expected = ndimage.convolve1d(array, BINOMIAL, axis=0, mode="mirror")
    expected = ndimage.convolve1d(expected, BINOMIAL, axis=1, mode="mirror")
    np.testing.assert_allclose(reduce_level(image)[0, 0].numpy(), expected[::2, ::2], atol=1e-14)


def test_window_starts_cover_the_far_edge():
    assert window_starts(12, 8, 1).tolist() == [0, 1, 2, 3, 4]
    assert window_starts(12, 8, 3).tolist() == [0, 3, 4]
    assert window_starts(8, 8, 5).tolist() == [0]


@pytest.mark.parametrize("size", [(8, 8), (11, 9), (20, 13)])
@pytest.mark.parametrize("step", [1, 2, 3, 8])
def test_patches_reassemble_to_the_image(size, step):
    image = _random(*size, seed=2).repeat(2, 1, 1, 1)
    patches = extract_patches(image, 8, step)
    assert patches.shape == (2, len(window_starts(size[0], 8, step)) * len(window_starts(size[1], 8, step)), 64)
    torch.testing.assert_close(assemble_patches(patches, size, 8, step), image, rtol=0, atol=1e-12)


def test_patch_vectors_are_row_major():
    image = torch.arange(100.0).view(1, 1, 10, 10)
    patch = extract_patches(image, 8, 2)[0, 1]  # second window: rows 0..7, columns 2..9
    assert patch.view(8, 8).tolist() == image[0, 0, 0:8, 2:10].tolist()


def test_patch_functions_refuse_small_images():
    with pytest.raises(ValueError, match=r"\(1, 1, 7, 9\)"):
        extract_patches(torch.zeros(1, 1, 7, 9), 8, 1)
