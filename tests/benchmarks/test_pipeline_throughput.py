"""benchmarks/pipeline_throughput.py runs end to end on the CPU at tiny sizes (the GPU command's code path, training
included) and writes every figure; none is asserted beyond being a rate."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pipeline_throughput.py"


def test_quick_cpu_run_writes_every_section(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("pipeline_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "apply_threads", lambda threads: None)  # the test process keeps its threads
    out = tmp_path / "pipeline.json"
    module.main(["--device", "cpu", "--quick", "--training", "--warmup", "0", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["git"]["commit"] and report["settings"]["quick"]
    (size,) = report["sizes"]
    assert size["size"] == [64, 48] and size["pairs"] == 4
    assert {"matmul", "conv3x3_32", "conv3x3_128", "conv3x3_all_widths_gflops"} <= set(size["reference"])
    assert (size["folder"]["workers"], size["folder_alternative"]["workers"]) == (0, 2)  # the CPU's default, then 2
    for entry in ("network", "folder", "folder_alternative"):
        assert size[entry]["pairs_per_s"] > 0
    assert size["folder_over_network"] > 0 and size["folder_alternative_over_network"] > 0
    assert size["loading_crops_per_s_one_thread"] > 0
    assert [row["phase"] for row in report["training"]] == ["warm-start", "semantic"]


@pytest.mark.slow  # torch.compile takes a minute or more on the 2-core CPU
def test_quick_cpu_run_times_the_compiled_network_beside_eager(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("pipeline_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "apply_threads", lambda threads: None)
    out = tmp_path / "pipeline.json"
    module.main(["--device", "cpu", "--quick", "--compile", "--warmup", "0", "--out", str(out)])
    (size,) = json.loads(out.read_text())["sizes"]
    compiled = size["network_compiled"]
    assert compiled["mode"] == "default" and compiled["compile_s"] > 0 and compiled["pairs_per_s"] > 0
    assert compiled["max_difference_grey_levels"] < 0.5  # the same function: differences of float rounding only
    assert size["compiled_over_network"] > 0
