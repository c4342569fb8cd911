"""DenseFuse baseline: fusion rules by hand, the auto-encoder through the method registry, the bundled weights."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.errors import SemfuseError
from semfuse.inference import fuse_arrays
from semfuse.methods import densefuse as densefuse_methods
from semfuse.methods import get_method
from semfuse.methods.densefuse import addition_rule, l1_norm_rule
from semfuse.models.densefuse import DenseFuse
from semfuse.models.weights import load_densefuse, save_module, save_network


def test_addition_rule_adds():
    a, b = torch.rand(1, 4, 3, 3), torch.rand(1, 4, 3, 3)
    assert torch.equal(addition_rule(a, b), a + b)


def test_l1_norm_rule_by_hand():
    # source a has activity 2 everywhere, b has activity 6: weights 1/4 and 3/4 after the 3x3 mean
    a, b = torch.full((1, 2, 4, 4), 1.0), torch.full((1, 2, 4, 4), -3.0)
    assert torch.allclose(l1_norm_rule(a, b), 0.25 * a + 0.75 * b)
    # where one source has no activity at all, the other is taken whole
    assert torch.allclose(l1_norm_rule(a, torch.zeros_like(a)), a, atol=1e-6)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = DenseFuse()
    path = tmp_path_factory.mktemp("df") / "densefuse.safetensors"
    return save_network(model, path)


@pytest.mark.parametrize("name", ["densefuse-add", "densefuse-l1"])
def test_densefuse_methods_keep_size_range_and_determinism(name, random_weights, bundled_data):
    fuse = get_method(name, weights=str(random_weights))
    ir = np.asarray(Image.open(bundled_data / "roadscene/ir/FLIR_00006.jpg").convert("L"), np.float32)[:57, :83] / 255
    vis = np.asarray(Image.open(bundled_data / "roadscene/vi/FLIR_00006.jpg").convert("RGB"), np.float32)[:57, :83] / 255
    fused = fuse_arrays(fuse, ir, vis)
    assert fused.shape == (57, 83, 3) and fused.min() >= 0 and fused.max() <= 1
    assert np.array_equal(fused, fuse_arrays(fuse, ir, vis))


def test_missing_foreign_or_mismatched_weights_are_refused_in_one_line(tmp_path):
    from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net

    tiny = FusionNetConfig(widths=[4, 8], heads=[1, 1], stem_channels=4)
    cases = {
        "neither a file nor a bundled name": tmp_path / "nothing.safetensors",
        "holds no densefuse config": save_module(torch.nn.Linear(2, 2), tmp_path / "foreign.safetensors"),
        "holds fusion_net weights, not densefuse": save_network(build_fusion_net(tiny), tmp_path / "f.st"),
    }
    for message, path in cases.items():
        with pytest.raises(SemfuseError, match=message) as error:
            get_method("densefuse-add", weights=str(path))
        assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_bundled_autoencoder_reconstructs_real_images(bundled_data):
    # TNO is not in the training data: reconstruction of an unseen grey image
    model = load_densefuse()
    image = np.asarray(Image.open(bundled_data / "tno/ir/05.png").convert("L"), np.float32) / 255
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        error = (model(x).clamp(0, 1) - x).abs().mean()
    assert float(error) < 0.03


@pytest.mark.parametrize("name", ["densefuse-add", "densefuse-l1"])
def test_constant_source_returns_the_informative_one(name, bundled_data):
    # Documented bound (docs/methods.md): with one source constant (0.5), the fused image correlates with the
    # informative source at Pearson r >= 0.9. It is not closer because the constant's features are not zero: the
    # addition rule adds them (an offset that saturates bright areas), the l1-norm rule blends them in by activity.
    fuse = get_method(name)
    informative = np.asarray(Image.open(bundled_data / "tno/vi/37.png").convert("L"), np.float32)[:128, :160] / 255
    constant = np.full_like(informative, 0.5)
    for ir, vis in ((informative, constant), (constant, informative)):
        fused = fuse_arrays(fuse, ir, vis)
        assert np.corrcoef(fused.ravel(), informative.ravel())[0, 1] >= 0.9


def test_densefuse_takes_the_bundled_weights_by_path_and_by_default():
    bundled = Path(densefuse_methods.__file__).parents[1] / "weights" / "densefuse.safetensors"
    ir = torch.rand(1, 1, 20, 24, generator=torch.Generator().manual_seed(0))
    vis = ir.flip(-1)
    by_path = get_method("densefuse-add", weights=str(bundled))(ir, vis)
    assert torch.equal(by_path, get_method("densefuse-add")(ir, vis))


def _build_and_record(name: str, device: str, monkeypatch) -> tuple[DenseFuse, object]:
    """Build method ``name`` on ``device``; return the auto-encoder it loaded and the fusion callable."""
    built = []

    def spy(weights, device):
        built.append(load_densefuse(weights, device))
        return built[-1]

    monkeypatch.setattr(densefuse_methods, "load_densefuse", spy)
    fuse = get_method(name, device=device)
    return built[0], fuse


@pytest.mark.parametrize("name", ["densefuse-add", "densefuse-l1"])
def test_densefuse_runs_on_the_requested_device(name, monkeypatch):
    model, fuse = _build_and_record(name, "cpu", monkeypatch)
    assert {parameter.device for parameter in model.parameters()} == {torch.device("cpu")}
    assert fuse(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)).device == torch.device("cpu")


def test_densefuse_on_cuda_runs_there_or_is_refused_in_one_line(monkeypatch):
    if torch.cuda.is_available():
        model, fuse = _build_and_record("densefuse-l1", "cuda", monkeypatch)
        assert {parameter.device.type for parameter in model.parameters()} == {"cuda"}
        assert fuse(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)).device == torch.device("cpu")
        return
    with pytest.raises(SemfuseError, match="CUDA is not available") as error:
        get_method("densefuse-l1", device="cuda")
    assert "\n" not in str(error.value)
