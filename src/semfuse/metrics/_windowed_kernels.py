"""Compiled (numba) CPU kernels of VIF and of SSIM / MEF-SSIM; see :mod:`semfuse.metrics.compiled`.

Each kernel takes one image triplet as C-contiguous float64 arrays (the images stacked as (N, H, W)) and walks the
valid output rows once. For each row it filters the Gaussian-weighted local moments, down the columns and then
along the row as the tensor code's :func:`semfuse.metrics.filters.separable_filter_valid` does. It forms the
products of the moment planes (x^2, xy, ...) as it reads them, with no full-size stack, and evaluates the
per-pixel formula while the row is in cache. The formulas and masks are those of :mod:`semfuse.metrics.vif` and
:mod:`semfuse.metrics.structural`, which document them; only the order of some floating-point sums differs.
"""

import math

import numba
import numpy as np

from semfuse.metrics.constants import KERNEL_OPTIONS, SSIM_C1, SSIM_C2, SSIM_WINDOW

_EPS = float(np.finfo(np.float64).eps)
_TINY = 1e-10
_NOISE_VARIANCE = 2.0
# A product of this many VIF terms, each at most 1 + 255^2 / 4 for 0-255 images, stays far below the float64 range.
_LOG_BLOCK = 32


@numba.njit(**KERNEL_OPTIONS)
def _column_pass(images, first, second, kernel, top, columns):
    """columns[p, j] = sum_u kernel[u] * x[top + u, j] * y[top + u, j], x = images[first[p]], y =
    images[second[p]] (no second factor where second[p] < 0): the filter down the columns of every plane."""
    taps, width = kernel.shape[0], images.shape[2]
    for plane in range(first.shape[0]):
        out = columns[plane]
        for j in range(width):
            out[j] = 0.0
        for u in range(taps):
            weight = kernel[u]
            x = images[first[plane], top + u]
            if second[plane] < 0:
                for j in range(width):
                    out[j] += weight * x[j]
            else:
                y = images[second[plane], top + u]
                for j in range(width):
                    out[j] += weight * (x[j] * y[j])


@numba.njit(**KERNEL_OPTIONS)
def _row_pass(columns, kernel, stride, out):
    """out[p, j] = sum_v kernel[v] * columns[p, j * stride + v]: the filter along the row, every stride-th output."""
    taps, width = kernel.shape[0], out.shape[1]
    for plane in range(out.shape[0]):
        source, target = columns[plane], out[plane]
        for j in range(width):
            target[j] = 0.0
        for v in range(taps):
            weight = kernel[v]
            if stride == 1:
                for j in range(width):
                    target[j] += weight * source[j + v]
            else:
                for j in range(width):
                    target[j] += weight * source[j * stride + v]


@numba.njit(**KERNEL_OPTIONS)
def filter_valid(images, kernel, stride):
    """Every (H, W) plane of images (N, H, W) correlated with outer(kernel, kernel), valid positions, every
    stride-th row and column: (N, (H - k) // stride + 1, (W - k) // stride + 1)."""
    planes, height, width = images.shape
    taps = kernel.shape[0]
    rows, cols = (height - taps) // stride + 1, (width - taps) // stride + 1
    first = np.arange(planes)
    second = np.full(planes, -1)
    columns = np.empty((planes, width))
    row = np.empty((planes, cols))
    out = np.empty((planes, rows, cols))
    for i in range(rows):
        _column_pass(images, first, second, kernel, i * stride, columns)
        _row_pass(columns, kernel, stride, row)
        for plane in range(planes):
            out[plane, i] = row[plane]
    return out


@numba.njit(**KERNEL_OPTIONS)
def _log_sum(terms, count):
    """sum(log(terms[:count])) for terms >= 1, as the logs of products of up to _LOG_BLOCK terms (one log call per
    block instead of one per term); a block whose product leaves the safe range is summed term by term."""
    total = 0.0
    for start in range(0, count, _LOG_BLOCK):
        stop = min(start + _LOG_BLOCK, count)
        p0 = p1 = p2 = p3 = 1.0
        j = start
        while j + 4 <= stop:
            p0 *= terms[j]
            p1 *= terms[j + 1]
            p2 *= terms[j + 2]
            p3 *= terms[j + 3]
            j += 4
        while j < stop:
            p0 *= terms[j]
            j += 1
        product = (p0 * p1) * (p2 * p3)
        if product < 1e300:  # False for inf and NaN too
            total += math.log(product)
        else:
            for q in range(start, stop):
                total += math.log(terms[q])
    return total


@numba.njit(**KERNEL_OPTIONS)
def _moment_planes(k):
    """The factors of the planes of semfuse.metrics.filters.moment_stack for K references and one more image (index
    K): x_r, d, x_r^2, d^2, x_r d (second factor -1: none)."""
    first = np.empty(3 * k + 2, dtype=np.int64)
    second = np.full(3 * k + 2, -1, dtype=np.int64)
    for r in range(k):
        first[r] = r
        first[k + 1 + r] = r
        second[k + 1 + r] = r
        first[2 * k + 2 + r] = r
        second[2 * k + 2 + r] = k
    first[k] = k
    first[2 * k + 1] = k
    second[2 * k + 1] = k
    return first, second


