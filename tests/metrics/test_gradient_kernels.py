"""The compiled Qabf / Nabf kernel (semfuse.metrics._gradient_kernels) against the tensor code it replaces on the CPU.

The tensor code (run inside ``compiled_metrics(False)``) is the definition; the kernel must give the same values to
1e-12 relative on real pairs, random images and the special cases of the formulas: flat images (0 / 0), sx = 0,
sy = 0 and both, g_X == g_F, the smallest sizes and the borders (zero versus mirror padding). Its polynomial exp and
arctangent are checked against libm.
"""

import math

import numpy as np
import pytest
import torch

from semfuse.evaluation.fusion import load_grey_uint8
from semfuse.metrics import FUSION_METRICS, SHARED_METRICS, evaluate_metrics, nabf, qabf
from semfuse.metrics import _gradient_kernels as kernels
from semfuse.metrics.compiled import compiled_metrics, numba_available, use_compiled
from semfuse.metrics.gradient import qabf_and_nabf

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not available")

PAIRS = ("msrs_00004N.png", "msrs_00055D.png", "tno_05.png", "tno_37.png", "roadscene_FLIR_00006.jpg")


def _assert_close(compiled: torch.Tensor, reference: torch.Tensor, rtol: float = 1e-12) -> None:
    """Same shape and dtype, NaN where the reference is NaN, else within rtol relative (absolute near 0)."""
    assert compiled.shape == reference.shape and compiled.dtype == reference.dtype == torch.float64
    assert torch.equal(compiled.isnan(), reference.isnan()), (compiled, reference)
    finite = ~reference.isnan()
    error = (compiled[finite] - reference[finite]).abs() / reference[finite].abs().clamp_min(1e-300)
    assert error.numel() == 0 or float(error.max()) <= rtol, (compiled, reference)


def _both_paths(fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, with_nabf: bool = True) -> None:
    """qabf, nabf and qabf_and_nabf, compiled, equal the tensor code."""
    with compiled_metrics(False):
        expected_q = qabf(fused, ir, vis)
        expected_n = nabf(fused, ir, vis) if with_nabf else None
    with compiled_metrics(True):  # whatever SEMFUSE_COMPILED_METRICS says
        assert use_compiled(fused, ir, vis)
        _assert_close(qabf(fused, ir, vis), expected_q)
        if with_nabf:
            _assert_close(nabf(fused, ir, vis), expected_n)
            shared_q, shared_n = qabf_and_nabf(fused, ir, vis)
            _assert_close(shared_q, expected_q)
            _assert_close(shared_n, expected_n)


def _batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images))[:, None]  # (B, 1, H, W)


@pytest.mark.parametrize("name", PAIRS)
def test_compiled_equals_tensor_code_on_the_bundled_pairs(samples, name):
    ir = load_grey_uint8(samples / "ir" / name)
    vis = load_grey_uint8(samples / "vi" / name)
    average = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
    maximum = np.maximum(ir, vis)
    # average and max fusion as one batch of two, in uint8 and in float64
    fused, irs, viss = _batch(average, maximum), _batch(ir, ir), _batch(vis, vis)
    _both_paths(fused, irs, viss)
    _both_paths(*(image.to(torch.float64) for image in (fused, irs, viss)))


def test_the_panel_computes_qabf_and_nabf_together_as_their_own_functions(samples):
    ir = torch.from_numpy(load_grey_uint8(samples / "ir" / "tno_37.png"))[None, None]
    vis = torch.from_numpy(load_grey_uint8(samples / "vi" / "tno_37.png"))[None, None]
    fused = torch.maximum(ir, vis)
    assert SHARED_METRICS[("Qabf", "Nabf")] is qabf_and_nabf
    with compiled_metrics(True):
        scores = evaluate_metrics(fused, ir, vis, names="Nabf,Qabf")
    assert list(scores) == ["Nabf", "Qabf"]
    with compiled_metrics(False):
        for name in ("Qabf", "Nabf"):
            _assert_close(scores[name], FUSION_METRICS[name](fused, ir, vis))


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 2), (3, 3), (4, 9), (17, 5), (31, 40)])
@pytest.mark.parametrize("kind", ["grey levels", "fractions", "two levels"])
def test_compiled_equals_tensor_code_on_random_images(shape, kind):
    generator = torch.Generator().manual_seed(shape[0] * 100 + shape[1])
    if kind == "grey levels":
        images = torch.randint(0, 256, (3, 3, 1, *shape), generator=generator).to(torch.uint8)
    elif kind == "fractions":  # not integers: g and the ratios are rounded
        images = torch.rand((3, 3, 1, *shape), generator=generator, dtype=torch.float64) * 255
    else:  # 0 / 7 images: many sx = 0, sy = 0, 0 / 0 orientations and g_X == g_F
        images = torch.randint(0, 2, (3, 3, 1, *shape), generator=generator).to(torch.float64) * 7
    fused, ir, vis = images  # each (B = 3, 1, H, W)
    _both_paths(fused, ir, vis)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (1, 7), (6, 1), (2, 1)])
