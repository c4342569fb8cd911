"""One source constant (a dead or saturated sensor): each method must hand back the informative source.

The informative source V is a synthetic 161 x 203 texture in [0.2, 0.8] that has structure at every scale: a slow
wave (so the low-pass band of a 4-level pyramid still has texture), a fine pattern and seeded noise (so no region
is flat). The constant source is c = 0.5. Each test states the bound it checks and why it holds:

* average: F = (c + V) / 2 exactly, so |F - V| = |c - V| / 2; it is a blend by definition, not a selection.
* max: with c = 0 below every value of V, F = V exactly (bound 0).
* laplacian: a constant has zero detail at every level, so max-abs keeps all of V's details and only the base is
  averaged: F = V + (c - V_low) / 2 exactly, V_low being V's base expanded back to full size. The expand kernel is
  positive, so V_low lies in [min V, max V] and |F - V| <= max |c - V| / 2.
* dwt: the same identity with V_low = V rebuilt from its approximation band alone (wavelet details of a constant
  vanish because the high-pass filters sum to 0); bound |F - V| = |c - V_low| / 2, checked with PyWavelets.
* gff: the constant has zero saliency, V has positive saliency everywhere, so the weight maps are exactly 1 for V
  and 0 for c, and the guided filter of a constant map is that constant: F = V up to rounding, bound 1e-6.
* mst-sr: details as for laplacian; in the low-pass band every constant window codes to zero coefficients, every
  window of V has a larger L1 norm and is rebuilt within the OMP tolerance eps = 0.1 / 255 (L2 per 8x8 window,
  so per pixel too); overlap averaging and the positive expand kernel keep that: |F - V| <= 0.1 / 255 (+ 1e-6).
"""

import math

import numpy as np
import pytest
import pywt
import torch
from scipy import ndimage

from semfuse.methods import get_method

CONSTANT = 0.5
HEIGHT, WIDTH = 161, 203
BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def informative_texture() -> torch.Tensor:
    """(1, 1, 161, 203) float32 texture in [0.2, 0.8] with structure at every scale."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    slow = 0.2 * np.sin(2 * math.pi * (1.3 * x / WIDTH + 0.2 * y / HEIGHT)) * np.cos(2 * math.pi * 0.9 * y / HEIGHT)
    fine = 0.06 * np.sin(2 * math.pi * x / 5.3) * np.sin(2 * math.pi * y / 4.1)
    noise = 0.02 * np.random.default_rng(0).uniform(-1.0, 1.0, size=(HEIGHT, WIDTH))
    texture = 0.5 + slow + fine + noise
    assert 0.2 <= texture.min() and texture.max() <= 0.8
    return torch.from_numpy(texture.astype(np.float32))[None, None]


def reference_pyramid_lowpass(image: np.ndarray, levels: int) -> np.ndarray:
    """V_low by scipy: Burt-Adelson reduce ``levels`` times, then expand back (mirror borders), zero details."""
    sizes, current = [], image
    for _ in range(levels):
        sizes.append(current.shape)
        blurred = ndimage.convolve1d(current, BINOMIAL, axis=0, mode="mirror")
        blurred = ndimage.convolve1d(blurred, BINOMIAL, axis=1, mode="mirror")
        current = blurred[::2, ::2]
    for size in reversed(sizes):
        upsampled = np.zeros(size)
        upsampled[::2, ::2] = current
        current = ndimage.convolve1d(
            ndimage.convolve1d(upsampled, 2 * BINOMIAL, axis=0, mode="mirror"), 2 * BINOMIAL, axis=1, mode="mirror"
        )
    return current


def reference_wavelet_lowpass(image: np.ndarray, wavelet: str = "db2", level: int = 3) -> np.ndarray:
    """V rebuilt from its approximation band alone, by PyWavelets."""
    coeffs = pywt.wavedec2(image, wavelet, mode="symmetric", level=level)
    coeffs = [coeffs[0]] + [tuple(np.zeros_like(band) for band in bands) for bands in coeffs[1:]]
    return pywt.waverec2(coeffs, wavelet, mode="symmetric")[:HEIGHT, :WIDTH]


@pytest.fixture(scope="module")
def texture() -> torch.Tensor:
    return informative_texture()


def _fuse_both_ways(name: str, informative: torch.Tensor, constant: float) -> list[torch.Tensor]:
    """F with the constant as infrared and as visible source."""
    flat = torch.full_like(informative, constant)
    fuse = get_method(name)
    return [fuse(flat, informative), fuse(informative, flat)]


def test_average_is_the_exact_blend(texture):
    for fused in _fuse_both_ways("average", texture, CONSTANT):
        assert torch.equal(fused, (texture + CONSTANT) / 2)
        assert float((fused - texture).abs().max()) == pytest.approx(float((CONSTANT - texture).abs().max()) / 2)


def test_max_returns_the_source_when_the_constant_is_below_it(texture):
    for fused in _fuse_both_ways("max", texture, 0.0):
        assert torch.equal(fused, texture)
    for fused in _fuse_both_ways("max", texture, CONSTANT):
        assert torch.equal(fused, torch.clamp(texture, min=CONSTANT))


def test_laplacian_keeps_every_detail_and_halves_the_base(texture):
    lowpass = torch.from_numpy(reference_pyramid_lowpass(texture[0, 0].double().numpy(), levels=4))
    expected = texture[0, 0].double() + (CONSTANT - lowpass) / 2
    for fused in _fuse_both_ways("laplacian", texture, CONSTANT):
        torch.testing.assert_close(fused[0, 0].double(), expected, rtol=0, atol=1e-6)
        assert float((fused - texture).abs().max()) <= float((CONSTANT - texture).abs().max()) / 2 + 1e-6


def test_dwt_keeps_every_detail_and_halves_the_approximation(texture):
    image = texture[0, 0].double().numpy()
    constant_details = pywt.wavedec2(np.full_like(image, CONSTANT), "db2", mode="symmetric", level=3)[1:]
    assert max(np.abs(band).max() for bands in constant_details for band in bands) < 1e-12
    expected = torch.from_numpy(image + (CONSTANT - reference_wavelet_lowpass(image)) / 2)
    for fused in _fuse_both_ways("dwt", texture, CONSTANT):
        torch.testing.assert_close(fused[0, 0].double(), expected, rtol=0, atol=1e-6)


def test_gff_returns_the_informative_source(texture):
    for fused in _fuse_both_ways("gff", texture, CONSTANT):
        assert float((fused - texture).abs().max()) <= 1e-6


def test_mst_sr_returns_the_informative_source_within_the_omp_tolerance(texture):
    bound = 0.1 / 255 + 1e-6
    for fused in _fuse_both_ways("mst-sr", texture, CONSTANT):
        assert float((fused - texture).abs().max()) <= bound
