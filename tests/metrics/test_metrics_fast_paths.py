"""The fast paths of the metrics against the straightforward definitions they replace.

The band-matrix filters against ``conv2d`` with the 2-D window, the strided filter against filtering then
subsampling, the separable Sobel against the 3x3 correlation, the strip-by-strip maps against one strip, the shared
SSIM/MS-SSIM moments and the panel's shared float64 copy against the metrics' own functions, and VIF's folded
masks against the reference code's chain of masks written out.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semfuse.evaluation.fusion import load_grey_uint8
from semfuse.metrics import (
    FUSION_METRICS,
    PANEL,
    SHARED_METRICS,
    evaluate_metrics,
    filters,
    ms_ssim,
    nabf,
    qabf,
    ssim_and_ms_ssim,
    structural_similarity,
    visual_information_fidelity,
)
from semfuse.metrics.compiled import compiled_metrics, windowed_kernels
from semfuse.metrics.filters import (
    box_sum_valid,
    correlate_valid,
    gaussian_kernel_1d,
    row_strips,
    separable_filter_valid,
)
from semfuse.metrics.gradient import _padded_strip, _sobel
from semfuse.metrics.structural import _mean_pool_2x2
from semfuse.metrics.vif import NOISE_VARIANCE, _scale_sums


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


@pytest.fixture(scope="module")
def msrs_triplet(samples):
    """A bundled 640x480 MSRS pair and its pixel average, as (1, 1, H, W) uint8 tensors (fused, ir, vis)."""
    ir = load_grey_uint8(samples / "ir" / "msrs_00004N.png")
    vis = load_grey_uint8(samples / "vi" / "msrs_00004N.png")
    fused = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
    return tuple(torch.from_numpy(np.ascontiguousarray(x))[None, None] for x in (fused, ir, vis))


@pytest.mark.parametrize("size, sigma", [(17, 17 / 5), (11, 1.5), (9, 9 / 5), (5, 1.0), (3, 0.6)])
@pytest.mark.parametrize("shape", [(1, 8, 100, 131), (2, 3, 37, 45)])
def test_separable_filter_equals_conv2d_with_the_2d_window(size, sigma, shape):
    images = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(size)) * 255
    kernel = gaussian_kernel_1d(size, sigma)
    window = torch.outer(kernel, kernel)[None, None]  # conv2d is a correlation, like filter2
    expected = F.conv2d(images.flatten(0, 1)[:, None], window).view(*shape[:2], shape[2] - size + 1, -1)
    assert _relative(separable_filter_valid(images, kernel), expected) < 1e-12


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dim", [-1, -2])
def test_correlate_valid_is_the_shifted_sum_at_every_block_boundary(stride, dim):
    # lengths around and beyond the block sizes, so partial last blocks occur
    for length in (17, 18, 40, 65, 97):
        images = torch.rand(2, 3, length, length + 5, dtype=torch.float64) * 255
        kernel = torch.rand(17, dtype=torch.float64)
        span = images.shape[dim] - kernel.numel() + 1
        expected = sum(weight * images.narrow(dim, shift, span) for shift, weight in enumerate(kernel.tolist()))
        index = torch.arange(0, span, stride)
        expected = expected.index_select(dim % 4, index)
        assert _relative(correlate_valid(images, kernel, dim=dim, stride=stride), expected) < 1e-12


def test_strided_filter_is_filter_then_every_second_sample():
    images = torch.rand(1, 3, 77, 90, dtype=torch.float64) * 255
    kernel = gaussian_kernel_1d(9, 9 / 5)
    expected = separable_filter_valid(images, kernel)[..., ::2, ::2]
    assert _relative(separable_filter_valid(images, kernel, stride=2), expected) < 1e-12


def test_correlate_valid_refuses_other_dims():
    with pytest.raises(ValueError, match="dim -1 or -2"):
        correlate_valid(torch.zeros(1, 1, 5, 5), torch.ones(3), dim=1)


def test_box_sums_stay_exact_across_blocks():
    generator = torch.Generator().manual_seed(3)
    image = (torch.randint(0, 256, (1, 5, 120, 150), generator=generator) - 128).to(torch.float64) ** 2
    expected = F.conv2d(image.flatten(0, 1)[:, None], torch.ones(1, 1, 11, 11, dtype=torch.float64))
    assert torch.equal(box_sum_valid(image, 11), expected.view(1, 5, 110, 140))


def test_row_strips_cover_every_row_once():
    maps = torch.zeros(2, 3, 101, 40)
    strips = row_strips(maps, elements=400)
    assert [(rows.start, rows.stop) for rows in strips][:2] == [(0, 10), (10, 20)]
    assert torch.arange(101).tolist() == [row for rows in strips for row in range(rows.start, rows.stop)]
    assert row_strips(torch.zeros(1, 1, 101, 40, device="meta"), elements=400) == [slice(0, 101)]


def test_separable_sobel_equals_the_3x3_correlations():
    padded = torch.randint(0, 256, (1, 3, 52, 61), generator=torch.Generator().manual_seed(4)).to(torch.float64)
    sx, sy = _sobel(padded)
    kernels = torch.tensor([[[1, 0, -1], [2, 0, -2], [1, 0, -1]], [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]],
                           dtype=torch.float64)[:, None]  # fmt: skip
    expected = F.conv2d(padded.flatten(0, 1)[:, None], kernels)  # (3, 2, 50, 59)
    assert torch.equal(sx[0], expected[:, 0]) and torch.equal(sy[0], expected[:, 1])


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("height, width", [(2, 3), (5, 7), (40, 33)])
def test_padded_strips_are_the_rows_of_the_padded_images(reflect, height, width):
    images = tuple(torch.randint(0, 256, (2, 1, height, width), dtype=torch.uint8) for _ in range(3))
    padded = F.pad(torch.cat(images, dim=1).to(torch.float64), (1, 1, 1, 1), mode="reflect" if reflect else "constant")
    for elements in (4, 20, 1 << 20):  # one row per strip, a few rows, one strip
        for rows in row_strips(images[0], elements):
            expected = padded[..., rows.start : rows.stop + 2, :]
            assert torch.equal(_padded_strip(images, rows, reflect), expected)


@pytest.mark.parametrize("height, width", [(8, 10), (7, 9), (8, 9), (7, 10), (1, 1)])
def test_mean_pool_is_imfilter_symmetric_then_subsampling(height, width):
    images = torch.randint(0, 256, (2, 2, height, width)).to(torch.float64)
    padded = F.pad(images, (0, 1, 0, 1), mode="replicate")  # imfilter 'symmetric' for a 2x2 window
    full = (padded[..., :-1, :-1] + padded[..., 1:, :-1] + padded[..., :-1, 1:] + padded[..., 1:, 1:]) / 4
    assert torch.equal(_mean_pool_2x2(images), full[..., ::2, ::2])


def test_strips_do_not_change_the_windowed_and_gradient_metrics(msrs_triplet, monkeypatch):
    fused, ir, vis = (image[..., :200, :260] for image in msrs_triplet)  # 3 or more strips per map
    metrics = (visual_information_fidelity, qabf, nabf, structural_similarity, ms_ssim, ssim_and_ms_ssim)

    def scores():
        return [torch.stack(metric(fused, ir, vis)) if metric is ssim_and_ms_ssim else metric(fused, ir, vis)
                for metric in metrics]  # fmt: skip

    with compiled_metrics(False):  # the strips of the tensor code (the compiled kernels work row by row)
        in_strips = scores()
        monkeypatch.setattr(filters.row_strips, "__defaults__", (1 << 30,))  # one strip per map
        assert len(row_strips(fused)) == 1
        whole_maps = scores()
    for strips, whole in zip(in_strips, whole_maps, strict=True):
        assert _relative(strips, whole) < 1e-12


def test_ssim_and_ms_ssim_together_equal_their_own_functions(msrs_triplet):
    ssim, multi_scale = ssim_and_ms_ssim(*msrs_triplet)
    assert _relative(ssim, structural_similarity(*msrs_triplet)) < 1e-12
    assert _relative(multi_scale, ms_ssim(*msrs_triplet)) < 1e-12


def test_the_panel_with_shared_work_equals_the_metrics_one_by_one(msrs_triplet):
    fused, ir, vis = (image[..., 100:300, 150:450] for image in msrs_triplet)
    shared = evaluate_metrics(fused, ir, vis)
    assert tuple(shared) == PANEL and ("SSIM", "MS-SSIM") in SHARED_METRICS
    for name in PANEL:
        alone = FUSION_METRICS[name](fused, ir, vis)
        assert shared[name].dtype == torch.float64 and _relative(shared[name], alone) < 1e-12, name


def _vif_scale_reference(reference: torch.Tensor, distorted: torch.Tensor, kernel: torch.Tensor):
    """One scale of vifp_mscale.m as written: raw moments by conv2d, then the masks one after the other."""
    window = torch.outer(kernel, kernel)[None, None]

    def local(x):
        return F.conv2d(x, window)

    mu1, mu2 = local(reference), local(distorted)
    sigma1_sq = local(reference * reference) - mu1 * mu1
    sigma2_sq = local(distorted * distorted) - mu2 * mu2
    sigma12 = local(reference * distorted) - mu1 * mu2
    sigma1_sq[sigma1_sq < 0] = 0
    sigma2_sq[sigma2_sq < 0] = 0
    g = sigma12 / (sigma1_sq + 1e-10)
    sv_sq = sigma2_sq - g * sigma12
    flat1 = sigma1_sq < 1e-10
    g[flat1] = 0
    sv_sq[flat1] = sigma2_sq[flat1]
    sigma1_sq[flat1] = 0
    flat2 = sigma2_sq < 1e-10
    g[flat2] = 0
    sv_sq[flat2] = 0
    negative = g < 0
    sv_sq[negative] = sigma2_sq[negative]
    g[negative] = 0
    sv_sq[sv_sq <= 1e-10] = 1e-10
    numerator = torch.log10(1 + g**2 * sigma1_sq / (sv_sq + NOISE_VARIANCE)).sum()
    denominator = torch.log10(1 + sigma1_sq / NOISE_VARIANCE).sum()
    return numerator, denominator


def test_vif_folded_masks_equal_the_reference_chain_of_masks(msrs_triplet):
    fused, ir, _ = (image[..., :160, :200].to(torch.float64) for image in msrs_triplet)
    ir, fused = ir - ir.mean().round(), fused - fused.mean().round()
    # flat patches (all four masks fire) and an anti-correlated corner (g < 0)
    ir[..., :40, :40] = 7.0
    fused[..., 100:, :60] = 3.0
    fused[..., :50, 150:] = -ir[..., :50, 150:]
    kernel = gaussian_kernel_1d(17, 17 / 5)
    numerator, denominator = _scale_sums(ir, fused, kernel)
    expected_numerator, expected_denominator = _vif_scale_reference(ir, fused, kernel)
    assert _relative(numerator[0, 0], expected_numerator) < 1e-10
    assert _relative(denominator[0, 0], expected_denominator) < 1e-12


def test_compiled_vif_scale_applies_the_reference_chain_of_masks(msrs_triplet):
    fused, ir, _ = (image[0, 0, :160, :200].to(torch.float64) for image in msrs_triplet)
    ir, fused = ir - ir.mean().round(), fused - fused.mean().round()
    ir[:40, :40] = 7.0
    fused[100:, :60] = 3.0
    fused[:50, 150:] = -ir[:50, 150:]
    kernel = gaussian_kernel_1d(17, 17 / 5)
    numerator, denominator = windowed_kernels().vif_scale_sums(torch.stack([ir, fused]).numpy(), kernel.numpy())
    expected_numerator, expected_denominator = _vif_scale_reference(ir[None, None], fused[None, None], kernel)
    ln10 = float(np.log(10))
    assert abs(numerator[0] / ln10 / float(expected_numerator) - 1) < 1e-10
    assert abs(denominator[0] / ln10 / float(expected_denominator) - 1) < 1e-12
