"""The torch-free names module: it loads without torch, and every registry holds exactly the names it declares."""

import subprocess
import sys

import pytest

from semfuse import names
from semfuse.errors import SemfuseError
from semfuse.layers.attention import ATTENTION_KINDS
from semfuse.losses.warm_start import WARM_START_TARGETS
from semfuse.methods import METHODS, method_info
from semfuse.metrics import FUSION_METRICS, PANEL
from semfuse.models.weights import NETWORKS, config_key, read_metadata, segmenter_for


def test_the_names_load_without_torch():
    code = "import sys, semfuse.names, semfuse.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_every_registry_holds_the_declared_names():
    assert tuple(METHODS.listed_names()) == names.METHODS
    assert PANEL == names.METRIC_PANEL
    assert tuple(FUSION_METRICS) == (*names.METRIC_PANEL, *names.METRICS_ON_REQUEST)
    assert ATTENTION_KINDS.names == names.ATTENTION_KINDS
    assert names.WARM_START_RULES == (*WARM_START_TARGETS, "none")


def test_the_command_line_offers_the_declared_names():
    from semfuse.cli import build_parser

    parser = build_parser()
    commands = {name: sub for action in parser._subparsers._group_actions for name, sub in action.choices.items()}
    choices = {option: action.choices for action in commands["train"]._actions for option in action.option_strings}
    assert choices["--phase"] == names.PHASES and choices["--rule"] == names.WARM_START_RULES
    assert choices["--attention"] == names.ATTENTION_KINDS
    evaluate_help = " ".join(commands["evaluate"].format_help().split())
    assert ", ".join(names.METRIC_PANEL) in evaluate_help and ", ".join(names.METRICS_ON_REQUEST) in evaluate_help


@pytest.mark.parametrize("name", names.BUNDLED_WEIGHTS.names)
def test_bundled_weights_are_declared_with_their_network_methods_and_segmenter(name):
    bundled = names.BUNDLED_WEIGHTS[name]
    assert bundled.network in NETWORKS and config_key(bundled.network) in read_metadata(bundled.path)
    for method in bundled.methods:
        assert method_info(method).takes_weights and name in method_info(method).bundled_weights
    if bundled.segmenter is not None:
        assert segmenter_for(name) == bundled.segmenter_path and bundled.segmenter_path.is_file()
        assert segmenter_for(bundled.path) == bundled.segmenter_path  # the installed file, given as a path


def test_each_network_kinds_default_is_bundled_weights_of_that_kind():
    for kind, network in NETWORKS.items():
        if network.default_weights is not None:  # a segmenter has none: it comes with its fusion weights
            assert network.default_weights in names.bundled_weights_for(kind), kind


def test_network_methods_are_those_with_bundled_weights():
    networks = {info.name for info in METHODS.values() if info.takes_weights}
    assert set(names.methods_with_bundled_weights()) == networks
    assert names.bundled_weights_of("average") == ()


def test_a_training_runs_segmenter_is_the_one_beside_its_weights(tmp_path):
    weights = tmp_path / "fusion_net.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(SemfuseError, match="no segmenter belongs to the weights fusion_net.safetensors"):
        segmenter_for(weights)
    (tmp_path / "segmenter.safetensors").write_bytes(b"")
    assert segmenter_for(weights) == tmp_path / "segmenter.safetensors"
    with pytest.raises(SemfuseError, match="no segmenter belongs to the weights warm_start_avg.safetensors"):
        segmenter_for(None)



def test_a_renamed_copys_segmenter_is_its_stem_segmenter(tmp_path):
    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"")
    (tmp_path / "segmenter.safetensors").write_bytes(b"")
    (tmp_path / "mine_segmenter.safetensors").write_bytes(b"")
    assert segmenter_for(weights) == tmp_path / "mine_segmenter.safetensors"  # before the folder's segmenter

def test_semfuse_methods_lists_each_network_methods_bundled_weights(capsys):
    from semfuse.cli import main

    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    assert "bundled weights: warm-start, warm-start-max, semantic-msrs-boxes" in listing
    assert listing.count("bundled weights: densefuse") == 2
