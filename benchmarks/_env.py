"""What every benchmark script here shares: per-call timing, and machine, versions and commit for the JSON."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy
import torch
from torch.utils.flop_counter import (
    conv_flop_count,
    flop_registry,
    register_flop_formula,
)

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """``git rev-parse HEAD`` of the repository (read-only), or "unknown" outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (the figures may then come from uncommitted code)."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                              text=True, check=True)
        return bool(done.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


def environment() -> dict:
    """What a benchmark figure depends on: machine, library versions, git commit."""
    return {
        "machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_1min": os.getloadavg()[0], "platform": platform.platform(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__},
        "git": {"commit": git_commit(), "dirty": git_dirty()},
    }


def time_calls(function, device: torch.device, warmup: int, repeats: int) -> dict:
    """Per-call wall times of ``function()`` (``warmup`` untimed calls first; synchronised on CUDA) and their
    median, min, max and inter-quartile range, in seconds."""
    synchronise = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        function()
    synchronise()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronise()
        times.append(time.perf_counter() - start)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "iqr_s": quartiles[2] - quartiles[0],
        "times_s": times,
    }


def write_report(path: Path, report: dict) -> None:
    """Write a benchmark's JSON report (creating its folder) and say where on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def count_onednn_convolutions() -> None:
    """Teach ``FlopCounterMode`` the oneDNN convolutions the fast path calls directly (fused activation; in-place
    sum), which it does not count by itself: 2 x the products of a convolution of that shape, as for aten's. Once
    per process (the counter's registry is global)."""
    mkldnn = torch.ops.mkldnn
    if not hasattr(mkldnn, "_convolution_pointwise") or mkldnn._convolution_pointwise in flop_registry:
        return

    def shapes(args: tuple) -> tuple:  # (X, W, B, ...) or, for the .binary overloads, (X, other, W, ...)
        binary = len(args) > 2 and isinstance(args[2], torch.Size) and len(args[2]) == 4
        return (args[0], args[2]) if binary else (args[0], args[1])

    @register_flop_formula(mkldnn._convolution_pointwise)
    def fused(*args, out_shape=None, **kwargs) -> int:
        return conv_flop_count(*shapes(args), out_shape)

    if hasattr(mkldnn, "_convolution_pointwise_"):  # in place into ``other``: (other, X, W, ...)
        @register_flop_formula(mkldnn._convolution_pointwise_)
        def summed(other_shape, x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
            return conv_flop_count(x_shape, w_shape, out_shape)
