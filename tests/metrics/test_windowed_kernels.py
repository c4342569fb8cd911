"""The compiled VIF and SSIM / MS-SSIM kernels against the tensor code they replace on the CPU.

The tensor code is the reference (its agreement with MATLAB is in test_metrics_oracle.py, which runs the compiled
kernels, the default): here both paths score the same images, bundled samples and synthetic ones with flat regions,
non-integer values, odd sizes and batches, and must agree to 1e-12.
"""

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from semfuse.evaluation.fusion import load_grey_uint8
from semfuse.metrics import compiled as compiled_module
from semfuse.metrics import (
    mef_ssim_scales,
    ms_ssim,
    ssim_and_ms_ssim,
    ssim_wang,
    structural_similarity,
    vif_pixel,
    visual_information_fidelity,
)
from semfuse.metrics.compiled import (
    ENVIRONMENT_VARIABLE,
    compiled_metrics,
    use_compiled,
    windowed_kernels,
)
from semfuse.metrics.filters import gaussian_kernel_1d, separable_filter_valid

METRICS = {
    "VIF": visual_information_fidelity,
    "SSIM": structural_similarity,
    "MS-SSIM": ms_ssim,
    "SSIM+MS-SSIM": lambda f, a, b: torch.stack(ssim_and_ms_ssim(f, a, b)),
    "MEF-SSIM scales": mef_ssim_scales,
    "vif_pixel": lambda f, a, b: vif_pixel(a, f),
    "ssim_wang": lambda f, a, b: ssim_wang(b, f),
}


def _both_paths(metric, *images):
    with compiled_metrics(True):
        compiled = metric(*images)
    with compiled_metrics(False):
        tensor = metric(*images)
    return compiled, tensor


def _assert_close(compiled: torch.Tensor, tensor: torch.Tensor, tolerance: float = 1e-12) -> None:
    assert compiled.shape == tensor.shape and compiled.dtype == tensor.dtype == torch.float64
    assert torch.equal(compiled.isnan(), tensor.isnan())
    finite = ~tensor.isnan()
    error = (compiled[finite] - tensor[finite]).abs() / tensor[finite].abs().clamp_min(1e-300)
    assert error.numel() == 0 or float(error.max()) < tolerance, float(error.max())


@pytest.fixture(scope="module")
def sample_triplets(samples):
    """Each bundled pair (grey, as semfuse evaluate reads it) and its pixel average: (fused, ir, vis) uint8."""
    triplets = []
    for name in sorted(path.name for path in (samples / "ir").iterdir()):
        ir = load_grey_uint8(samples / "ir" / name)
        vis = load_grey_uint8(samples / "vi" / name)
        fused = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
        triplets.append(tuple(torch.from_numpy(np.ascontiguousarray(x))[None, None] for x in (fused, ir, vis)))
    return triplets


@pytest.mark.parametrize("name", list(METRICS))
def test_compiled_kernels_equal_the_tensor_code_on_every_bundled_sample(name, sample_triplets):
    for triplet in sample_triplets:
        _assert_close(*_both_paths(METRICS[name], *triplet))