def test_qabf_of_a_single_row_or_column(shape):
    fused, ir, vis = torch.randint(0, 256, (3, 2, 1, *shape), generator=torch.Generator().manual_seed(3))
    _both_paths(fused.to(torch.float64), ir.to(torch.float64), vis.to(torch.float64), with_nabf=False)


def test_sources_equal_to_the_fused_image_with_fractional_values():
    # g_X == g_F at every pixel (the G = g_F case) with non-integer data, and F between the sources elsewhere
    generator = torch.Generator().manual_seed(5)
    fused = torch.rand((2, 1, 23, 29), generator=generator, dtype=torch.float64) * 255
    other = torch.rand((2, 1, 23, 29), generator=generator, dtype=torch.float64) * 255
    _both_paths(fused, fused, fused)
    _both_paths(fused, fused.clone(), other)


def test_flat_and_one_dimensional_images():
    flat = torch.full((1, 1, 12, 15), 40.0, dtype=torch.float64)
    ramp_x = torch.arange(15, dtype=torch.float64).mul(9).expand(1, 1, 12, 15).contiguous()  # sy = 0 inside
    ramp_y = torch.arange(12, dtype=torch.float64).mul(5)[:, None].expand(1, 1, 12, 15).contiguous()  # sx = 0 inside
    black = torch.zeros_like(flat)  # no edge even at the zero-padded border
    with compiled_metrics(False):
        assert qabf(black, black, black).isnan().all()  # no source edge: 0 / 0, kept as NaN
        assert qabf(flat, black, black).isnan().all()
    for fused, ir, vis in [
        (black, black, black),
        (flat, black, black),
        (black, flat, black),
        (flat, flat, flat),
        (ramp_x, flat, flat),
        (flat, ramp_x, ramp_y),
        (ramp_x, ramp_y, ramp_x),
        (ramp_y, ramp_x, flat),
        (ramp_x + ramp_y, ramp_x, ramp_y),
        (ramp_x - ramp_y, ramp_y, -ramp_x),
    ]:
        _both_paths(fused, ir, vis)


def test_non_finite_pixels_give_what_the_tensor_code_gives():
    generator = torch.Generator().manual_seed(11)
    fused, ir, vis = torch.randint(0, 256, (3, 1, 1, 9, 11), generator=generator).to(torch.float64)
    for value in (math.nan, math.inf, -math.inf):
        for target in (fused, ir):
            spoiled = target.clone()
            spoiled[..., 4, 5] = value
            images = (spoiled, ir, vis) if target is fused else (fused, spoiled, vis)
            _both_paths(*images)


def test_edge_sums_returns_the_four_sums_of_one_triplet():
    ir, vis, fused = (np.ascontiguousarray(x) for x in np.random.default_rng(2).integers(0, 256, (3, 10, 12)) * 1.0)
    q_num, q_den, n_num, n_den = kernels.edge_sums(ir, vis, fused, True, True)
    assert kernels.edge_sums(ir, vis, fused, True, False) == (q_num, q_den, 0.0, 0.0)
    assert kernels.edge_sums(ir, vis, fused, False, True) == (0.0, 0.0, n_num, n_den)
    as_batch = [torch.from_numpy(x)[None, None] for x in (fused, ir, vis)]
    with compiled_metrics(False):
        assert q_num / q_den == pytest.approx(qabf(*as_batch).item(), rel=1e-12)
        assert n_num / n_den == pytest.approx(nabf(*as_batch).item(), rel=1e-12)


def test_polynomial_exp_and_arctangent_match_libm():
    rng = np.random.default_rng(0)
    for x in np.concatenate([rng.uniform(-40, 40, 20000), [-40.0, -0.5, 0.0, 1e-300, 0.3465, 40.0]]):
        expected = math.exp(x)
        assert abs(kernels._exp(x) - expected) <= 4e-16 * expected, x
    ratios = np.concatenate([10.0 ** rng.uniform(-12, 12, 20000), [0.0, 0.198912367379658, 0.41421356237309503, 1.0]])
    for t in np.concatenate([ratios, -ratios]):
        assert abs(kernels._atan(t) - math.atan(t)) <= 4.5e-16, t
    assert kernels._atan(math.inf) == math.pi / 2 and kernels._atan(-math.inf) == -math.pi / 2
    assert math.isnan(kernels._atan(math.nan)) and math.isnan(kernels._exp(math.nan))
    # the orientation of Qabf: pi/2 where sx = 0, whatever sy; Nabf's: 0 for 0 / 0
    assert kernels._qabf_orientation(0.0, -3.0) == kernels._qabf_orientation(-0.0, 0.0) == math.pi / 2
    assert kernels._qabf_orientation(-2.0, 2.0) == pytest.approx(-math.pi / 4, abs=1e-16)
    assert kernels._nabf_orientation(0.0, 0.0) == 0.0
    assert kernels._nabf_orientation(3.0, 0.0) == -math.pi / 2
