"""Tiny cases with the arithmetic written out, one or more per metric."""

import math

import pytest
import torch

from semfuse.metrics import (
    average_gradient,
    correlation_coefficient,
    entropy,
    mean_squared_error,
    mutual_information,
    mutual_information_pair,
    nabf,
    peak_signal_to_noise_ratio,
    qabf,
    spatial_frequency,
    standard_deviation,
    sum_of_correlations_of_differences,
)


def image(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)[None, None]


def test_entropy_of_four_equally_frequent_levels_is_two_bits():
    # p = (1/4, 1/4, 1/4, 1/4): -4 * 1/4 * log2(1/4) = 2
    assert entropy(image([[0, 50], [100, 255]])).item() == pytest.approx(2.0, abs=1e-15)


def test_entropy_of_skewed_histogram():
    # p = (3/4, 1/4): -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.311278 + 0.5 = 0.811278
    expected = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert entropy(image([[7, 7], [7, 9]])).item() == pytest.approx(expected, rel=1e-14)


def test_standard_deviation_is_the_population_form():
    # values 1, 2, 3, 4: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / 4 (not 3) -> sqrt(1.25)
    assert standard_deviation(image([[1, 2], [3, 4]])).item() == pytest.approx(math.sqrt(1.25), rel=1e-15)


def test_spatial_frequency_divides_by_the_number_of_differences():
    # f = [[1, 2, 4], [1, 5, 4]]
    # vertical differences (1 x 3): 0, 3, 0 -> RF^2 = 9 / 3 = 3
    # horizontal differences (2 x 2): 1, 2, 4, -1 -> CF^2 = (1 + 4 + 16 + 1) / 4 = 5.5
    # SF = sqrt(3 + 5.5)
    assert spatial_frequency(image([[1, 2, 4], [1, 5, 4]])).item() == pytest.approx(math.sqrt(8.5), rel=1e-15)


def test_average_gradient_sums_the_border_but_divides_by_m1_n1():
    # f = [[0, 1, 4], [2, 3, 6]] (M = 2, N = 3)
    # gx (MATLAB gradient along rows): row 0: 1, (4-0)/2 = 2, 3; row 1: 1, (6-2)/2 = 2, 3
    # gy (two rows: one-sided both ends): 2, 2, 2 in both rows
    # sqrt((gx^2 + gy^2)/2): sqrt(2.5), sqrt(4), sqrt(6.5), twice; sum / ((2-1)(3-1)) = sum / 2
    expected = 2 * (math.sqrt(2.5) + 2 + math.sqrt(6.5)) / 2
    assert average_gradient(image([[0, 1, 4], [2, 3, 6]])).item() == pytest.approx(expected, rel=1e-15)


def test_mutual_information_of_identical_two_level_images():
    # X = F with levels {10, 20} half each: H(X) = H(F) = 1, H(F, X) = 1 -> MI = 1 per source, 2 in all
    x = image([[10, 10], [20, 20]])
    assert mutual_information_pair(x, x).item() == pytest.approx(1.0, abs=1e-15)
    assert mutual_information(x, x, x).item() == pytest.approx(2.0, abs=1e-15)


def test_mutual_information_merges_levels_254_and_255_in_the_joint_histogram():
    # X = F with levels {254, 255} half each: H(X) = H(F) = 1 bit, but Hab.m's uint8(x) + 1 saturates, so both
    # levels share one joint bin: H(F, X) = 0 and MI = 1 + 1 - 0 = 2 (not 1) per source.
    x = image([[254, 254], [255, 255]])
    assert mutual_information_pair(x, x).item() == pytest.approx(2.0, abs=1e-15)


def test_mutual_information_of_independent_images_is_zero():
    # F = [[0, 0], [1, 1]], X = [[0, 1], [0, 1]]: joint is uniform over 4 cells, H = 2 = H(X) + H(F) -> MI = 0
    f, x = image([[0, 0], [1, 1]]), image([[0, 1], [0, 1]])
    assert mutual_information_pair(x, f).item() == pytest.approx(0.0, abs=1e-15)


def test_correlation_coefficient_is_the_mean_of_two_correlations():
    # F = [0, 1, 2, 3]; A = F (corr 1); B = [0, 1, 2, 4] -> corr(B, F):
    # centred F = (-1.5, -0.5, 0.5, 1.5), centred B = (-1.75, -0.75, 0.25, 2.25)
    # sum of products = 2.625 + 0.375 + 0.125 + 3.375 = 6.5; |F|^2 = 5, |B|^2 = 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75
    corr_b = 6.5 / math.sqrt(5 * 8.75)
    f, b = image([[0, 1, 2, 3]]), image([[0, 1, 2, 4]])
    assert correlation_coefficient(f, f, b).item() == pytest.approx((1 + corr_b) / 2, rel=1e-14)