def _synthetic(shape: tuple[int, ...], seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """(fused, ir, vis) with texture, a flat block, an anti-correlated corner and saturated pixels."""
    generator = torch.Generator().manual_seed(seed)
    ir = torch.rand(shape, generator=generator, dtype=torch.float64) * 255
    vis = torch.rand(shape, generator=generator, dtype=torch.float64) * 255
    ir[..., :20, :25] = 17.0  # flat in one source
    vis[..., -18:, :] = 255.0  # saturated rows
    fused = 0.6 * ir + 0.4 * vis
    fused[..., :15, -20:] = 255.0 - ir[..., :15, -20:]  # anti-correlated with the infrared
    if dtype == torch.uint8:
        return tuple(image.round().to(torch.uint8) for image in (fused, ir, vis))
    return tuple(image.to(dtype) for image in (fused, ir, vis))


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize(
    "shape, dtype",
    [((1, 1, 41, 41), torch.uint8), ((2, 1, 57, 83), torch.uint8), ((1, 1, 64, 50), torch.float64),
     ((3, 1, 45, 61), torch.float32)],
)  # fmt: skip
def test_compiled_kernels_equal_the_tensor_code_on_synthetic_images(name, shape, dtype):
    _assert_close(*_both_paths(METRICS[name], *_synthetic(shape, seed=sum(shape), dtype=dtype)))


def test_flat_images_give_the_same_nan_and_values_on_both_paths():
    flat = torch.full((1, 1, 48, 48), 90, dtype=torch.uint8)
    texture = _synthetic((1, 1, 48, 48), seed=3, dtype=torch.uint8)[1]
    for metric in METRICS.values():
        for triplet in ((flat, flat, flat), (texture, flat, flat), (flat, texture, flat)):
            compiled, tensor = _both_paths(metric, *triplet)
            _assert_close(compiled, tensor)
    compiled, _ = _both_paths(vif_pixel, flat, texture)
    assert compiled.isnan().all()  # a reference without local variance: 0 / 0, as in MATLAB


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size, sigma", [(17, 17 / 5), (11, 1.5), (5, 1.0)])
def test_compiled_filter_equals_the_separable_filter(stride, size, sigma):
    images = torch.rand(3, 47, 62, dtype=torch.float64, generator=torch.Generator().manual_seed(size)) * 255
    kernel = gaussian_kernel_1d(size, sigma)
    compiled = windowed_kernels().filter_valid(images.numpy(), kernel.numpy(), stride)
    expected = separable_filter_valid(images, kernel, stride=stride)
    assert compiled.shape == tuple(expected.shape)
    assert np.abs(compiled - expected.numpy()).max() < 1e-12 * 255


def test_the_switch_follows_the_environment_the_block_and_the_device(monkeypatch):
    cpu = torch.zeros(1)
    assert use_compiled(cpu)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "0")
    assert not use_compiled(cpu)
    with compiled_metrics(True):
        assert use_compiled(cpu)
    assert not use_compiled(cpu)
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    with compiled_metrics(False):
        assert not use_compiled(cpu)
    assert use_compiled(cpu)
    assert not use_compiled(cpu, torch.zeros(1, device="meta"))  # any tensor off the CPU: the tensor code


def test_without_numba_the_tensor_code_runs(monkeypatch, sample_triplets):
    monkeypatch.setattr(compiled_module, "numba_available", lambda: False)
    assert not use_compiled(torch.zeros(1))
    triplet = sample_triplets[0]
    with compiled_metrics(False):
        expected = visual_information_fidelity(*triplet)
    assert torch.equal(visual_information_fidelity(*triplet), expected)


def test_kernels_give_the_same_scores_from_several_threads_at_once(sample_triplets):
    """The kernels run without the GIL (semfuse evaluate's worker threads): concurrent calls must not interfere."""
    expected = [visual_information_fidelity(*t) + ms_ssim(*t) for t in sample_triplets]
    results: dict[int, list[torch.Tensor]] = {}

    def work(worker: int) -> None:
        results[worker] = [visual_information_fidelity(*t) + ms_ssim(*t) for t in sample_triplets]

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in range(2):
        for got, want in zip(results[worker], expected, strict=True):
            assert torch.equal(got, want)


def test_without_a_writable_cache_folder_the_tensor_code_runs_with_a_warning():
    """numba refuses to define cached kernels where no folder is writable for its cache: the metrics fall back."""
    script = (
        "import warnings, torch\n"
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []  # as if neither the package nor the user's cache were writable\n"
        "from semfuse.metrics import evaluate_metrics\n"
        "x = torch.arange(64 * 64).reshape(1, 1, 64, 64) % 256\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    scores = evaluate_metrics(x, x, x)\n"
        "assert any('NUMBA_CACHE_DIR' in str(w.message) for w in caught), [str(w.message) for w in caught]\n"
        "print(scores['SSIM'].item(), scores['MS-SSIM'].item())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ssim, multi_scale = (float(value) for value in done.stdout.split())
    assert ssim == pytest.approx(2.0, abs=1e-9) and multi_scale == pytest.approx(1.0, abs=1e-9)
