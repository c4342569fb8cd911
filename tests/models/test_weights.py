"""models/weights.py: one save_network/load_network for every network; bundled files; one-line errors."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from semfuse.errors import SemfuseError
from semfuse.models.densefuse import DenseFuse, DenseFuseConfig
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.weights import (
    NETWORKS,
    load_densefuse,
    load_fusion_net,
    load_network,
    read_metadata,
    resolve_weights,
    save_network,
)

TINY = FusionNetConfig(widths=[4, 8], heads=[1, 2], stem_channels=4)


@pytest.mark.parametrize("kind, name", [("fusion_net", "warm-start"), ("densefuse", "densefuse")])
def test_bundled_weights_load_with_their_tensors_unchanged(kind, name):
    path = resolve_weights(name)
    net, default = load_network(kind, name), load_network(kind)  # the kind's default is the bundled file
    stored = load_file(str(path))
    for state in (net.state_dict(), default.state_dict()):
        assert set(state) == set(stored)
        assert all(torch.equal(state[key], stored[key]) for key in stored)
    assert not net.training


def test_fusion_net_round_trip_keeps_config_tensors_and_info(tmp_path):
    torch.manual_seed(0)
    net = build_fusion_net(TINY)
    path = save_network(net, tmp_path / "net.safetensors", info={"iterations": 3})
    metadata = read_metadata(path)
    assert json.loads(metadata["semfuse_fusion_net"]) == TINY.to_dict() and metadata["iterations"] == "3"
    loaded = load_fusion_net(path)
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in net.state_dict().items())


def test_densefuse_round_trip_with_a_non_default_config(tmp_path):
    model = DenseFuse(DenseFuseConfig(stem_channels=8, dense_layers=2))
    path = save_network(model, tmp_path / "df.safetensors", info={"ssim_weight": 100.0})
    loaded = load_densefuse(path)
    assert loaded.config == model.config and read_metadata(path)["ssim_weight"] == "100.0"
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in model.state_dict().items())


def _one_line_error(kind: str, path, match: str) -> str:
    with pytest.raises(SemfuseError, match=match) as error:
        load_network(kind, path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    return message


def test_broken_or_mismatched_files_are_one_line_errors_naming_the_file(tmp_path):
    not_safetensors = tmp_path / "zeros.safetensors"
    not_safetensors.write_bytes(b"\x00" * 64)
    _one_line_error("fusion_net", not_safetensors, "not a readable .safetensors")

    tensors = {key: value.contiguous() for key, value in build_fusion_net(TINY).state_dict().items()}
    other_config = json.dumps({**TINY.to_dict(), "widths": [4, 16]})
    mismatched = tmp_path / "mismatched.safetensors"
    save_file(tensors, str(mismatched), metadata={"semfuse_fusion_net": other_config})
    assert "retrain" in _one_line_error("fusion_net", mismatched, "does not match its stored fusion_net config")

    unknown_field = tmp_path / "unknown_field.safetensors"
    save_file(tensors, str(unknown_field), metadata={"semfuse_fusion_net": json.dumps({"depth": 3})})
    _one_line_error("fusion_net", unknown_field, "unusable fusion_net config")

    _one_line_error("fusion_net", resolve_weights("densefuse"), "holds densefuse weights, not fusion_net")
    _one_line_error("densefuse", resolve_weights("warm-start"), "holds fusion_net weights, not densefuse")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    assert "semfuse train --phase densefuse" in _one_line_error("densefuse", plain, "holds no densefuse config")


def test_saving_checks_kind_and_config():
    assert set(NETWORKS) == {"fusion_net", "densefuse", "segmenter"}
    with pytest.raises(ValueError, match="unknown network kind 'unet'"):
        load_network("unet", "x.safetensors")
    with pytest.raises(TypeError, match="carries no network config"):
        save_network(torch.nn.Linear(2, 2), "x.safetensors")


def test_segmenter_round_trip_keeps_class_names_and_normalisation(tmp_path):
    from semfuse.models.segmenter import Segmenter
    from semfuse.models.weights import load_segmenter, segmenter_classes

    segmenter = Segmenter(3, "none", ("background", "person", "car"))
    path = save_network(segmenter, tmp_path / "segmenter.safetensors", info={"iterations": 2})
    stored = json.loads(read_metadata(path)["semfuse_segmenter"])
    assert stored == {"class_names": ["background", "person", "car"], "normalisation": "none"}
    loaded = load_segmenter(path)
    assert loaded.config == segmenter.config and segmenter_classes(path) == ("background", "person", "car")
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in segmenter.state_dict().items())


def test_bundled_segmenter_loads_with_its_tensors_unchanged():
    from semfuse.models.weights import load_segmenter

    path = resolve_weights("semantic-msrs-boxes").with_name("semantic_msrs_boxes_segmenter.safetensors")
    segmenter, stored = load_segmenter(path), load_file(str(path))
    assert segmenter.config.class_names == ("background", "person", "bicycle", "car")
    assert all(torch.equal(segmenter.state_dict()[key], stored[key]) for key in stored)
    _one_line_error("segmenter", resolve_weights("warm-start"), "holds fusion_net weights, not segmenter")