def test_scd_of_an_additive_fusion_is_two():
    # F = A + B with uncorrelated A, B: F - B = A and F - A = B, so both correlations are 1
    a, b = image([[0, 1, 0, 1]]), image([[0, 0, 1, 1]])
    assert sum_of_correlations_of_differences(a + b, a, b).item() == pytest.approx(2.0, abs=1e-15)


def test_mse_and_psnr_use_the_0_1_scale_with_peak_255():
    # F = 0, A = 0, B = 51 (= 0.2 on 0-1): MSE = (0 + 0.04) / 2 = 0.02; PSNR = 20 log10(255 / sqrt(0.02)) = 65.12 dB
    zero, grey = torch.zeros(1, 1, 3, 3), torch.full((1, 1, 3, 3), 51.0)
    assert mean_squared_error(zero, zero, grey).item() == pytest.approx(0.02, rel=1e-14)
    assert peak_signal_to_noise_ratio(zero, zero, grey).item() == pytest.approx(
        20 * math.log10(255 / math.sqrt(0.02)), rel=1e-14
    )


def test_qabf_of_identical_images_is_the_product_of_the_two_plateaus():
    # F = A = B: every alpha difference is 0, so A^{XF} = 1 and the angle term is Ta / (1 + e^{-22 (1 - 0.8)});
    # G^{XF} = g_F (the reference code's equal case), >= 9 for steps of 9, so the strength term is
    # Tg / (1 + e^{-15 (g - 0.5)}) = Tg to 1e-55. Qabf = sum(Q g) / sum(g) = Tg * Ta / (1 + e^{-4.4}).
    x = image([[0, 0, 9, 9, 18], [0, 9, 9, 18, 18], [9, 9, 18, 18, 27], [9, 18, 18, 27, 27]])
    expected = 0.9994 * 0.9879 / (1 + math.exp(-4.4))
    assert qabf(x, x, x).item() == pytest.approx(expected, rel=1e-14)


def test_qabf_is_zero_for_a_flat_fused_image():
    # g_F = 0 < g_X wherever the sources have edges: G = g_F / g_X = 0 -> strength term Tg / (1 + e^{7.5}) = 5.5e-4,
    # and alpha_F = pi/2: Qabf = Tg / (1 + e^{7.5}) * (weighted mean of the angle terms) <= 5.5e-4
    x = image([[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]])
    flat = torch.zeros_like(x)
    assert 0 < qabf(flat, x, x).item() <= 0.9994 / (1 + math.exp(7.5))


def test_nabf_is_zero_without_artifacts():
    # F = A = B: g_F never exceeds both g_A and g_B, so na = 0 everywhere
    x = image([[0, 0, 9, 9], [0, 3, 9, 9], [0, 0, 9, 9]])
    assert nabf(x, x, x).item() == 0.0


def test_nabf_of_an_edge_only_the_fused_image_has():
    # A = B = 0 (flat, g = 0, weights 0.001 everywhere). F has a vertical step 0 | 8 in a 3x4 image.
    # Reflect-padded Sobel / 8: gv = 4 in the two middle columns (|(-1-2-1)*0 + (1+2+1)*8| / 8), gh = 0; so
    # g_F = 4 there and na = 1 at those 6 pixels, 0 elsewhere. g^{XF} = 0 (g_X = 0), so
    # Q_g = 0.9999 / (1 + e^{19 * 0.5}); alpha_X = 0, alpha_F = atan(4/0) = pi/2, alpha^{XF} = |pi/2 - pi/2| 2/pi = 0,
    # Q_a = 0.9995 / (1 + e^{22 * 0.5}); Q = sqrt(Q_g Q_a).
    # Nabf = 6 * 2 * (1 - Q) * 0.001 / (12 * 2 * 0.001) = (1 - Q) / 2
    zero = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
    f = image([[0, 0, 8, 8]] * 3)
    q = math.sqrt(0.9999 / (1 + math.exp(9.5)) * 0.9995 / (1 + math.exp(11)))
    assert nabf(f, zero, zero).item() == pytest.approx((1 - q) / 2, rel=1e-14)
