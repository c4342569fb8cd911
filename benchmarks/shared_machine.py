"""What two semfuse processes sharing the machine cost each other, by thread setting.

Workloads, each in a child process timing ``--repeats`` calls after one warm-up (median seconds per call): the
fusion network (bundled weights, channels-last fast path) on a 320x240 pair, and the 14-metric panel on a 640x480
triplet (the bundled MSRS pair and its average). Scenarios, per workload:

* ``alone``: one process, ``T`` threads (``--threads``, default the physical cores);
* ``two, T threads each, OMP_WAIT_POLICY unset``: two processes at once, both with all cores, the OpenMP
  runtime's default waits (GNU: spin a while, then sleep);
* ``two, T threads each, OMP_WAIT_POLICY=ACTIVE``: the same, spinning waits;
* ``two, T threads each, OMP_WAIT_POLICY=PASSIVE``: the same with sleeping waits (what ``semfuse --threads``
  sets unless the environment says otherwise);
* ``two, T/2 threads each``: the machine split between them.

Slow-down = median seconds per call in the scenario / alone. Two processes that share the cores without loss
take twice as long each (slow-down 2 with T threads each); more than 2 is what oversubscription costs.

    python benchmarks/shared_machine.py [--threads 2] [--repeats 5]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, write_report  # noqa: E402

from semfuse.process import physical_cores  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, statistics, sys, time, torch
workload, repeats = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]))
from semfuse.export import bundled_sample_pairs
ir, vis = bundled_sample_pairs()["msrs_00004N"]
if workload == "network":
    from semfuse.models.weights import load_fusion_net
    net = load_fusion_net("warm-start", "cpu").use_channels_last()
    ir, vis = ir[..., :240, :320], vis[..., :240, :320]
    call = lambda: net(ir, vis)
else:
    from semfuse.metrics import FUSION_METRICS, PANEL
    a, b = (torch.round(t * 255) for t in (ir, vis))
    f = torch.floor((a + b) / 2 + 0.5)
    call = lambda: [FUSION_METRICS[name](f, a, b) for name in PANEL]
times = []
with torch.inference_mode():
    call()
    for _ in range(repeats):
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
print(json.dumps({"median_s": statistics.median(times), "times_s": times}))
"""


def run_together(workload: str, count: int, threads: int, repeats: int, wait_policy: str | None) -> list[dict]:
    """Start ``count`` children at once; their per-call timings."""
    environment_variables = {**os.environ, "OMP_WAIT_POLICY": wait_policy or "", "OMP_NUM_THREADS": str(threads)}
    if wait_policy is None:
        del environment_variables["OMP_WAIT_POLICY"]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, workload, str(repeats), str(threads)], cwd=REPO,
                                 env=environment_variables, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return [json.loads(child.communicate()[0]) for child in children]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "shared_machine.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    threads, half = args.threads, max(1, args.threads // 2)
    results = {}
    for workload in ("network", "panel"):
        alone = run_together(workload, 1, threads, args.repeats, "PASSIVE")[0]
        scenarios = {f"alone, {threads} threads": [alone]}
        scenarios[f"two, {threads} threads each, unset"] = run_together(workload, 2, threads, args.repeats, None)
        scenarios[f"two, {threads} threads each, ACTIVE"] = run_together(workload, 2, threads, args.repeats, "ACTIVE")
        scenarios[f"two, {threads} threads each, PASSIVE"] = run_together(workload, 2, threads, args.repeats,
                                                                          "PASSIVE")
        scenarios[f"two, {half} thread(s) each, PASSIVE"] = run_together(workload, 2, half, args.repeats, "PASSIVE")
        results[workload] = {name: {"median_s_per_process": [run["median_s"] for run in runs],
                                    "slowdown": max(run["median_s"] for run in runs) / alone["median_s"],
                                    "runs": runs} for name, runs in scenarios.items()}
        for name, row in results[workload].items():
            print(f"{workload:<8} {name:<34} slow-down {row['slowdown']:.2f}", file=sys.stderr)
    write_report(args.out, {"benchmark": "shared_machine", **environment(),
                            "settings": {"threads": threads, "repeats": args.repeats},
                            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                            "results": results})


if __name__ == "__main__":
    main()
