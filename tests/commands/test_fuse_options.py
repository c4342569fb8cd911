"""'semfuse fuse' and 'semfuse methods': --weights and --device reach every method the same way."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.cli import main
from semfuse.methods import densefuse as densefuse_methods
from semfuse.models.weights import load_densefuse

SAMPLES = Path(densefuse_methods.__file__).parents[1] / "samples"
BUNDLED_DENSEFUSE = Path(densefuse_methods.__file__).parents[1] / "weights" / "densefuse.safetensors"


@pytest.fixture
def sample_pair(tmp_path):
    """A bundled TNO sample pair, cropped small: (ir file, visible file)."""
    files = []
    for folder in ("ir", "vi"):
        target = tmp_path / folder / "tno.png"
        target.parent.mkdir()
        Image.open(SAMPLES / folder / "tno_05.png").crop((0, 0, 64, 48)).save(target)
        files.append(target)
    return tuple(files)


def test_densefuse_takes_weights_from_the_command_line(sample_pair, tmp_path):
    ir, vis = sample_pair
    out = tmp_path / "fused.png"
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--method", "densefuse-add",
            "--weights", str(BUNDLED_DENSEFUSE), "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    assert Image.open(out).size == (64, 48)


def test_densefuse_runs_on_the_device_given_on_the_command_line(sample_pair, tmp_path, monkeypatch):
    ir, vis = sample_pair
    devices = []

    def spy(weights, device):
        model = load_densefuse(weights, device)
        devices.append((device, {parameter.device for parameter in model.parameters()}))
        return model

    monkeypatch.setattr(densefuse_methods, "load_densefuse", spy)
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o.png"), "--method",
            "densefuse-l1", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    assert devices == [(torch.device("cpu"), {torch.device("cpu")})]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "average", "--weights", "warm-start"], "method average has no weights; drop --weights"),
        (["--method", "densefuse-add", "--weights", "warm-start"], "holds fusion_net weights, not densefuse"),
        (["--method", "densefuse-add", "--device", "cuda:0" if not torch.cuda.is_available() else "cuda:99"],
         "cuda:"),
    ],
)
def test_method_options_that_cannot_work_give_one_line_errors(sample_pair, tmp_path, capsys, extra, message):
    ir, vis = sample_pair
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o.png"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_methods_lists_which_take_weights(capsys):
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    lines = {line.split()[0]: next_line for line, next_line in zip(listing.splitlines(), listing.splitlines()[1:])
             if line and not line[0].isspace()}
    assert "takes --weights" in lines["densefuse-add"] and "takes --weights" in lines["semfuse"]
    assert "no weights" in lines["average"] and "no weights" in lines["mst-sr"]


def test_bf16_precision_stays_within_two_grey_levels_of_fp32(sample_pair, tmp_path):
    ir, vis = sample_pair
    images = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.png"
        argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--device", "cpu", "--no-progress",
                "--precision", precision]
        assert main(argv) == 0
        images[precision] = torch.from_numpy(np.asarray(Image.open(out), dtype=np.int16))
    difference = (images["bf16"] - images["fp32"]).abs()
    assert difference.max() <= 2  # measured on the bundled samples: at most 2 levels, mean about 0.3
    assert difference.float().mean() < 0.6


def test_precision_is_refused_by_methods_without_it(sample_pair, tmp_path, capsys):
    ir, vis = sample_pair
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "f.png"), "--method", "average",
            "--precision", "bf16", "--no-progress"]
    assert main(argv) != 0
    assert "has no option 'precision'" in capsys.readouterr().err
