"""The fusion network's inference and training speed, working tree against a baseline commit, in one run.

The baseline's ``src/`` comes out of git (``git archive COMMIT src``) into a temporary folder; the current code is
a copy of the working tree's ``src/`` taken at the start (uncommitted changes included; edits made during the run
do not reach it). Every measurement is a fresh process of ``_step_worker.py`` with ``PYTHONPATH`` set to one of the
two, the same Python, ``--threads`` torch threads and ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it. Tasks: ``infer`` at each ``--sizes`` (seconds per pair)
and one training step of ``warm-start`` (batch 2) and ``semantic`` (batch 4) on 240x320 crops.

Rounds interleave the versions: in each round every task runs baseline then current (current first in every second
round), so both see the same machine state. Per task: the median over rounds of each process's median time, the
speed-up baseline / current (median of the per-round ratios, with min and max), pairs/s or crops/s, achieved GFLOP/s
and its fraction of the fp32 3x3 convolution reference that each worker times around its task. FLOPs are counted
(``FlopCounterMode``) once per version in the first round; both versions' GFLOP/s divide the baseline's count (the
same work) by their own time, and each version's own count is recorded. Sanity: in the first round both versions
fuse the same random pair at each size with the same weights (``--weights``, by default the bundled warm-start file,
loaded strictly, so the state-dict names must agree), and the largest absolute output difference is reported.

    python benchmarks/versus_baseline.py [--baseline d6bd882] [--rounds 3] [--sizes 640x480,1280x1024,1920x1080]
        [--tasks infer,warm-start,semantic] [--warmup 1] [--iters 3] [--threads 2]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import REPO, environment, write_report  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_step_worker.py"
TASKS = ("infer", "warm-start", "semantic")
VERSIONS = ("baseline", "current")
DEFAULT_WEIGHTS = REPO / "src" / "semfuse" / "weights" / "warm_start_avg.safetensors"


def resolve_commit(commit: str) -> str:
    """The full hash of ``commit``; exits with one line if git does not know it."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"error: {commit!r} is not a commit of {REPO}; give one that `git log` lists")
    return done.stdout.strip()


