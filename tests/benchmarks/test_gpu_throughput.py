"""benchmarks/gpu_throughput.py runs end to end on the CPU at tiny sizes and writes every figure (none asserted)."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"


def test_quick_cpu_run_writes_every_section(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "gpu.json"
    module.main(["--device", "cpu", "--quick", "--warmup", "0", "--repeats", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["quick"] and report["device"] == "cpu" and report["git"]["commit"]
    assert {"matmul", "conv3x3_32", "conv3x3_128", "conv3x3_all_widths_gflops"} <= set(report["reference"])
    assert {"fp32", "bf16"} <= set(report["inference"])
    assert [row["phase"] for row in report["training"]] == ["warm-start", "semantic"]
    assert all(row["crops_per_s"] > 0 for row in report["training"])