@numba.njit(**KERNEL_OPTIONS)
def _moment_buffers(images, kernel):
    """For images (K + 1, H, W) and a k-tap kernel: K, the number of valid rows, the factors of the moment planes
    (:func:`_moment_planes`) and the row buffers (3K + 2, W) and (3K + 2, w) that :func:`_moment_row` fills."""
    count, height, width = images.shape
    k = count - 1
    taps = kernel.shape[0]
    first, second = _moment_planes(k)
    return k, height - taps + 1, first, second, np.empty((3 * k + 2, width)), np.empty((3 * k + 2, width - taps + 1))


@numba.njit(**KERNEL_OPTIONS)
def _moment_row(images, kernel, row, first, second, columns, moments):
    """The local means of the moment planes along valid output row ``row``, into moments (3K + 2, w)."""
    _column_pass(images, first, second, kernel, row, columns)
    _row_pass(columns, kernel, 1, moments)


@numba.njit(**KERNEL_OPTIONS)
def vif_scale_sums(images, kernel):
    """VIF's natural-log sums at one scale: images (K + 1, H, W) = K references then the distorted image, each
    centred; returns (numerator (K,), denominator (K,)), the sums of ln(1 + g^2 sigma1^2 / (sv^2 + sigma_n^2)) and
    of ln(1 + sigma1^2 / sigma_n^2) over the valid windows (see semfuse.metrics.vif._information)."""
    k, rows, first, second, columns, moments = _moment_buffers(images, kernel)
    cols = moments.shape[1]
    information = np.empty(cols)
    variance = np.empty(cols)
    numerator = np.zeros(k)
    denominator = np.zeros(k)
    for i in range(rows):
        _moment_row(images, kernel, i, first, second, columns, moments)
        mu2, square2 = moments[k], moments[2 * k + 1]
        for r in range(k):
            mu1, square1, product = moments[r], moments[k + 1 + r], moments[2 * k + 2 + r]
            for j in range(cols):
                sigma1_sq = square1[j] - mu1[j] * mu1[j]
                sigma2_sq = max(square2[j] - mu2[j] * mu2[j], 0.0)
                sigma12 = product[j] - mu1[j] * mu2[j]
                if not sigma1_sq >= _TINY:
                    sigma1_sq = 0.0
                gain = sigma12 / (sigma1_sq + _TINY) if sigma2_sq >= _TINY else 0.0
                gain = max(gain, 0.0)
                noise = max(sigma2_sq - gain * sigma12, _TINY) + _NOISE_VARIANCE
                information[j] = 1.0 + gain * gain * sigma1_sq / noise
                variance[j] = 1.0 + sigma1_sq / _NOISE_VARIANCE
            numerator[r] += _log_sum(information, cols)
            denominator[r] += _log_sum(variance, cols)
    return numerator, denominator


@numba.njit(**KERNEL_OPTIONS)
def mef_prepare(images, kernel, top, count, moments, variations, scales, consistency):
    """The first half of MEF-SSIM for the output rows top .. top + count - 1; the caller applies the transcendental
    functions (vectorised by numpy) between :func:`mef_prepare` and :func:`mef_finish`.

    images: (3, H, W) = x1, x2, F, centred. Fills the first ``count`` rows of, for each valid column:
    moments (9, n, w): the Gaussian-weighted local means of x1 x2 x1^2 x2^2 x1x2 F F^2 x1F x2F;
    variations (3, n, w): V11, V22, V12 = area * box sum(x_k x_l) - box sum(x_k) box sum(x_l) (exact for integer
    and dyadic data, so flat patches give exactly 0); scales (2, n, w): ed_k = ||x_k - mu_k|| + 0.001;
    consistency (n, w): R clamped at 1. See semfuse.metrics.structural._mef_ssim_map.
    """
    width = images.shape[2]
    taps = kernel.shape[0]
    cols = moments.shape[2]
    area = float(taps * taps)
    inverse_area = 1.0 / area
    first = np.array([0, 1, 0, 1, 0, 2, 2, 0, 1])
    second = np.array([-1, -1, 0, 1, 1, -1, 2, 2, 2])
    ones = np.ones(taps)
    columns = np.empty((9, width))
    row = np.empty((9, cols))
    box_columns = np.empty((5, width))
    sums = np.empty((5, cols))
    for i in range(count):
        _column_pass(images, first, second, kernel, top + i, columns)
        _row_pass(columns, kernel, 1, row)
        for plane in range(9):
            moments[plane, i] = row[plane]
        _column_pass(images, first[:5], second[:5], ones, top + i, box_columns)
        _row_pass(box_columns, ones, 1, sums)
        for j in range(cols):
            s1, s2 = sums[0, j], sums[1, j]
            v11 = sums[2, j] * area - s1 * s1
            v22 = sums[3, j] * area - s2 * s2
            v12 = sums[4, j] * area - s1 * s2
            norm1 = math.sqrt(max(v11, 0.0) * inverse_area)
            norm2 = math.sqrt(max(v22, 0.0) * inverse_area)
            norm_sum = math.sqrt(max(v11 + v22 + 2.0 * v12, 0.0) * inverse_area)
            variations[0, i, j] = v11
            variations[1, i, j] = v22
            variations[2, i, j] = v12
            scales[0, i, j] = norm1 + 0.001
            scales[1, i, j] = norm2 + 0.001
            consistency[i, j] = min((norm_sum + _EPS) / (norm1 + norm2 + _EPS), 1.0)


