"""Compiled (numba) CPU kernel of Qabf and Nabf; see :mod:`semfuse.metrics.compiled`.

:func:`edge_sums` takes one image triplet as C-contiguous (H, W) float64 arrays (ir, vis, fused) and walks their
rows once. For each row it forms the Sobel responses of the three images with zero padding (Qabf) and,
on the border only, where they differ, with the mirror padding that does not repeat the edge (Nabf); then it
evaluates both per-pixel formulas while the row is in cache. The formulas, masks and special cases are those of
:mod:`semfuse.metrics.gradient`, which documents them. The Sobel sums are added in its order, so integer images
give the same edge strengths g bit for bit, and the tests where g decides (g_X == g_F, g >= T_d, na) agree.

Speed. The formulas' cost is in their divisions and transcendental functions: per pixel Qabf needs 3 arctangents
and 4 exponentials; Nabf only needs its own where the fused image has an artifact (na = 1, about 1% of the pixels
of a plain fusion), which a scalar pass visits. Scalar libm calls take 4-9 ns each, so :func:`_exp` and
:func:`_atan_of_ratio` are branch-free polynomial versions (a few units in the last place) that the compiler turns
into SIMD code with the rest of a row's loop, and the divisions are merged (one per arctangent, one per Q^XF), as
SIMD division is slow too. Rounding differs from the tensor code by a few units in the last place per pixel; the
sums are taken per row, then across rows with compensation, to keep the ratios within 1e-13 of the tensor code's.
"""

import math

import numba
import numpy as np
from numba import types

from semfuse.metrics.constants import KERNEL_OPTIONS, NABF_CONSTANTS, QABF_CONSTANTS

# Helpers of the SIMD loops are inlined by numba (inline="always"): the loop vectorizer only sees one function. The
# scalar helpers (border pixels, artifact pixels) stay calls: every inlined copy lengthens the first compile. The
# helpers called with constant flags or indices carry their signature: numba would otherwise compile one more copy
# for each constant (Literal[bool](True), Literal[int](0), ...).
_IMAGE = types.Array(types.float64, 2, "C", readonly=True)  # an (H, W) image (writable arrays convert)
_PLANES = types.Array(types.float64, 2, "C")  # (3, W) row buffers, one row per image

_HALF_PI = math.pi / 2
_TWO_OVER_PI = 2 / math.pi
_QUARTER_PI = math.pi / 4
_EIGHTH_PI = math.pi / 8
_TAN_EIGHTH_PI = 0.41421356237309503  # tan(pi / 8)
_TAN_SIXTEENTH_PI = 0.198912367379658  # tan(pi / 16)
# atan(w) = sum_n (-1)^n w^(2n+1) / (2n+1); for |w| <= tan(pi/16) the terms after w^21 are below 1e-17 |w|.
_ATAN_TERMS = tuple((-1) ** n / (2 * n + 1) for n in range(11))
_LOG2_E = 1 / math.log(2)
_LN2_HIGH = 0.6931467056274414  # ln 2 to 20 bits: k * _LN2_HIGH is exact for |k| < 2^32
_LN2_LOW = 4.7493250390316726e-07  # ln 2 - _LN2_HIGH
# exp(r) = sum_n r^n / n!; for |r| <= ln(2) / 2 the terms after r^13 are below 1e-17.
_EXP_TERMS = tuple(1 / math.factorial(n) for n in range(14))
# A logistic function only needs e^x for |x| <= 40: beyond, 1 + e^-40 rounds to 1 as 1 + e^x does.
_EXP_LIMIT = 40.0
_LARGEST = float(np.finfo(np.float64).max)

