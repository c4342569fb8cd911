"""The compiled MI, CC, SCD, MSE and AG kernels against the tensor code they replace on the CPU (1e-12 relative)."""

import numpy as np
import pytest
import torch

from semfuse.evaluation.fusion import load_grey_uint8
from semfuse.metrics import (
    average_gradient,
    correlation_coefficient,
    evaluate_metrics,
    mean_squared_error,
    mutual_information,
    peak_signal_to_noise_ratio,
    sum_of_correlations_of_differences,
)
from semfuse.metrics.compiled import compiled_metrics

METRICS = {
    "MI": mutual_information,
    "CC": correlation_coefficient,
    "SCD": sum_of_correlations_of_differences,
    "MSE": mean_squared_error,
    "PSNR": peak_signal_to_noise_ratio,
    "AG": lambda fused, ir, vis: average_gradient(fused),
}


def _assert_both_paths_agree(metric, *images: torch.Tensor) -> None:
    with compiled_metrics(True):
        compiled = metric(*images)
    with compiled_metrics(False):
        tensor = metric(*images)
    assert compiled.shape == tensor.shape and compiled.dtype == tensor.dtype == torch.float64
    assert torch.equal(compiled.isnan(), tensor.isnan()) and torch.equal(compiled.isinf(), tensor.isinf())
    finite = tensor.isfinite()
    error = (compiled[finite] - tensor[finite]).abs() / tensor[finite].abs().clamp_min(1e-300)
    assert error.numel() == 0 or float(error.max()) < 1e-12, float(error.max())


@pytest.mark.parametrize("name", list(METRICS))
def test_compiled_kernels_equal_the_tensor_code_on_the_bundled_samples(name, samples):
    for path in sorted((samples / "ir").iterdir()):
        ir = load_grey_uint8(path)
        vis = load_grey_uint8(samples / "vi" / path.name)
        fused = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
        images = [torch.from_numpy(np.ascontiguousarray(x))[None, None] for x in (fused, ir, vis)]
        _assert_both_paths_agree(METRICS[name], *images)


SHAPES = [((1, 1, 2, 2), torch.uint8), ((2, 1, 3, 7), torch.float64), ((1, 1, 37, 53), torch.float32),
          ((3, 1, 64, 41), torch.uint8), ((1, 1, 1, 9), torch.float64)]  # fmt: skip


@pytest.mark.parametrize(
    "name, shape, dtype",
    [(name, shape, dtype) for name in METRICS for shape, dtype in SHAPES if name != "AG" or min(shape[-2:]) >= 2],
)  # AG needs at least 2x2 pixels
def test_compiled_kernels_equal_the_tensor_code_on_synthetic_images(name, shape, dtype):
    generator = torch.Generator().manual_seed(sum(shape))
    images = [torch.rand(shape, generator=generator, dtype=torch.float64) * 255 for _ in range(3)]
    images[1][..., : shape[-2] // 2, :] = 40.0  # a flat half
    if dtype == torch.uint8:
        images = [image.round().to(torch.uint8) for image in images]
    _assert_both_paths_agree(METRICS[name], *(image.to(dtype) for image in images))


def test_constant_and_identical_images_give_the_same_nan_and_inf():
    flat = torch.full((1, 1, 8, 8), 30.0)
    texture = torch.arange(64.0).reshape(1, 1, 8, 8)
    for metric in METRICS.values():
        for triplet in ((flat, flat, flat), (texture, flat, texture), (texture, texture, flat), (texture,) * 3):
            _assert_both_paths_agree(metric, *triplet)
    assert torch.isnan(correlation_coefficient(flat, flat, flat)).all()
    assert torch.isinf(peak_signal_to_noise_ratio(texture, texture, texture)).all()


def test_the_panel_gives_the_same_scores_with_and_without_kernels(samples):
    ir = load_grey_uint8(samples / "ir" / "tno_05.png")
    vis = load_grey_uint8(samples / "vi" / "tno_05.png")
    images = [torch.from_numpy(np.ascontiguousarray(x))[None, None] for x in (np.maximum(ir, vis), ir, vis)]
    with compiled_metrics(True):
        compiled = evaluate_metrics(*images)
    with compiled_metrics(False):
        tensor = evaluate_metrics(*images)
    for name, value in tensor.items():
        assert float((compiled[name] - value).abs() / value.abs().clamp_min(1e-300)) < 1e-9, name


def test_mutual_information_kernel_reads_grey_levels_as_the_tensor_code_does():
    """Out-of-range values clip to 0 and 255, halves round to even, and levels 254 and 255 share a joint bin."""
    values = torch.tensor([-3.7, 0.5, 1.5, 2.5, 253.6, 254.0, 255.0, 300.2], dtype=torch.float64)
    generator = torch.Generator().manual_seed(5)
    images = [values[torch.randint(0, 8, (2, 1, 9, 11), generator=generator)] for _ in range(3)]
    _assert_both_paths_agree(mutual_information, *images)


def test_grey_level_metrics_refuse_nan_pixels_on_both_paths():
    images = [torch.full((1, 1, 6, 6), 9.0) for _ in range(3)]
    images[1][0, 0, 2, 2] = float("nan")
    for enabled in (True, False):
        with compiled_metrics(enabled), pytest.raises(ValueError, match="NaN pixels"):
            mutual_information(*images)
