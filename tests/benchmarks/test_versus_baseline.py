"""benchmarks/versus_baseline.py and its worker run at tiny sizes and report every field (no time is asserted)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
WEIGHTS = REPO / "src" / "semfuse" / "weights" / "warm_start_avg.safetensors"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worker_infers_a_tiny_pair_on_the_given_source(tmp_path):
    output = tmp_path / "fused.safetensors"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / "_step_worker.py"), "infer", "--size", "48x32",
                           "--warmup", "0", "--iters", "1", "--threads", "1", "--count-flops",
                           "--weights", str(WEIGHTS), "--output", str(output)],
                          env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["task"] == "infer" and result["size"] == "48x32" and result["unit"] == "pairs"
    assert Path(result["semfuse"]) == (REPO / "src" / "semfuse").resolve()
    assert result["threads"] == 1 and result["batch_size"] == 1
    assert len(result["seconds"]["times_s"]) == 1 and result["per_s"] > 0
    assert result["flops"] > 0 and result["gflops"] > 0 and result["fraction_of_conv_reference"] > 0
    assert set(result["reference_conv_gflops"]) == {"before", "after", "best"}
    assert len(result["load_average_1min_before_after"]) == 2
    fused = load_file(str(output))["fused"]
    assert fused.shape == (1, 1, 32, 48) and torch.all((fused >= 0) & (fused <= 1))


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "infer,train"], "unknown task(s) train"),
    (["--sizes", "640by480"], "WIDTHxHEIGHT"),
    (["--rounds", "0"], "at least 1"),
])
def test_bad_settings_exit_with_one_line(argv, message, capsys):
    versus_baseline = _load("versus_baseline")
    with pytest.raises(SystemExit):
        versus_baseline.parse_args(argv)
    assert message in capsys.readouterr().err


def test_unknown_baseline_commit_says_so():
    versus_baseline = _load("versus_baseline")
    with pytest.raises(SystemExit, match="is not a commit"):
        versus_baseline.resolve_commit("no-such-commit-1234")


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the git checkout")
def test_one_round_against_head_reports_ratio_and_difference(tmp_path):
    versus_baseline = _load("versus_baseline")
    out = tmp_path / "versus.json"
    report = versus_baseline.main(["--baseline", "HEAD", "--tasks", "infer", "--sizes", "48x32", "--rounds", "1",
                                   "--warmup", "0", "--iters", "1", "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    row = report["results"]["infer 48x32"]
    assert row["speedup"]["median"] > 0 and len(row["rounds"]) == 1
    assert row["baseline"]["fraction_of_conv_reference"] > 0 and row["current"]["per_s"] > 0
    assert report["max_abs_difference_current_vs_baseline"]["infer 48x32"] < 1 / 255
    assert report["baseline"]["commit"] == report["git"]["commit"]