@numba.njit(**KERNEL_OPTIONS)
def mef_finish(count, moments, variations, scales, weights, constant, offsets, with_ssim):
    """The second half of MEF-SSIM (see :func:`mef_prepare`): with weights (2, n, w) = (ed_k / 11)^p, the sum of
    the MEF-SSIM map q over the first ``count`` rows, and the (2,) sums of Wang's SSIM maps of each source against F
    if ``with_ssim`` (offsets (3,): the amounts the images were centred by)."""
    cols = moments.shape[2]
    inverse_area = 1.0 / (SSIM_WINDOW * SSIM_WINDOW)
    c1_ssim, c2_ssim = SSIM_C1, SSIM_C2
    total = 0.0
    ssim = np.zeros(2)
    for i in range(count):
        row_total = 0.0
        row_ssim0 = 0.0
        row_ssim1 = 0.0
        for j in range(cols):
            v11, v22, v12 = variations[0, i, j], variations[1, i, j], variations[2, i, j]
            ed1, ed2 = scales[0, i, j], scales[1, i, j]
            w1 = weights[0, i, j] + _EPS
            w2 = weights[1, i, j] + _EPS
            weight_sum = w1 + w2
            c1 = w1 / (weight_sum * ed1)
            c2 = w2 / (weight_sum * ed2)
            c11, c12, c22 = c1 * c1, c1 * c2, c2 * c2
            r_norm = math.sqrt(max(c11 * v11 + 2.0 * c12 * v12 + c22 * v22, 0.0) * inverse_area)
            scale = max(ed1, ed2) / r_norm if r_norm > 0.0 else 1.0
            g0, g1, g5 = moments[0, i, j], moments[1, i, j], moments[5, i, j]
            cov11 = moments[2, i, j] - g0 * g0
            cov22 = moments[3, i, j] - g1 * g1
            cov12 = moments[4, i, j] - g0 * g1
            var_f = moments[6, i, j] - g5 * g5
            cov1f = moments[7, i, j] - g0 * g5
            cov2f = moments[8, i, j] - g1 * g5
            var_r = (c11 * cov11 + 2.0 * c12 * cov12 + c22 * cov22) * (scale * scale)
            cov_rf = (c1 * cov1f + c2 * cov2f) * scale
            row_total += (2.0 * cov_rf + constant) / (var_r + var_f + constant)
            if with_ssim:
                mu_f = g5 + offsets[2]
                mu_a, mu_b = g0 + offsets[0], g1 + offsets[1]
                base_f = mu_f * mu_f
                row_ssim0 += ((2.0 * mu_a * mu_f + c1_ssim) * (2.0 * cov1f + c2_ssim)) / (
                    (mu_a * mu_a + base_f + c1_ssim) * (cov11 + var_f + c2_ssim)
                )
                row_ssim1 += ((2.0 * mu_b * mu_f + c1_ssim) * (2.0 * cov2f + c2_ssim)) / (
                    (mu_b * mu_b + base_f + c1_ssim) * (cov22 + var_f + c2_ssim)
                )
        total += row_total
        ssim[0] += row_ssim0
        ssim[1] += row_ssim1
    return total, ssim


@numba.njit(**KERNEL_OPTIONS)
def ssim_sums(images, kernel, offsets):
    """Sums of Wang's SSIM map of each of K references against one image: images (K + 1, H, W) = the references
    then the image, centred on offsets (K + 1,) (the amounts subtracted); returns ((K,) sums, number of windows).
    See semfuse.metrics.structural._ssim_per_reference."""
    k, rows, first, second, columns, moments = _moment_buffers(images, kernel)
    cols = moments.shape[1]
    c1, c2 = SSIM_C1, SSIM_C2
    sums = np.zeros(k)
    for i in range(rows):
        _moment_row(images, kernel, i, first, second, columns, moments)
        mu2, square2 = moments[k], moments[2 * k + 1]
        for r in range(k):
            mu1, square1, product = moments[r], moments[k + 1 + r], moments[2 * k + 2 + r]
            row_sum = 0.0
            for j in range(cols):
                sigma1_sq = square1[j] - mu1[j] * mu1[j]
                sigma2_sq = square2[j] - mu2[j] * mu2[j]
                sigma12 = product[j] - mu1[j] * mu2[j]
                mean1, mean2 = mu1[j] + offsets[r], mu2[j] + offsets[k]
                row_sum += ((2.0 * mean1 * mean2 + c1) * (2.0 * sigma12 + c2)) / (
                    (mean1 * mean1 + mean2 * mean2 + c1) * (sigma1_sq + sigma2_sq + c2)
                )
            sums[r] += row_sum
    return sums, rows * cols