_Q_TG, _Q_KG, _Q_DG = QABF_CONSTANTS["Tg"], QABF_CONSTANTS["kg"], QABF_CONSTANTS["Dg"]
_Q_TA, _Q_KA, _Q_DA = QABF_CONSTANTS["Ta"], QABF_CONSTANTS["ka"], QABF_CONSTANTS["Da"]
_N_TD, _N_WT_MIN = NABF_CONSTANTS["Td"], NABF_CONSTANTS["wt_min"]
_N_NRG, _N_KG, _N_SIGMA_G = NABF_CONSTANTS["Nrg"], NABF_CONSTANTS["kg"], NABF_CONSTANTS["sigma_g"]
_N_NRA, _N_KA, _N_SIGMA_A = NABF_CONSTANTS["Nra"], NABF_CONSTANTS["ka"], NABF_CONSTANTS["sigma_a"]
if NABF_CONSTANTS["Lg"] != 1.5:
    raise ImportError("the Nabf kernel computes the weights g^Lg as g sqrt(g): Lg must be 1.5")


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _minimum(a, b):
    """min(a, b), NaN if either is NaN (torch.minimum)."""
    return a if (a < b or math.isnan(a)) else b


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _maximum(a, b):
    """max(a, b), NaN if either is NaN (torch.maximum)."""
    return a if (a > b or math.isnan(a)) else b


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _exp(x):
    """e^x for |x| <= _EXP_LIMIT (callers clamp), NaN for NaN: x = k ln 2 + r, |r| <= ln(2) / 2, e^x = 2^k e^r.

    2^k is built exactly without a bit cast, as the product of two powers of two from integer shifts.
    """
    k = np.floor(x * _LOG2_E + 0.5)
    r = (x - k * _LN2_HIGH) - k * _LN2_LOW
    # Horner's scheme written out: constant indices are resolved when compiling (a loop would index at run time)
    e = _EXP_TERMS
    p = ((((((e[13] * r + e[12]) * r + e[11]) * r + e[10]) * r + e[9]) * r + e[8]) * r + e[7]) * r + e[6]
    p = (((((p * r + e[5]) * r + e[4]) * r + e[3]) * r + e[2]) * r + e[1]) * r + e[0]
    exponent = np.int64(k) if abs(k) <= 60.0 else np.int64(0)  # NaN: any finite scale, p is NaN
    half = exponent >> 1
    scale = float(np.int64(1) << (half + 30)) * float(np.int64(1) << (exponent - half + 30))
    return p * scale * (2.0**-60)


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _logistic_denominator(x):
    """1 + e^-x, whose reciprocal is torch.sigmoid(x); 1 for x > 40 and 1 + e^40 for x < -40 (to rounding)."""
    z = -x
    # not min() / max(), which do not keep NaN
    z = _EXP_LIMIT if z > _EXP_LIMIT else z  # noqa: FURB136
    z = -_EXP_LIMIT if z < -_EXP_LIMIT else z  # noqa: FURB136
    return 1.0 + _exp(z)


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _atan_of_ratio(numerator, denominator):
    """atan(numerator / denominator) in [0, pi/2] for numerator, denominator >= 0, not both 0 (pi/2 for n / 0),
    to about 2e-16 absolute, with a single division.

    The ratio u = n / d is reduced three times without branches, each step a new fraction p / q:
    atan u = pi/2 - atan(1/u) above 1, atan u = pi/4 + atan((u - 1) / (u + 1)) above tan(pi/8), and
    atan v = +-pi/8 + atan((v -+ c) / (1 +- v c)), c = tan(pi/8), above tan(pi/16) in magnitude; then the Taylor
    series of atan w for |w| <= tan(pi/16).
    """
    flipped = numerator > denominator
    p = denominator if flipped else numerator
    q = numerator if flipped else denominator  # p / q in [0, 1]
    big = p > _TAN_EIGHTH_PI * q
    p, q = (p - q, p + q) if big else (p, q)  # [-tan(pi/8), tan(pi/8)]
    step = abs(p) > _TAN_SIXTEENTH_PI * q
    c = math.copysign(_TAN_EIGHTH_PI, p)
    p, q = (p - c * q, q + c * p) if step else (p, q)  # (q = inf stays inf: 1 / inf = 0)
    w = p / q  # |w| <= tan(pi/16)
    w2 = w * w
    a = _ATAN_TERMS
    series = (((((a[10] * w2 + a[9]) * w2 + a[8]) * w2 + a[7]) * w2 + a[6]) * w2 + a[5]) * w2 + a[4]
    series = (((series * w2 + a[3]) * w2 + a[2]) * w2 + a[1]) * w2 + a[0]
    angle = (_QUARTER_PI if big else 0.0) + ((math.copysign(_EIGHTH_PI, c) if step else 0.0) + series * w)
    return _HALF_PI - angle if flipped else angle


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _atan(t):
    """atan(t) for any t: +-pi/2 at +-inf, NaN for NaN."""
    angle = _atan_of_ratio(abs(t), 1.0)
    return t if math.isnan(t) else math.copysign(angle, t)


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _qabf_orientation(sx, sy):
    """atan(sy / sx), and pi/2 where the ratio is not finite (gradient._qabf_edges)."""
    angle = _atan_of_ratio(abs(sy), abs(sx))
    sign = math.copysign(1.0, sx) * math.copysign(1.0, sy)  # the sign of sy / sx
    angle = math.copysign(angle, sign)
    # sy / sx is +-inf or NaN: sx = 0, |sy| = inf, a NaN, or an overflow (sx = +-inf gives +-0, a finite ratio)
    not_finite = abs(sy) > _LARGEST * abs(sx) or abs(sy) > _LARGEST or math.isnan(sx) or math.isnan(sy)
    return _HALF_PI if (sx == 0.0 or not_finite) else angle


