"""DenseFuse baseline: fusion rules by hand, the auto-encoder through the method registry, the bundled weights."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.inference import fuse_arrays
from semfuse.methods import get_method
from semfuse.methods.densefuse import (
    DENSEFUSE_CONFIG_KEY,
    addition_rule,
    l1_norm_rule,
    load_densefuse,
)
from semfuse.models.densefuse import DenseFuse
from semfuse.models.weights import save_module


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
    return save_module(model, path, {DENSEFUSE_CONFIG_KEY: json.dumps(model.config.to_dict())})


@pytest.mark.parametrize("name", ["densefuse-add", "densefuse-l1"])
def test_densefuse_methods_keep_size_range_and_determinism(name, random_weights, shared_data):
    fuse = get_method(name, weights=str(random_weights))
    ir = np.asarray(Image.open(shared_data / "roadscene/ir/FLIR_00006.jpg").convert("L"), np.float32)[:57, :83] / 255
    vis = np.asarray(Image.open(shared_data / "roadscene/vi/FLIR_00006.jpg").convert("RGB"), np.float32)[:57, :83] / 255
    fused = fuse_arrays(fuse, ir, vis)
    assert fused.shape == (57, 83, 3) and fused.min() >= 0 and fused.max() <= 1
    assert np.array_equal(fused, fuse_arrays(fuse, ir, vis))


def test_missing_or_foreign_weights_are_refused(tmp_path):
    from semfuse.errors import SemfuseError

    with pytest.raises(SemfuseError, match="do not exist"):
        load_densefuse(str(tmp_path / "nothing.safetensors"))
    foreign = save_module(torch.nn.Linear(2, 2), tmp_path / "foreign.safetensors")
    with pytest.raises(SemfuseError, match="no DenseFuse config"):
        load_densefuse(str(foreign))


def test_bundled_autoencoder_reconstructs_real_images(shared_data):
    # TNO is not in the training data: reconstruction of an unseen grey image
    model = load_densefuse()
    image = np.asarray(Image.open(shared_data / "tno/ir/05.png").convert("L"), np.float32) / 255
    x = torch.from_numpy(image)[None, None]
    with torch.no_grad():
        error = (model(x).clamp(0, 1) - x).abs().mean()
    assert float(error) < 0.03


@pytest.mark.parametrize("name", ["densefuse-add", "densefuse-l1"])
def test_constant_source_returns_the_informative_one(name, shared_data):
    # Documented bound (docs/methods.md): with one source constant (0.5), the fused image correlates with the
    # informative source at Pearson r >= 0.9. It is not closer because the constant's features are not zero: the
    # addition rule adds them (an offset that saturates bright areas), the l1-norm rule blends them in by activity.
    fuse = get_method(name)
    informative = np.asarray(Image.open(shared_data / "tno/vi/17.png").convert("L"), np.float32)[:128, :160] / 255
    constant = np.full_like(informative, 0.5)
    for ir, vis in ((informative, constant), (constant, informative)):
        fused = fuse_arrays(fuse, ir, vis)
        assert np.corrcoef(fused.ravel(), informative.ravel())[0, 1] >= 0.9
