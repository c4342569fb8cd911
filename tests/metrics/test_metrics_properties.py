"""Invariances and identities every metric must satisfy, on random and structured images."""

import pytest
import torch

from semfuse.metrics import (
    FUSION_METRICS,
    correlation_coefficient,
    entropy,
    mean_squared_error,
    ms_ssim,
    mutual_information,
    peak_signal_to_noise_ratio,
    ssim_wang,
    structural_similarity,
    sum_of_correlations_of_differences,
    vif_pixel,
    visual_information_fidelity,
)

SOURCE_METRICS = [name for name, metric in FUSION_METRICS.items() if metric.uses_sources]


def random_triplet(height=48, width=56, seed=0):
    """Integer images on 0-255 with structure (a smooth ramp plus noise), so no metric degenerates."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 160, width).expand(height, width)
    ir = (ramp + torch.randint(0, 60, (height, width), generator=generator)).round()
    vis = (ramp.flip(-1) + torch.randint(0, 90, (height, width), generator=generator)).round()
    fused = ((ir + vis) / 2 + torch.randint(-5, 6, (height, width), generator=generator)).clamp(0, 255).round()
    return tuple(x.clamp(0, 255)[None, None].to(torch.float64) for x in (fused, ir, vis))


def test_entropy_of_a_constant_image_is_zero():
    assert entropy(torch.full((2, 1, 8, 8), 77.0)).tolist() == [0.0, 0.0]


def test_ssim_of_an_image_with_itself_is_one_per_source():
    _, ir, vis = random_triplet()
    assert ssim_wang(ir, ir).item() == pytest.approx(1.0, abs=1e-12)
    assert structural_similarity(vis, vis, vis).item() == pytest.approx(2.0, abs=1e-12)


def test_vif_of_an_image_with_itself_is_one_per_source():
    fused, _, _ = random_triplet(64, 64)
    assert vif_pixel(fused, fused).item() == pytest.approx(1.0, abs=1e-9)
    assert visual_information_fidelity(fused, fused, fused).item() == pytest.approx(2.0, abs=1e-9)


def test_ms_ssim_of_identical_images_is_nearly_one():
    # r is x - mu rescaled to ||x - mu|| + 0.001, so q falls short of 1 only by that 0.001
    fused, _, _ = random_triplet()
    assert ms_ssim(fused, fused, fused).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", SOURCE_METRICS)
def test_every_source_metric_is_symmetric_in_the_sources(name):
    fused, ir, vis = random_triplet()
    metric = FUSION_METRICS[name]
    assert metric(fused, ir, vis).item() == pytest.approx(metric(fused, vis, ir).item(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", list(FUSION_METRICS))
def test_every_metric_gives_the_same_value_for_uint8_and_float_input(name):
    triplet = random_triplet()
    as_uint8 = [x.to(torch.uint8) for x in triplet]
    as_float32 = [x.to(torch.float32) for x in triplet]
    expected = FUSION_METRICS[name](*triplet).item()
    assert FUSION_METRICS[name](*as_uint8).item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert FUSION_METRICS[name](*as_float32).item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", list(FUSION_METRICS))
def test_every_metric_scores_a_batch_like_its_items(name):
    first, second = random_triplet(seed=1), random_triplet(seed=2)
    batch = [torch.cat([a, b]) for a, b in zip(first, second)]
    values = FUSION_METRICS[name](*batch)
    assert values.shape == (2,) and values.dtype == torch.float64
    singles = [FUSION_METRICS[name](*first).item(), FUSION_METRICS[name](*second).item()]
    assert values.tolist() == pytest.approx(singles, rel=1e-12, abs=1e-15)


def test_scd_and_cc_are_invariant_to_scaling_all_images():
    fused, ir, vis = random_triplet()
    for metric in (sum_of_correlations_of_differences, correlation_coefficient):
        scaled = metric(fused / 255, ir / 255, vis / 255).item()
        assert scaled == pytest.approx(metric(fused, ir, vis).item(), rel=1e-12)


def test_vif_is_invariant_to_a_brightness_offset():
    fused, ir, vis = random_triplet(64, 64)
    shifted = visual_information_fidelity(fused + 20, ir - 10, vis + 3).item()
    assert shifted == pytest.approx(visual_information_fidelity(fused, ir, vis).item(), rel=1e-10)


def test_mi_does_not_change_when_grey_levels_are_relabelled_one_to_one():
    # MI depends on the histograms only, so a one-to-one relabelling of a source's levels keeps it (levels below
    # 254 are permuted among themselves, so the 254/255 merge of the joint histogram is not involved)
    fused, ir, vis = random_triplet()
    assert ir.max() < 254
    permutation = torch.randperm(254, generator=torch.Generator().manual_seed(3)).to(torch.float64)
    relabelled = permutation[ir.long()]
    assert mutual_information(fused, relabelled, vis).item() == pytest.approx(
        mutual_information(fused, ir, vis).item(), rel=1e-12
    )


def test_psnr_is_ten_log10_of_peak_squared_over_mse():
    fused, ir, vis = random_triplet()
    mse = mean_squared_error(fused, ir, vis)
    assert peak_signal_to_noise_ratio(fused, ir, vis).item() == pytest.approx(
        (10 * torch.log10(255**2 / mse)).item(), rel=1e-14
    )
