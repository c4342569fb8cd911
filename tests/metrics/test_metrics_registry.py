"""The registry, evaluate_triplet and the input checks every metric starts with."""

import numpy as np
import pytest
import torch

from semfuse.errors import SemfuseError
from semfuse.metrics import (
    FUSION_METRICS,
    PANEL,
    entropy,
    evaluate_triplet,
    ms_ssim,
    resolve_metric_names,
    structural_similarity,
    visual_information_fidelity,
)
from semfuse.registry import UnknownNameError

TABLE_ORDER = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "Nabf", "SSIM", "MS-SSIM", "CC", "PSNR", "MSE")


def test_registry_order_and_directions():
    assert PANEL == TABLE_ORDER
    assert tuple(FUSION_METRICS) == (*TABLE_ORDER, "FMI_pixel", "FMI_dct")
    assert not FUSION_METRICS["FMI_pixel"].in_panel and not FUSION_METRICS["FMI_dct"].in_panel
    lower_is_better = {name for name, metric in FUSION_METRICS.items() if not metric.higher_is_better}
    assert lower_is_better == {"Nabf", "MSE"}
    assert {name for name, metric in FUSION_METRICS.items() if not metric.uses_sources} == {"EN", "SD", "SF", "AG"}


def test_command_line_help_lists_the_registered_names():
    from semfuse.names import METRIC_PANEL, METRICS_ON_REQUEST

    assert METRIC_PANEL == PANEL
    assert (*PANEL, *METRICS_ON_REQUEST) == tuple(FUSION_METRICS)


def test_resolve_metric_names_is_lenient_about_case_and_underscores():
    assert resolve_metric_names(" en, ms_ssim ,QABF,EN") == ("EN", "MS-SSIM", "Qabf")
    assert resolve_metric_names(None) == PANEL
    assert resolve_metric_names("fmi-dct") == ("FMI_dct",)


def test_an_unknown_metric_name_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as raised:
        resolve_metric_names(["EN", "FOO"])
    assert isinstance(raised.value, SemfuseError)
    message = str(raised.value)
    assert "'FOO'" in message and "EN, SD, SF" in message and "\n" not in message
    with pytest.raises(UnknownNameError, match="no metric selected"):
        resolve_metric_names(" , ")


def test_evaluate_triplet_takes_uint8_arrays_and_tensors_alike():
    rng = np.random.default_rng(0)
    ir, vis = (rng.integers(0, 256, (48, 50)).astype(np.uint8) for _ in range(2))
    fused = np.maximum(ir, vis)
    from_arrays = evaluate_triplet(fused, ir, vis)
    assert list(from_arrays) == list(PANEL) and all(isinstance(value, float) for value in from_arrays.values())
    from_tensors = evaluate_triplet(*(torch.from_numpy(x).to(torch.float32) for x in (fused, ir, vis)))
    assert from_tensors == pytest.approx(from_arrays, rel=1e-12)
    subset = evaluate_triplet(fused, ir, vis, names=["mse", "EN"])
    assert list(subset) == ["MSE", "EN"] and subset["EN"] == from_arrays["EN"]


def test_evaluate_triplet_rejects_bad_shapes_with_the_shapes_in_the_message():
    image = np.zeros((48, 48), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"fused of shape \(H, W\), got \(1, 48, 48\)"):
        evaluate_triplet(image[None], image, image)
    with pytest.raises(ValueError, match="one shape"):
        evaluate_triplet(image, image[:40], image)
    with pytest.raises(TypeError, match="list"):
        evaluate_triplet(image.tolist(), image, image)


def test_metric_input_checks_name_the_shape_received():
    good = torch.zeros(1, 1, 64, 64)
    with pytest.raises(ValueError, match=r"entropy expects fused of shape \(B, 1, H, W\), got \(64, 64\)"):
        entropy(torch.zeros(64, 64))
    with pytest.raises(ValueError, match=r"got \(1, 3, 64, 64\)"):
        structural_similarity(torch.zeros(1, 3, 64, 64), good, good)
    with pytest.raises(ValueError, match=r"vis of the same shape as fused \(1, 1, 64, 64\), got \(1, 1, 64, 60\)"):
        structural_similarity(good, good, torch.zeros(1, 1, 64, 60))
    with pytest.raises(ValueError, match=r"at least 41x41 pixels, got shape \(1, 1, 40, 64\)"):
        visual_information_fidelity(*(torch.zeros(1, 1, 40, 64) for _ in range(3)))
    with pytest.raises(ValueError, match="at least 41x41"):
        ms_ssim(*(torch.zeros(1, 1, 64, 40) for _ in range(3)))
    with pytest.raises(TypeError, match="torch.Tensor, got ndarray"):
        entropy(np.zeros((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="dtype torch.bool"):
        entropy(torch.zeros(1, 1, 4, 4, dtype=torch.bool))


def test_metrics_run_on_the_device_of_their_inputs():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator().manual_seed(0)
    triplet = [torch.randint(0, 256, (1, 1, 48, 48), generator=generator).to(device) for _ in range(3)]
    for name, metric in FUSION_METRICS.items():
        value = metric(*triplet)
        assert value.device.type == device and value.shape == (1,), name
        cpu_value = metric(*(x.cpu() for x in triplet))
        assert value.cpu().item() == pytest.approx(cpu_value.item(), rel=1e-9, abs=1e-12), name
