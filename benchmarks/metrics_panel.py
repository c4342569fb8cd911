"""Seconds per 640x480 triplet for each registered fusion metric, and for the whole default panel.

Method: one real MSRS pair (``msrs_unlabeled/test/00004N``, 640x480; infrared as is, visible converted with
MATLAB's ``rgb2gray`` as ``semfuse evaluate`` does) and its pixel-average fusion, as (1, 1, 480, 640) uint8 tensors
on ``--device``. Every registered metric (FMI_pixel and FMI_dct included) is called ``--warmup`` times untimed, then
``--repeats`` times, each call timed alone with ``time.perf_counter`` (after ``torch.cuda.synchronize`` on a GPU).
"panel" is the 14 metrics of the default panel called one after the other on the tensors; "evaluate_triplet" is
:func:`semfuse.metrics.evaluate_triplet` on the uint8 numpy arrays (conversion included). Reported per entry:
median, min, max, inter-quartile range and every time. The JSON also records the machine (CPU model, logical cores,
load average before and after, GPU), the versions (Python, torch, numpy), the torch thread count,
``OMP_WAIT_POLICY`` and the git commit (``git rev-parse HEAD``; the working tree may hold uncommitted changes).

Usage, from the repository root (the shared data folder beside it)::

    python benchmarks/metrics_panel.py --threads 1 --repeats 7

The default is one torch thread: on a machine shared with other jobs, more OpenMP threads than free cores make
every small tensor operation wait at a barrier (GNU OpenMP spins by default), and the times stop measuring the
metrics. With ``OMP_WAIT_POLICY=PASSIVE`` in the environment two threads behave again.
"""

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_model, git_commit, time_calls, write_report  # noqa: E402

from semfuse.evaluation.fusion import load_grey_uint8
from semfuse.metrics import FUSION_METRICS, PANEL, evaluate_triplet

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data"
PAIR = Path("msrs_unlabeled") / "test"
PAIR_NAME = "00004N.png"


def load_triplet(data_root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fused, ir, vis) as uint8 (480, 640) arrays; fused = round-half-up average of the sources."""
    ir_path, vis_path = data_root / PAIR / "ir" / PAIR_NAME, data_root / PAIR / "vi" / PAIR_NAME
    if not ir_path.is_file() or not vis_path.is_file():
        raise SystemExit(f"no benchmark pair under {data_root / PAIR}; pass --data-root (the shared data folder)")
    ir, vis = load_grey_uint8(ir_path), load_grey_uint8(vis_path)
    fused = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
    return fused, ir, vis


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Time the fusion metric panel on one 640x480 triplet.")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="folder holding msrs_unlabeled/")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per entry")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per entry")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "metrics_panel.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    arrays = load_triplet(args.data_root.resolve())
    fused, ir, vis = (torch.from_numpy(array.copy())[None, None].to(device) for array in arrays)

    def panel() -> None:
        for name in PANEL:
            FUSION_METRICS[name](fused, ir, vis)

    load_before = os.getloadavg()
    results = {}
    for name, metric in FUSION_METRICS.items():
        results[name] = time_calls(lambda metric=metric: metric(fused, ir, vis), device, args.warmup, args.repeats)
    results["panel"] = time_calls(panel, device, args.warmup, args.repeats)
    results["evaluate_triplet"] = time_calls(lambda: evaluate_triplet(*arrays), device, args.warmup, args.repeats)
    for name, entry in results.items():
        print(f"{name:16s} median {entry['median_s']:.4f} s  (min {entry['min_s']:.4f}, max {entry['max_s']:.4f}, "
              f"IQR {entry['iqr_s']:.4f})", file=sys.stderr)  # fmt: skip
    report = {
        "benchmark": "seconds per 640x480 triplet (fused, ir, vis), fusion metric panel, float64 inside",
        "input": {
            "pair": str(PAIR / PAIR_NAME),
            "fused": "pixel average, round half up",
            "shape": list(fused.shape),
            "dtype": "uint8",
            "device": str(device),
        },
        "settings": {
            "warmup": args.warmup,
            "repeats": args.repeats,
            "torch_threads": torch.get_num_threads(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        },
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "git_commit": git_commit(),
        "results": results,
    }
    write_report(args.output, report)


if __name__ == "__main__":
    main()