@numba.njit(**KERNEL_OPTIONS)
def _nabf_orientation(sx, sy):
    """atan(gv / gh) = atan(-sx / sy): +-pi/2 where sy = 0, 0 where sx = sy = 0 (gradient._nabf_edges)."""
    t = -sx / sy
    return 0.0 if math.isnan(t) else _atan(t)


@numba.njit(**KERNEL_OPTIONS)
def _pixel(image, r, c, reflect):
    """image[r, c], or the padding outside: 0, or the mirror image without the edge (row -1 = row 1)."""
    height, width = image.shape
    if reflect:
        r = 1 if r < 0 else (height - 2 if r >= height else r)
        c = 1 if c < 0 else (width - 2 if c >= width else c)
        return image[r, c]
    if r < 0 or r >= height or c < 0 or c >= width:
        return 0.0
    return image[r, c]


@numba.njit(types.UniTuple(types.float64, 2)(_IMAGE, types.int64, types.int64, types.boolean), **KERNEL_OPTIONS)
def _sobel_at(image, i, j, reflect):
    """(sx, sy) at (i, j) with padding, in the order of gradient._sobel: differences x[j-1] - x[j+1] and
    smoothings (x[j-1] + x[j+1]) + 2 x[j] along the rows, then [1 2 1] and [-1 0 1] down the columns."""
    d0 = _pixel(image, i - 1, j - 1, reflect) - _pixel(image, i - 1, j + 1, reflect)
    d1 = _pixel(image, i, j - 1, reflect) - _pixel(image, i, j + 1, reflect)
    d2 = _pixel(image, i + 1, j - 1, reflect) - _pixel(image, i + 1, j + 1, reflect)
    s0 = _pixel(image, i - 1, j - 1, reflect) + _pixel(image, i - 1, j + 1, reflect)
    s2 = _pixel(image, i + 1, j - 1, reflect) + _pixel(image, i + 1, j + 1, reflect)
    s0 = s0 + 2.0 * _pixel(image, i - 1, j, reflect)
    s2 = s2 + 2.0 * _pixel(image, i + 1, j, reflect)
    return (d0 + d2) + 2.0 * d1, s2 - s0


@numba.njit(types.void(types.UniTuple(_IMAGE, 3), types.int64, types.boolean, _PLANES, _PLANES), **KERNEL_OPTIONS)
def _sobel_row(images, i, reflect, sx, sy):
    """sx[k, j], sy[k, j]: the Sobel responses of row i of each image k of the tuple, padded as ``reflect`` says."""
    height, width = images[0].shape
    inside = 1 <= i < height - 1
    for k in range(3):
        image = images[k]
        if inside:  # no padding but at the two ends
            above, here, below = image[i - 1], image[i], image[i + 1]
            out_x, out_y = sx[k], sy[k]
            for j in range(1, width - 1):
                d0 = above[j - 1] - above[j + 1]
                d1 = here[j - 1] - here[j + 1]
                d2 = below[j - 1] - below[j + 1]
                s0 = (above[j - 1] + above[j + 1]) + 2.0 * above[j]
                s2 = (below[j - 1] + below[j + 1]) + 2.0 * below[j]
                out_x[j] = (d0 + d2) + 2.0 * d1
                out_y[j] = s2 - s0
            sx[k, 0], sy[k, 0] = _sobel_at(image, i, 0, reflect)
            sx[k, width - 1], sy[k, width - 1] = _sobel_at(image, i, width - 1, reflect)
        else:
            for j in range(width):
                sx[k, j], sy[k, j] = _sobel_at(image, i, j, reflect)


