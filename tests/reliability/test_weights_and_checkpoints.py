"""Broken or mismatched weights and checkpoints: one line that says which and what to do; nothing is unpickled
(issue 11, case 4; docs/reliability.md)."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from semfuse.cli import main
from semfuse.engine.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from semfuse.errors import SemfuseError
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.weights import CONFIG_KEY, resolve_weights, save_network

TINY = FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


class RunsCode:
    """Unpickling this object would call ``open(marker, "w").write("ran")``: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.fixture
def tiny_weights(tmp_path):
    return save_network(build_fusion_net(TINY), tmp_path / "tiny.safetensors")


@pytest.fixture
def pair(tmp_path, make):
    make.sample("ir", make.TNO).save(tmp_path / "ir.png")
    make.sample("vi", make.TNO).save(tmp_path / "vi.png")
    return ["--ir", str(tmp_path / "ir.png"), "--vis", str(tmp_path / "vi.png")]


def _fuse_with(weights, pair, tmp_path, capsys, method="semfuse") -> str:
    out = tmp_path / "out.png"
    code = main(["fuse", *pair, "--out", str(out), "--weights", str(weights), "--method", method, "--device", "cpu",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_truncated_and_foreign_weight_files(tmp_path, tiny_weights, pair, capsys):
    data = tiny_weights.read_bytes()
    cases = {
        "half.safetensors": data[: len(data) // 2],
        "header.safetensors": data[:100],
        "empty.safetensors": b"",
        "page.safetensors": b"<!DOCTYPE html><html>404</html>",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        err = _fuse_with(tmp_path / name, pair, tmp_path, capsys)
        assert f"{tmp_path / name} is not a readable .safetensors weights file" in err and "semfuse" in err
    torch.save(build_fusion_net(TINY).state_dict(), tmp_path / "pickled.pt")  # a PyTorch pickle, not safetensors
    assert "not a readable .safetensors" in _fuse_with(tmp_path / "pickled.pt", pair, tmp_path, capsys)


def test_weights_of_another_network_or_without_config(tmp_path, pair, capsys):
    err = _fuse_with(resolve_weights("densefuse"), pair, tmp_path, capsys)
    assert "holds densefuse weights, not fusion_net weights" in err
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "plain.safetensors"))  # e.g. a model from elsewhere
    err = _fuse_with(tmp_path / "plain.safetensors", pair, tmp_path, capsys)
    assert "holds no fusion_net config" in err and "semfuse train" in err


def test_weights_of_another_attention_kind_than_their_config_says(tmp_path, pair, capsys):
    channel = FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8, attention="channel")
    tensors = {name: value.contiguous() for name, value in build_fusion_net(channel).state_dict().items()}
    save_file(tensors, str(tmp_path / "relabelled.safetensors"), metadata={CONFIG_KEY: json.dumps(TINY.to_dict())})
    err = _fuse_with(tmp_path / "relabelled.safetensors", pair, tmp_path, capsys)
    assert "does not match its stored fusion_net config" in err and "retrain" in err


def test_a_malicious_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"iteration": 3, "fusion_net": RunsCode(marker)}, tmp_path / "last.pt")
    with pytest.raises(SemfuseError, match="could run code when loaded; semfuse refused it") as error:
        load_checkpoint(tmp_path / "last.pt")
    assert not marker.exists() and "\n" not in str(error.value)
    with open(tmp_path / "plain.pkl", "wb") as handle:  # a bare pickle, not torch's zip format
        pickle.dump(RunsCode(marker), handle)
    with pytest.raises(SemfuseError, match="plain.pkl"):
        load_checkpoint(tmp_path / "plain.pkl")
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints(tmp_path):
    net = build_fusion_net(TINY)
    path = save_checkpoint({"fusion_net": net.state_dict(), "iteration": 4}, tmp_path / "last.pt")
    assert load_checkpoint(path)["iteration"] == 4
    data = path.read_bytes()
    for name, content in {"cut.pt": data[: len(data) // 3], "empty.pt": b"", "text.pt": b"iteration: 4\n"}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SemfuseError, match=rf"{name} (is truncated or damaged|is not a semfuse checkpoint)"):
            load_checkpoint(tmp_path / name)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(SemfuseError, match="not a semfuse training checkpoint"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(SemfuseError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_checkpoint_of_an_incompatible_config_names_the_change(tmp_path):
    saved_config = {"model": TINY.to_dict(), "run_dir": "runs/a", "device": "cpu"}
    net = build_fusion_net(TINY)
    state = {"fusion_net": net.state_dict(), "iteration": 2, "config": saved_config}
    wider = FusionNetConfig(widths=[8, 16, 24, 32], heads=[2, 4, 4, 8], stem_channels=8)
    current = {"model": wider.to_dict(), "run_dir": "runs/b", "device": "cuda"}
    with pytest.raises(SemfuseError) as error:
        restore_checkpoint(state, {"fusion_net": build_fusion_net(wider)}, tmp_path / "last.pt", current)
    message = str(error.value)
    assert "does not fit this run's fusion_net" in message
    assert "model.widths: [8, 16, 16, 24] -> [8, 16, 24, 32]" in message
    assert "run_dir" not in message and "config.yaml" in message and "\n" not in message
    with pytest.raises(SemfuseError, match="has no 'optimizer' state"):
        restore_checkpoint(state, {"optimizer": torch.optim.SGD(net.parameters(), lr=0.1)}, tmp_path / "last.pt")
    restore_checkpoint(state, {"fusion_net": build_fusion_net(TINY)}, tmp_path / "last.pt", saved_config)  # fits


def test_densefuse_weights_given_to_the_semfuse_method_and_back(tmp_path, tiny_weights, pair, capsys):
    err = _fuse_with(tiny_weights, pair, tmp_path, capsys, method="densefuse-add")
    assert "fusion_net weights, not densefuse weights" in err
