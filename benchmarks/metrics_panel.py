"""Seconds per 640x480 triplet for each fusion metric and for the whole panel, beside the same panel of an
earlier commit and a fixed reference workload, all timed in one process.

Method: one real MSRS pair (``msrs_unlabeled/test/00004N``, 640x480; infrared as is, visible converted with
MATLAB's ``rgb2gray`` as ``semfuse evaluate`` does) and its pixel-average fusion, as (1, 1, 480, 640) uint8 tensors
on ``--device``.

* **Baseline.** ``semfuse/metrics`` of ``--baseline`` (a git commit; default: the last commit before the metric
  panel was made fast) is read with ``git show`` into a temporary folder and imported as a second package beside
  the working tree's, so both panels run on the same tensors in the same process.
* **Reference workload.** A float64 11x11 ``conv2d`` of one 640x480 image: a fixed amount of work, so that the
  figures can be judged on a busy machine (its time grows with the load as the panel's does).
* **Rounds.** The panel (:func:`semfuse.metrics.evaluate_metrics` on the tensors: the 14 metrics of the default
  panel, sharing work where metrics need the same intermediate results, as ``semfuse evaluate`` computes them), the
  same panel on the tensor code, without the compiled kernels of :mod:`semfuse.metrics.compiled`
  ("panel_tensor_code"), the same 14 metrics called one after the other ("panel_separate_calls"), the baseline panel
  (its 14 metrics one after the other; it shared nothing) and the reference run ``--warmup`` times untimed, then
  ``--repeats`` rounds, each round timing the five in turn with ``time.perf_counter`` (after
  ``torch.cuda.synchronize`` on a GPU).
  Interleaving keeps a change of load from landing on one of them only. The ratios are of the medians.
* **semfuse evaluate.** With ``--evaluate N`` (default 16): N MSRS test pairs and their pixel averages are written
  to a temporary folder and :func:`semfuse.evaluation.fusion.evaluate_methods` scores them (tables and plots
  included) with one worker and one torch thread, one worker and ``--cores`` torch threads, and ``--cores``
  worker threads of one torch thread each (what ``semfuse evaluate --threads`` does), interleaved over
  ``--evaluate-repeats`` rounds; reported in triplets per second. With few triplets this measures mostly the 14
  CDF plots (PNG and SVG, about 0.2 s each), a fixed cost per run that the workers do not share. OpenMP reads
  ``OMP_WAIT_POLICY`` when torch loads, so set it in the environment (the JSON records it).
* **Per metric.** Every metric of the panel (with ``--fmi`` also FMI_pixel and FMI_dct, which take seconds), new
  and baseline, in the same way; "Qabf+Nabf", the panel's shared call (:func:`semfuse.metrics.gradient.qabf_and_nabf`)
  against the baseline's two calls; and :func:`semfuse.metrics.evaluate_triplet` on the uint8 numpy arrays
  (conversion included).

Reported per entry: median, min, max, inter-quartile range and every time, of the wall clock and (``cpu``) of the
thread's CPU time, which leaves out the waits for a core on a busy machine; the ratios for both clocks. The JSON
also records the machine (CPU model, logical cores, load average before and after, GPU), the versions (Python,
torch, numpy), the torch thread count, ``OMP_WAIT_POLICY``, the git commit (``git rev-parse HEAD``) and whether the
working tree differed from it.

Usage, from the repository root (the shared data folder beside it)::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/metrics_panel.py --threads 1 --repeats 11

The default is one torch thread: on a machine shared with other jobs, more OpenMP threads than free cores make
every small tensor operation wait at a barrier (GNU OpenMP spins by default), and the times stop measuring the
metrics. With ``OMP_WAIT_POLICY=PASSIVE`` in the environment two threads behave again.
"""

import argparse
import importlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import cpu_model, git_commit, git_dirty, time_calls, write_report  # noqa: E402

from semfuse.evaluation.fusion import evaluate_methods, load_grey_uint8
from semfuse.metrics import FUSION_METRICS, PANEL, evaluate_metrics, evaluate_triplet
from semfuse.metrics.compiled import compiled_metrics
from semfuse.metrics.gradient import qabf_and_nabf
from semfuse.process import physical_cores

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data"
PAIR = Path("msrs_unlabeled") / "test"
PAIR_NAME = "00004N.png"
# The last commit before the panel was made fast (band-matrix filters, in-place maps, shared Sobel).
BASELINE_COMMIT = "fb2c46bcfe4258ba8f9e5d12c8879432625ee0a9"
BASELINE_PACKAGE = "semfuse_metrics_baseline"


def numba_version() -> str | None:
    """numba's version, or None where it is missing (the panel then runs the tensor code)."""
    try:
        import numba
    except ImportError:
        return None
    return numba.__version__