@numba.njit(inline="always", **KERNEL_OPTIONS)
def _strength(sx, sy):
    """sqrt(sx^2 + sy^2) (gradient._strength)."""
    return math.sqrt(sx * sx + sy * sy)


@numba.njit(**KERNEL_OPTIONS)
def _strength_row(sx, sy, scale, strength):
    """strength[k, j] = sqrt(sx^2 + sy^2) * scale (scale 1 or 1/8, exact)."""
    for k in range(3):
        x, y, out = sx[k], sy[k], strength[k]
        for j in range(x.shape[0]):
            out[j] = _strength(x[j], y[j]) * scale


@numba.njit(**KERNEL_OPTIONS)
def _scale_row(values, scale, out):
    """out = values * scale, element by element."""
    for k in range(values.shape[0]):
        for j in range(values.shape[1]):
            out[k, j] = values[k, j] * scale


@numba.njit(**KERNEL_OPTIONS)
def _qabf_row(sx, sy, strength, numerator, denominator):
    """Per pixel of a row, from its zero-padded Sobel responses and strengths: sum_X Q^XF g_X and sum_X g_X."""
    for j in range(sx.shape[1]):
        g_a, g_b, g_f = strength[0, j], strength[1, j], strength[2, j]
        alpha_a = _qabf_orientation(sx[0, j], sy[0, j])
        alpha_b = _qabf_orientation(sx[1, j], sy[1, j])
        alpha_f = _qabf_orientation(sx[2, j], sy[2, j])
        top = 0.0
        for g_x, alpha_x in ((g_a, alpha_a), (g_b, alpha_b)):
            ratio = _minimum(g_x, g_f) / _maximum(g_x, g_f)
            ratio = g_f if g_x == g_f else ratio  # G^XF, g_F where equal (0 / 0 included)
            angle = 1.0 - abs(alpha_x - alpha_f) * _TWO_OVER_PI  # A^XF
            # Q^XF g_X = Tg / (1 + e^{kg (G - Dg)}) * Ta / (1 + e^{ka (A - Da)}) * g_X, with one division
            strength_part = _logistic_denominator((ratio - _Q_DG) * -_Q_KG)
            angle_part = _logistic_denominator((angle - _Q_DA) * -_Q_KA)
            top += (_Q_TG * _Q_TA) * g_x / (strength_part * angle_part)
        numerator[j] = top
        denominator[j] = g_a + g_b


@numba.njit(**KERNEL_OPTIONS)
def _nabf_weights(strength, denominator):
    """denominator[j] = w_A + w_B, w = g^1.5 (as g sqrt(g)) where g >= T_d, else wt_min."""
    for j in range(strength.shape[1]):
        g_a, g_b = strength[0, j], strength[1, j]
        w_a = math.sqrt(g_a) * g_a if g_a >= _N_TD else _N_WT_MIN
        w_b = math.sqrt(g_b) * g_b if g_b >= _N_TD else _N_WT_MIN
        denominator[j] = w_a + w_b


@numba.njit(**KERNEL_OPTIONS)
def _nabf_artifacts(sx, sy, strength, numerator, visit):
    """numerator[j] = sum_X na (1 - Q^XF) w_X from the mirror-padded Sobel responses and strengths of a row.

    Only the pixels with na = 1 are evaluated (listed first in ``visit``, scratch of the row's width, so that the
    compiler does not evaluate every pixel under a mask), and those whose strengths are not finite (NaN or inf),
    where the tensor code's product with na = 0 is NaN: the others add exactly 0.
    """
    count = 0
    for j in range(sx.shape[1]):
        numerator[j] = 0.0
        g_a, g_b, g_f = strength[0, j], strength[1, j], strength[2, j]
        if (g_f > g_a and g_f > g_b) or not (g_a <= _LARGEST and g_b <= _LARGEST and g_f <= _LARGEST):
            visit[count] = j
            count += 1
    for n in range(count):
        j = visit[n]
        g_a, g_b, g_f = strength[0, j], strength[1, j], strength[2, j]
        artifact = 1.0 if (g_f > g_a and g_f > g_b) else 0.0
        alpha_f = _nabf_orientation(sx[2, j], sy[2, j])
        top = 0.0
        for k in range(2):
            g_x = strength[k, j]
            ratio = _minimum(g_x, g_f) / max(_maximum(g_x, g_f), 1e-300)
            angle = abs(abs(_nabf_orientation(sx[k, j], sy[k, j]) - alpha_f) - _HALF_PI) * _TWO_OVER_PI
            # Q^XF = sqrt(Nrg / (1 + e^{-kg (g - sigma_g)}) * Nra / (1 + e^{-ka (alpha - sigma_a)}))
            parts = _logistic_denominator((ratio - _N_SIGMA_G) * _N_KG) * _logistic_denominator(
                (angle - _N_SIGMA_A) * _N_KA
            )
            q = math.sqrt((_N_NRG * _N_NRA) / parts)
            weight = math.sqrt(g_x) * g_x if g_x >= _N_TD else _N_WT_MIN
            top += (1.0 - q) * weight * artifact
        numerator[j] = top


