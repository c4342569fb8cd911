"""Seconds per 640x480 pair for every registered fusion method (classical and learned) on this machine's CPU.

Method: one real MSRS pair (``msrs_unlabeled/test/00004N``, 640x480; infrared as is, visible reduced to BT.601
luminance), batch 1, float32 tensors on the CPU. Each method is built once through the registry with its default
options, called ``--warmup`` times untimed, then ``--repeats`` times, each call timed alone with
``time.perf_counter``. Reported per method: median, min, max, inter-quartile range and every time. The JSON also
records the machine (CPU model, logical cores, load average before and after), the versions (Python, torch, numpy,
scipy, PyWavelets), the torch thread count and the git commit (``git rev-parse HEAD``; the working tree may hold
uncommitted changes).

Usage, from the repository root (the shared data folder beside it)::

    python benchmarks/methods_speed.py --threads 1 --repeats 5

The default is one torch thread: on a machine shared with other jobs, more threads than free cores makes small
tensor operations wait on each other, and the times stop measuring the method.
"""

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pywt
import scipy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_model, git_commit, time_calls, write_report  # noqa: E402

from semfuse.data.colour import luminance
from semfuse.data.io import read_image
from semfuse.methods import available_methods, get_method

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data"
PAIR = Path("msrs_unlabeled") / "test"
PAIR_NAME = "00004N.png"
METHODS = tuple(info.name for info in available_methods())  # every registered method, networks included


def load_pair(data_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmark pair as two (1, 1, 480, 640) float32 luminance tensors."""
    ir_path, vis_path = data_root / PAIR / "ir" / PAIR_NAME, data_root / PAIR / "vi" / PAIR_NAME
    if not ir_path.is_file() or not vis_path.is_file():
        raise SystemExit(f"no benchmark pair under {data_root / PAIR}; pass --data-root (the shared data folder)")
    ir = torch.from_numpy(read_image(ir_path))[None, None]
    vis = luminance(torch.from_numpy(read_image(vis_path)).permute(2, 0, 1)).unsqueeze(0)
    return ir.contiguous(), vis.contiguous()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Time the classical fusion methods on one 640x480 pair.")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="folder holding msrs_unlabeled/")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), help="registered method names")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per method")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "methods_speed.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    ir, vis = load_pair(args.data_root.resolve())
    load_before = os.getloadavg()
    results = {}
    for name in args.methods:
        fuse = get_method(name, device="cpu")
        results[name] = time_calls(lambda fuse=fuse: fuse(ir, vis), torch.device("cpu"), args.warmup, args.repeats)
        print(f"{name:10s} median {results[name]['median_s']:.4f} s  (min {results[name]['min_s']:.4f}, "
              f"max {results[name]['max_s']:.4f}, IQR {results[name]['iqr_s']:.4f})", file=sys.stderr)
    report = {
        "benchmark": "seconds per 640x480 pair, classical fusion methods, default options",
        "input": {"pair": str(PAIR / PAIR_NAME), "shape": list(ir.shape), "dtype": "float32", "device": "cpu"},
        "settings": {"warmup": args.warmup, "repeats": args.repeats, "torch_threads": torch.get_num_threads()},
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pywt": pywt.__version__,
        },
        "git_commit": git_commit(),
        "results": results,
    }
    write_report(args.output, report)


if __name__ == "__main__":
    main()