def load_triplet(data_root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fused, ir, vis) as uint8 (480, 640) arrays; fused = round-half-up average of the sources."""
    ir_path, vis_path = data_root / PAIR / "ir" / PAIR_NAME, data_root / PAIR / "vi" / PAIR_NAME
    if not ir_path.is_file() or not vis_path.is_file():
        raise SystemExit(f"no benchmark pair under {data_root / PAIR}; pass --data-root (the shared data folder)")
    ir, vis = load_grey_uint8(ir_path), load_grey_uint8(vis_path)
    fused = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
    return fused, ir, vis


def import_baseline(commit: str, folder: Path):
    """``semfuse.metrics`` of ``commit`` as the package ``semfuse_metrics_baseline`` (its registry module)."""
    listing = subprocess.run(["git", "ls-tree", "--name-only", commit, "src/semfuse/metrics/"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    package = folder / BASELINE_PACKAGE
    package.mkdir()
    for path in listing:
        if path.endswith(".py"):
            source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True,
                                    check=True).stdout  # fmt: skip
            (package / Path(path).name).write_text(source.replace("semfuse.metrics", BASELINE_PACKAGE))
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{BASELINE_PACKAGE}.registry")


def interleaved(functions: dict[str, Callable[[], object]], warmup: int, repeats: int, device: torch.device) -> dict:
    """Per-call times of each function, timed in turn within each of ``repeats`` rounds (see the module doc).

    Each entry holds the wall-clock summary and, as ``cpu``, the same for the calling thread's CPU time
    (``time.thread_time``), which leaves out the time the thread waited for a core on a busy machine.
    """
    synchronise = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        for function in functions.values():
            function()
    synchronise()
    wall: dict[str, list[float]] = {name: [] for name in functions}
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            function()
            synchronise()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.thread_time() - start_cpu)
    return {name: {**summary(wall[name]), "cpu": summary(cpu[name])} for name in functions}


def summary(times: list[float]) -> dict:
    """Median, min, max, inter-quartile range and every time, in seconds."""
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "iqr_s": quartiles[2] - quartiles[0], "times_s": times}  # fmt: skip


def time_evaluate(data_root: Path, count: int, cores: int, repeats: int) -> dict:
    """Triplets per second of ``evaluate_methods`` on ``count`` MSRS test pairs for 1 and ``cores`` workers."""
    pairs = sorted(path.name for path in (data_root / PAIR / "ir").iterdir())[:count]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name in ("ir", "vi", "avg", "out"):
            (work / name).mkdir()
        for pair in pairs:
            ir, vis = load_grey_uint8(data_root / PAIR / "ir" / pair), load_grey_uint8(data_root / PAIR / "vi" / pair)
            average = np.floor((ir.astype(np.float64) + vis) / 2 + 0.5).astype(np.uint8)
            for name, image in (("ir", ir), ("vi", vis), ("avg", average)):
                Image.fromarray(image).save(work / name / pair)
        settings = {"1 worker, 1 torch thread": (1, 1), f"1 worker, {cores} torch threads": (1, cores),
                    f"{cores} workers, 1 torch thread each": (cores, 1)}  # fmt: skip

        def run(workers: int, threads: int) -> Callable[[], object]:
            def evaluate() -> object:
                torch.set_num_threads(threads)
                return evaluate_methods(work / "ir", work / "vi", {"avg": work / "avg"}, work / "out",
                                        overwrite=True, progress=False, workers=workers)  # fmt: skip

            return evaluate

        times = interleaved({name: run(*setting) for name, setting in settings.items()}, 1, repeats,
                            torch.device("cpu"))  # fmt: skip
    torch.set_num_threads(1)
    return {"triplets": len(pairs), "runs": times,
            "triplets_per_s": {name: len(pairs) / entry["median_s"] for name, entry in times.items()}}  # fmt: skip


def print_results(rounds: dict, metrics: dict, ratios: dict, evaluate: dict | None) -> None:
    """Print the timings, the per-metric medians, the ratios and the evaluate throughput to stderr."""
    for name, entry in rounds.items():
        cpu = f", CPU {entry['cpu']['median_s']:.4f}" if "cpu" in entry else ""
        print(f"{name:28s} median {entry['median_s']:.4f} s  (min {entry['min_s']:.4f}, max {entry['max_s']:.4f}, "
              f"IQR {entry['iqr_s']:.4f}{cpu})", file=sys.stderr)  # fmt: skip
    for name, pair in metrics.items():
        new, old = pair["panel"], pair["baseline_panel"]
        print(f"  {name:10s} {new['median_s']:.4f} s, CPU {new['cpu']['median_s']:.4f}  (baseline {old['median_s']:.4f}"
              f" s, CPU {old['cpu']['median_s']:.4f})", file=sys.stderr)  # fmt: skip
    for clock, values in ratios.items():
        for name, value in values.items():
            print(f"{clock:4s} {name:40s} {value:.3f}", file=sys.stderr)
    if evaluate is not None:
        for name, value in evaluate["triplets_per_s"].items():
            print(f"evaluate, {evaluate['triplets']} triplets, {name}: {value:.2f} triplets/s", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Time the fusion metric panel on one 640x480 triplet.")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="folder holding msrs_unlabeled/")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--baseline", default=BASELINE_COMMIT, help="git commit whose panel to time alongside")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per entry")
    parser.add_argument("--repeats", type=int, default=11, help="timed calls per entry")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--fmi", action="store_true", help="also time FMI_pixel and FMI_dct (seconds each)")
    parser.add_argument("--evaluate", type=int, default=16, help="triplets for the evaluate timing (0: skip)")
    parser.add_argument("--evaluate-repeats", type=int, default=3, help="rounds of the evaluate timing")
    parser.add_argument("--cores", type=int, default=physical_cores(), help="workers for the evaluate timing")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "metrics_panel.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    arrays = load_triplet(args.data_root.resolve())
    fused, ir, vis = (torch.from_numpy(array.copy())[None, None].to(device) for array in arrays)
    image = torch.from_numpy(arrays[1].astype(np.float64))[None, None].to(device)  # (1, 1, 480, 640)
    window = torch.full((1, 1, 11, 11), 1 / 121, dtype=torch.float64, device=device)

    with tempfile.TemporaryDirectory() as folder:
        baseline = import_baseline(args.baseline, Path(folder))
        registries = {"panel": FUSION_METRICS, "baseline_panel": baseline.FUSION_METRICS}

        def panel(registry) -> Callable[[], None]:
            return lambda: [registry[name](fused, ir, vis) for name in PANEL]

        def panel_tensor_code() -> None:
            with compiled_metrics(False):
                evaluate_metrics(fused, ir, vis)

        load_before = os.getloadavg()
        rounds = interleaved(
            {
                "panel": lambda: evaluate_metrics(fused, ir, vis),
                "panel_tensor_code": panel_tensor_code,
                "panel_separate_calls": panel(registries["panel"]),
                "baseline_panel": panel(registries["baseline_panel"]),
                "reference_conv2d_11x11_f64": lambda: torch.nn.functional.conv2d(image, window),
            },
            args.warmup, args.repeats, device,
        )  # fmt: skip
        metrics = {}
        for name in (name for name in FUSION_METRICS if args.fmi or name in PANEL):
            metrics[name] = interleaved(
                {label: (lambda m=registry[name]: m(fused, ir, vis)) for label, registry in registries.items()},
                args.warmup, args.repeats, device,
            )  # fmt: skip
        baseline_gradient = [registries["baseline_panel"][name] for name in ("Qabf", "Nabf")]
        metrics["Qabf+Nabf"] = interleaved(
            {"panel": lambda: qabf_and_nabf(fused, ir, vis),
             "baseline_panel": lambda: [metric(fused, ir, vis) for metric in baseline_gradient]},
            args.warmup, args.repeats, device,
        )  # fmt: skip
        rounds["evaluate_triplet"] = time_calls(lambda: evaluate_triplet(*arrays), device, args.warmup, args.repeats)
        evaluate = None
        if args.evaluate > 0 and device.type == "cpu":
            evaluate = time_evaluate(args.data_root.resolve(), args.evaluate, args.cores, args.evaluate_repeats)
            torch.set_num_threads(args.threads)
        load_after = os.getloadavg()

    ratios = {}
    for clock in ("wall", "cpu"):
        median = {name: (entry if clock == "wall" else entry["cpu"])["median_s"] for name, entry in rounds.items()
                  if "cpu" in entry}  # fmt: skip
        ratios[clock] = {
            "panel_over_baseline_panel": median["panel"] / median["baseline_panel"],
            "panel_over_panel_tensor_code": median["panel"] / median["panel_tensor_code"],
            "panel_separate_calls_over_baseline_panel": median["panel_separate_calls"] / median["baseline_panel"],
            "panel_over_reference": median["panel"] / median["reference_conv2d_11x11_f64"],
            "baseline_panel_over_reference": median["baseline_panel"] / median["reference_conv2d_11x11_f64"],
        }
    print_results(rounds, metrics, ratios, evaluate)
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
            "baseline_commit": args.baseline,
            "reference_workload": "torch.nn.functional.conv2d of the (1, 1, 480, 640) float64 infrared image with "
            "an 11x11 float64 window",
        },
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "numba": numba_version(),
        },
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "ratios": ratios,
        "results": rounds,
        "per_metric": metrics,
        "evaluate": evaluate,
    }
    write_report(args.output, report)


if __name__ == "__main__":
    main()
