"""Constants of the metric panel, in one leaf module (it imports nothing from semfuse, so the tensor code and the
compiled kernels both read them without importing each other).

SSIM (Wang et al. 2004, ``ssim_index.m``): an 11x11 Gaussian window of sigma 1.5 over valid positions only,
``C1 = (K1 L)^2`` and ``C2 = (K2 L)^2`` with ``K1 = 0.01``, ``K2 = 0.03`` and ``L = 255``.

Qabf (Xydeas & Petrovic 2000) and Nabf (Kumar's modified version) as the reference MATLAB code sets them.
"""

from typing import Any

SSIM_WINDOW = 11  # side of the Gaussian window
SSIM_SIGMA = 1.5  # its standard deviation
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_L = 255  # dynamic range of the 0-255 scale
SSIM_C1 = (SSIM_K1 * SSIM_L) ** 2
SSIM_C2 = (SSIM_K2 * SSIM_L) ** 2

QABF_CONSTANTS = {"Tg": 0.9994, "kg": -15.0, "Dg": 0.5, "Ta": 0.9879, "ka": -22.0, "Da": 0.8}
NABF_CONSTANTS = {
    "Td": 2.0, "wt_min": 0.001, "Lg": 1.5, "Nrg": 0.9999, "kg": 19.0, "sigma_g": 0.5,
    "Nra": 0.9995, "ka": 22.0, "sigma_a": 0.5,
}  # fmt: skip

# Options of every compiled kernel (numba.njit): FMA contraction only, so no reassociation, and NaN / infinity keep
# their meaning; error_model "numpy": x / 0 gives inf or NaN (IEEE), as in the tensor code, instead of raising.
KERNEL_OPTIONS: dict[str, Any] = {"nogil": True, "cache": True, "fastmath": {"contract"}, "error_model": "numpy"}