def extract_source(commit: str, folder: Path) -> Path:
    """``git archive commit src | tar -x`` into ``folder``; returns the extracted ``src``."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def snapshot_source(folder: Path) -> Path:
    """A copy of the working tree's ``src`` in ``folder`` (without caches); returns it."""
    return Path(shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__")))


def run_worker(src: Path, task: str, size: str | None, args: argparse.Namespace, extra: list[str]) -> dict:
    """One worker process on the code in ``src``: its JSON line, after checking it imported that code."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [sys.executable, str(WORKER), task, "--threads", str(args.threads), "--warmup", str(args.warmup),
               "--iters", str(args.iters), *(["--size", size] if size else []), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise SystemExit(f"error: the worker failed on {src} ({task} {size or ''}): {lines[-1]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["semfuse"]) != (src / "semfuse").resolve():
        raise SystemExit(f"error: the worker imported semfuse from {result['semfuse']}, not from {src}; "
                         "check that no other semfuse shadows PYTHONPATH")
    return result


def max_abs_difference(first: Path, second: Path) -> float:
    """Largest |a - b| between the ``fused`` tensors of two safetensors files."""
    from safetensors.torch import load_file

    return (load_file(str(first))["fused"] - load_file(str(second))["fused"]).abs().max().item()


def summarise(runs: list[dict], flops: dict) -> dict:
    """Per-version medians over rounds and the per-round speed-ups of one task. GFLOP/s use the baseline's FLOP
    count for both versions (the same work), so their ratio is the speed-up."""
    work = flops.get("baseline")
    summary = {}
    for version in VERSIONS:
        seconds = statistics.median(run[version]["seconds"]["median_s"] for run in runs)
        fractions = [work / run[version]["seconds"]["median_s"] / 1e9 / run[version]["reference_conv_gflops"]["best"]
                     for run in runs] if work else []
        summary[version] = {
            "seconds": seconds,
            "per_s": runs[0][version]["batch_size"] / seconds,
            "gflops": work / seconds / 1e9 if work else None,
            "fraction_of_conv_reference": statistics.median(fractions) if fractions else None,
            "reference_conv_gflops": statistics.median(run[version]["reference_conv_gflops"]["best"] for run in runs),
            "channels_last": runs[0][version]["channels_last"],
            "bf16_autocast": runs[0][version].get("bf16_autocast", False),
        }
    ratios = [run["baseline"]["seconds"]["median_s"] / run["current"]["seconds"]["median_s"] for run in runs]
    summary["speedup"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                          "per_round": ratios}
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="d6bd882", help="commit whose src/ is the baseline")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma list of {', '.join(TASKS)}")
    parser.add_argument("--sizes", default="640x480", help="WIDTHxHEIGHT list for infer, e.g. 640x480,1920x1080")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per process")
    parser.add_argument("--iters", type=int, default=3, help="timed calls per process")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each worker")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                        help="fusion-network state dict (.safetensors) both versions load for infer")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results"
                        / "versus_baseline_cpu.json")
    args = parser.parse_args(argv)
    tasks = [task for task in args.tasks.split(",") if task]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        parser.error(f"unknown task(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(TASKS)}")
    sizes = [size for size in args.sizes.split(",") if size]
    if any(len(size.lower().split("x")) != 2 or not all(side.isdigit() for side in size.lower().split("x"))
           for size in sizes):
        parser.error(f"--sizes {args.sizes!r}: give WIDTHxHEIGHT values such as 640x480,1920x1080")
    if min(args.rounds, args.iters, args.threads) < 1 or args.warmup < 0:
        parser.error("--rounds, --iters and --threads must be at least 1 and --warmup at least 0")
    if "infer" in tasks and not args.weights.is_file():
        parser.error(f"--weights {args.weights} is not a file; give a fusion-network .safetensors state dict")
    args.jobs = [(task, size) for task in tasks for size in (sizes if task == "infer" else [None])]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    commit = resolve_commit(args.baseline)
    load_before = os.getloadavg()
    machine = environment()  # the commit and the dirty flag as the working tree is copied
    rounds: dict[str, list[dict]] = {f"{task} {size}" if size else task: [] for task, size in args.jobs}
    flops: dict[str, dict] = {name: {} for name in rounds}
    differences = {}
    with tempfile.TemporaryDirectory(prefix="versus_baseline_") as folder:
        sources = {"baseline": extract_source(commit, Path(folder) / "baseline"),
                   "current": snapshot_source(Path(folder) / "current")}
        for number in range(args.rounds):
            order = VERSIONS if number % 2 == 0 else VERSIONS[::-1]
            for (task, size), name in zip(args.jobs, rounds):
                run = {}
                for version in order:
                    extra = []
                    if number == 0:
                        extra.append("--count-flops")
                        if task == "infer":
                            extra += ["--weights", str(args.weights), "--output", f"{folder}/{version}_{size}.st"]
                    run[version] = run_worker(sources[version], task, size, args, extra)
                    flops[name].setdefault(version, run[version].get("flops"))
                    print(f"round {number + 1} {name:<16} {version:<8} {run[version]['seconds']['median_s']:8.3f} s",
                          file=sys.stderr)
                rounds[name].append(run)
                if number == 0 and task == "infer":
                    differences[name] = max_abs_difference(Path(folder) / f"baseline_{size}.st",
                                                           Path(folder) / f"current_{size}.st")
    results = {name: {**summarise(runs, flops[name]), "flops": flops[name], "rounds": runs}
               for name, runs in rounds.items()}
    report = {"benchmark": "versus_baseline", "device": "cpu", **machine,
              "baseline": {"commit": commit, "asked": args.baseline},
              "settings": {"threads": args.threads, "warmup": args.warmup, "iters": args.iters,
                           "rounds": args.rounds, "sizes": args.sizes, "tasks": args.tasks,
                           "weights": str(args.weights), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY",
                                                                                           "PASSIVE")},
              "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
              "max_abs_difference_current_vs_baseline": differences, "results": results}
    write_report(args.out, report)
    print_table(report)
    return report


def print_table(report: dict) -> None:
    print(f"baseline {report['baseline']['commit'][:7]} vs current {report['git']['commit'][:7]}"
          f"{' + uncommitted changes' if report['git']['dirty'] else ''}, {report['settings']['threads']} threads, "
          f"{report['settings']['rounds']} rounds, load {report['load_average_1min_before_after']}")
    print(f"{'task':<18} {'baseline s':>10} {'current s':>10} {'baseline/s':>11} {'current/s':>10} "
          f"{'speed-up (min-max)':>19}  {'fraction of conv (b / c)'}")
    for name, row in report["results"].items():
        unit = "pairs" if name.startswith("infer") else "crops"
        fractions = " / ".join("-" if row[v]["fraction_of_conv_reference"] is None
                               else f"{row[v]['fraction_of_conv_reference']:.2f}" for v in VERSIONS)
        speedup = row["speedup"]
        print(f"{name:<18} {row['baseline']['seconds']:10.3f} {row['current']['seconds']:10.3f} "
              f"{row['baseline']['per_s']:5.2f} {unit} {row['current']['per_s']:4.2f} {unit} "
              f"{speedup['median']:7.2f}x ({speedup['min']:.2f}-{speedup['max']:.2f})  {fractions}"
              + ("  (current: bf16 autocast)" if row["current"]["bf16_autocast"] else ""))
    for name, difference in report["max_abs_difference_current_vs_baseline"].items():
        print(f"{name}: max |current - baseline| output difference {difference:.2e}"
              f"{'  (above 1/255!)' if difference > 1 / 255 else ''}")


if __name__ == "__main__":
    main()
