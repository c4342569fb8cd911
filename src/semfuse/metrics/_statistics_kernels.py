"""Compiled (numba) CPU kernels of MI, CC, SCD, MSE and AG; see :mod:`semfuse.metrics.compiled`.

Each takes one image (or a pair / triplet) as C-contiguous (H, W) arrays (float64; uint8 grey levels for MI) and
makes one or two passes over it, where the tensor code makes a dozen (a mean, a subtraction, a product, a sum,
...). The formulas are those of :mod:`semfuse.metrics.information`, :mod:`semfuse.metrics.correlation`,
:mod:`semfuse.metrics.error` and :mod:`semfuse.metrics.statistics`. Sums are taken per row (in four interleaved
partial sums where the loop allows) and then across rows, so their rounding stays of the size of the tensor code's.
"""

import math

import numba
import numpy as np

from semfuse.metrics.constants import KERNEL_OPTIONS


@numba.njit(**KERNEL_OPTIONS)
def _difference_mean(x, minus, subtract):
    """mean(x - minus) (mean(x) unless ``subtract``) over (H, W) arrays."""
    height, width = x.shape
    total = 0.0
    for i in range(height):
        a0 = a1 = a2 = a3 = 0.0
        j = 0
        while j + 4 <= width:
            if subtract:
                a0 += x[i, j] - minus[i, j]
                a1 += x[i, j + 1] - minus[i, j + 1]
                a2 += x[i, j + 2] - minus[i, j + 2]
                a3 += x[i, j + 3] - minus[i, j + 3]
            else:
                a0 += x[i, j]
                a1 += x[i, j + 1]
                a2 += x[i, j + 2]
                a3 += x[i, j + 3]
            j += 4
        while j < width:
            a0 += x[i, j] - minus[i, j] if subtract else x[i, j]
            j += 1
        total += (a0 + a1) + (a2 + a3)
    return total / (height * width)


@numba.njit(**KERNEL_OPTIONS)
def _centred_products(x, minus, y, subtract, mean_x, mean_y, i, j):
    """(dx dy, dx^2, dy^2) at (i, j), with dx = (x - minus) - mean_x (x - mean_x unless ``subtract``)."""
    dx = (x[i, j] - minus[i, j] if subtract else x[i, j]) - mean_x
    dy = y[i, j] - mean_y
    return dx * dy, dx * dx, dy * dy


@numba.njit(**KERNEL_OPTIONS)
def correlation(x, minus, y, subtract):
    """Pearson correlation of (x - minus) (x unless ``subtract``) with y over all pixels: (H, W) arrays; 0 / 0 = NaN
    where either is constant, as semfuse.metrics.correlation.row_correlation gives."""
    height, width = x.shape
    mean_x = _difference_mean(x, minus, subtract)
    mean_y = _difference_mean(y, y, False)
    sums = np.zeros(3)
    lanes = np.zeros((3, 4))
    for i in range(height):
        lanes[:] = 0.0
        j = 0
        while j + 4 <= width:
            for lane in range(4):
                xy, xx, yy = _centred_products(x, minus, y, subtract, mean_x, mean_y, i, j + lane)
                lanes[0, lane] += xy
                lanes[1, lane] += xx
                lanes[2, lane] += yy
            j += 4
        while j < width:
            xy, xx, yy = _centred_products(x, minus, y, subtract, mean_x, mean_y, i, j)
            lanes[0, 0] += xy
            lanes[1, 0] += xx
            lanes[2, 0] += yy
            j += 1
        for k in range(3):
            sums[k] += (lanes[k, 0] + lanes[k, 1]) + (lanes[k, 2] + lanes[k, 3])
    return sums[0] / math.sqrt(sums[1] * sums[2])


@numba.njit(**KERNEL_OPTIONS)
def squared_error(fused, source):
    """mean((fused / 255 - source / 255)^2) over (H, W) arrays (MSE against one source), as the sum of (fused -
    source)^2 divided by 255^2 once: exact up to that division for integer images."""
    height, width = fused.shape
    total = 0.0
    for i in range(height):
        a0 = a1 = a2 = a3 = 0.0
        j = 0
        while j + 4 <= width:
            d0 = fused[i, j] - source[i, j]
            d1 = fused[i, j + 1] - source[i, j + 1]
            d2 = fused[i, j + 2] - source[i, j + 2]
            d3 = fused[i, j + 3] - source[i, j + 3]
            a0 += d0 * d0
            a1 += d1 * d1
            a2 += d2 * d2
            a3 += d3 * d3
            j += 4
        while j < width:
            d0 = fused[i, j] - source[i, j]
            a0 += d0 * d0
            j += 1
        total += (a0 + a1) + (a2 + a3)
    return total / (255.0 * 255.0) / (height * width)


@numba.njit(**KERNEL_OPTIONS)
def _magnitude(gx, gy):
    return math.sqrt((gx * gx + gy * gy) / 2)


@numba.njit(**KERNEL_OPTIONS)
def average_gradient(image):
    """AG of an (H, W) array, H, W >= 2: sum sqrt((gx^2 + gy^2) / 2) / ((H - 1)(W - 1)), with MATLAB's
    ``gradient``: central differences inside, one-sided differences at both ends."""
    height, width = image.shape
    total = 0.0
    for i in range(height):
        below, above = max(i - 1, 0), min(i + 1, height - 1)
        halve = 0.5 if above - below == 2 else 1.0  # an end row: one-sided, not halved
        x, lower, upper = image[i], image[below], image[above]
        row = _magnitude(x[1] - x[0], (upper[0] - lower[0]) * halve)
        row += _magnitude(x[width - 1] - x[width - 2], (upper[width - 1] - lower[width - 1]) * halve)
        for j in range(1, width - 1):
            gx = (x[j + 1] - x[j - 1]) * 0.5
            gy = (upper[j] - lower[j]) * halve
            row += math.sqrt((gx * gx + gy * gy) / 2)
        total += row
    return total / ((height - 1) * (width - 1))


@numba.njit(**KERNEL_OPTIONS)
def _entropy_bits(counts, total):
    """-sum p log2 p over the nonzero counts of a (rows, bins) array, p = count / total; summed per row, then
    across rows."""
    entropy = 0.0
    for row in range(counts.shape[0]):
        partial = 0.0
        for count in counts[row]:
            if count > 0:
                p = count / total
                partial -= p * math.log(p)
        entropy += partial
    return entropy / math.log(2.0)


@numba.njit(**KERNEL_OPTIONS)
def mutual_information(fused, ir, vis):
    """MI of uint8 grey-level (H, W) arrays: sum over the sources of H(source) + H(F) - H(F, source), the joint
    histograms with levels 254 and 255 merged (semfuse.metrics.information)."""
    height, width = fused.shape
    total = float(height * width)
    fused_counts = np.zeros(256, dtype=np.int64)
    source_counts = np.zeros((2, 256), dtype=np.int64)
    joint = np.zeros((2, 255, 255), dtype=np.int64)
    for i in range(height):
        for j in range(width):
            f, a, b = fused[i, j], ir[i, j], vis[i, j]
            fused_counts[f] += 1
            source_counts[0, a] += 1
            source_counts[1, b] += 1
            row = min(f, 254)
            joint[0, row, min(a, 254)] += 1
            joint[1, row, min(b, 254)] += 1
    fused_entropy = _entropy_bits(fused_counts.reshape(1, 256), total)
    information = 0.0
    for source in range(2):
        information += _entropy_bits(source_counts[source : source + 1], total) + fused_entropy
        information -= _entropy_bits(joint[source], total)
    return information