@numba.njit(**KERNEL_OPTIONS)
def _row_sum(values):
    """Sum of a row in four interleaved partial sums (shorter chains: faster, and rounding grows more slowly)."""
    partial = np.zeros(4)
    width = values.shape[0]
    for j in range(0, width - 3, 4):
        for lane in range(4):
            partial[lane] += values[j + lane]
    total = (partial[0] + partial[1]) + (partial[2] + partial[3])
    for j in range(width - width % 4, width):
        total += values[j]
    return total


@numba.njit(**KERNEL_OPTIONS)
def _accumulate(sums, compensation, values):
    """sums += values with Neumaier's compensation (the lost low-order parts kept in compensation)."""
    for index in range(sums.shape[0]):
        value = values[index]
        total = sums[index] + value
        if abs(sums[index]) >= abs(value):
            compensation[index] += (sums[index] - total) + value
        else:
            compensation[index] += (value - total) + sums[index]
        sums[index] = total


@numba.njit(**KERNEL_OPTIONS)
def edge_sums(ir, vis, fused, with_qabf, with_nabf):
    """Qabf's and Nabf's sums over one triplet: (Qabf numerator, Qabf denominator, Nabf numerator, Nabf denominator).

    Args:
        ir: C-contiguous float64 array of shape (H, W) on the 0-255 scale; H, W >= 2 for Nabf.
        vis: the same for the visible image.
        fused: the same for the fused image.
        with_qabf: compute Qabf's sums (else they are 0).
        with_nabf: compute Nabf's sums (else they are 0).

    Qabf = numerator / denominator, Nabf likewise (NaN for 0 / 0, as in the tensor code).
    """
    images = (ir, vis, fused)
    height, width = fused.shape
    sx, sy, strength = np.empty((3, width)), np.empty((3, width)), np.empty((3, width))
    mirror_x, mirror_y, mirror_strength = np.empty((3, width)), np.empty((3, width)), np.empty((3, width))
    numerator, denominator = np.empty(width), np.empty(width)
    visit = np.empty(width, dtype=np.int64)
    sums, compensation, row = np.zeros(4), np.zeros(4), np.zeros(4)
    for i in range(height):
        _sobel_row(images, i, False, sx, sy)
        _strength_row(sx, sy, 1.0, strength)
        if with_qabf:
            _qabf_row(sx, sy, strength, numerator, denominator)
            row[0], row[1] = _row_sum(numerator), _row_sum(denominator)
        if with_nabf:
            if 1 <= i < height - 1:  # inside the image the paddings differ at the two ends only
                mirror_x[:], mirror_y[:] = sx, sy
                _scale_row(strength, 0.125, mirror_strength)  # g / 8: exact
                for k in range(3):
                    for j in (0, width - 1):
                        mirror_x[k, j], mirror_y[k, j] = _sobel_at(images[k], i, j, True)
                        mirror_strength[k, j] = _strength(mirror_x[k, j], mirror_y[k, j]) * 0.125
            else:
                _sobel_row(images, i, True, mirror_x, mirror_y)
                _strength_row(mirror_x, mirror_y, 0.125, mirror_strength)
            _nabf_weights(mirror_strength, denominator)
            _nabf_artifacts(mirror_x, mirror_y, mirror_strength, numerator, visit)
            row[2], row[3] = _row_sum(numerator), _row_sum(denominator)
        _accumulate(sums, compensation, row)
    return sums[0] + compensation[0], sums[1] + compensation[1], sums[2] + compensation[2], sums[3] + compensation[3]
