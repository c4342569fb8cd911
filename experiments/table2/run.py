"""The paper's ablations on the proxy protocol: Table II and Fig. 7 with error bars, resumable, on the CPU.

    python experiments/table2/run.py                       # every row in turn, then results/
    python experiments/table2/run.py --rows ours wo_reg    # some rows
    python experiments/table2/run.py --table-only          # results/ from what is done

Each row is ``configs/table2/proxy.yaml`` (the full method: the default-weights recipe from the bundled Ave warm
start, the joint phase cut to 250 iterations) plus the one change of ``configs/ablations/NAME.yaml``, translated to
the proxy: a ``model`` change first trains that network's own warm start with the bundled warm start's schedule
(``configs/warm_start_bundled.yaml``); ``warm_start.rule: max`` starts from the bundled ``warm-start-max``, ``none``
from a random network; classes left out of L_sem are mapped from MFNet's ids to the boxes' ids by name. Then, per
row: the half-resolution ``train`` and ``val`` pairs fused; ``semfuse segeval`` with
``configs/default_weights/segeval_half_res.yaml`` (the default-weights table's protocol) for each seed; the 60
full-resolution ``val`` pairs fused and scored (SF, AG, MI, VIF, Qabf). Every step leaves a file that marks it done
(weights, ``scores.json``, ``summary.csv``), so a stopped run continues where it stopped and a finished row is not
redone; training resumes from its last checkpoint. ``results/`` is rebuilt after every row and keeps each row's
per-seed scores, metrics summary, logs, wall times and Fig. 7 tile, so a row measured in another session or on another
machine (and committed) is not redone either and keeps its place in every table.

Needs the half-resolution data (``python experiments/default_weights/data.py half ...``) and ``../shared/data``.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from results_table import ROWS, read_compute, restore, write_results  # noqa: E402

PROXY = "configs/table2/proxy.yaml"
PROTOCOL = "configs/default_weights/segeval_half_res.yaml"
WARM_START = "configs/warm_start_bundled.yaml"
MFNET_CLASSES = ("unlabelled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
METRICS = "SF,AG,MI,VIF,Qabf"
QUICK = {  # --quick: every schedule cut to two iterations of small crops (the tests' smoke run)
    "train": ["semantic.iters=2", "semantic.segmenter_warmup.iters=2", "semantic.batch_size=2",
              "semantic.segmenter_warmup.batch_size=2", "semantic.optim.warmup_iters=1",
              "semantic.segmenter_warmup.optim.warmup_iters=1", "data.crop=[48,64]", "data.workers=0",
              "data.cache=false", "log_every=1", "checkpoint_every=1"],
    "warm_start": ["warm_start.iters=2", "warm_start.batch_size=2", "warm_start.optim.warmup_iters=1",
                   "data.crop=[48,64]", "log_every=1"],
    "protocol": ["semantic.iters=2", "semantic.batch_size=2", "data.crop=[48,64]", "semantic.val_mode=whole",
                 "log_every=1", "semantic.optim.warmup_iters=1", "data.cache=false", "data.workers=0"],
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def semfuse(*args: str, log_file: Path, threads: int) -> None:
    """Run one semfuse command; its output goes to ``log_file``. A failure ends the row (SystemExit)."""
    command = [sys.executable, "-m", "semfuse", args[0], "--threads", str(threads), *args[1:]]
    log(" ".join(command[2:]))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(log_file, "w") as sink:
        code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO).returncode
    log(f"  -> exit {code} after {time.time() - started:.0f} s")
    if code != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed with exit {code} (see {log_file})")


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def data_classes(half: Path) -> tuple[str, ...]:
    """Label names of the boxes data, by id: background, then the names of its ``classes.txt``."""
    from semfuse.data.boxes import read_class_list

    return ("background", *read_class_list(half / "classes.txt"))


def row_change(name: str, classes: tuple[str, ...]) -> tuple[list[str], list[str] | None]:
    """(overrides of the row's semantic run, overrides of its own warm start or None) from
    ``configs/ablations/NAME.yaml`` and the row's own ``overrides``; ``ours`` and ``ave`` change nothing."""
    if ROWS[name].ablation is None:
        return [*ROWS[name].overrides], None
    change = yaml.safe_load((REPO / "configs" / "ablations" / f"{ROWS[name].ablation}.yaml").read_text())
    change = _flatten({key: value for key, value in change.items() if key not in ("base", "run_dir")})
    semantic, warm_start = [*ROWS[name].overrides], None
    for key, value in change.items():
        if key.startswith("model."):
            warm_start = [*(warm_start or []), f"{key}={json.dumps(value)}"]
            semantic.append(f"{key}={json.dumps(value)}")
        elif key == "warm_start.rule":
            start = {"avg": None, "max": "warm-start-max", "none": "scratch"}[value]
            semantic += [f"semantic.init_fusion={start}"] if start else []
        elif key == "semantic.excluded_classes":
            ids = [classes.index(MFNET_CLASSES[k]) for k in value if MFNET_CLASSES[k] in classes]
            semantic.append(f"semantic.excluded_classes={json.dumps(ids)}")
        elif key.startswith("semantic."):
            semantic.append(f"{key}={json.dumps(value)}")
        else:
            raise SystemExit(f"configs/ablations/{ROWS[name].ablation}.yaml changes {key}, which the proxy driver "
                             "does not translate")
    return semantic, warm_start


class Row:
    """One row's steps; each skips itself when the file that marks it done exists."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name, self.args, self.out = name, args, args.out
        self.logs = self.out / "logs"
        self.semantic, self.warm_overrides = row_change(name, data_classes(args.half))

    def weights(self) -> Path:
        if ROWS[self.name].trained:
            return self.out / "train" / self.name / "fusion_net.safetensors"
        return Path("warm-start")  # "ave": the bundled Ave warm start as it is

    def warm_start(self) -> None:
        run_dir = self.out / "warm_start" / self.name
        if self.warm_overrides is None or (run_dir / "fusion_net.safetensors").exists():
            return
        semfuse("train", "--config", WARM_START, "--no-progress", "--resume", f"run_dir={json.dumps(str(run_dir))}",
                f"device={self.args.device}", *self.warm_overrides, *(QUICK["warm_start"] if self.args.quick else []),
                log_file=self.logs / f"warm_start_{self.name}.log", threads=self.args.threads)

    def train(self) -> None:
        if not ROWS[self.name].trained or self.weights().exists():
            return
        run_dir = self.out / "train" / self.name
        own_start = self.out / "warm_start" / self.name / "fusion_net.safetensors"
        start = [f"semantic.init_fusion={json.dumps(str(own_start))}"] if self.warm_overrides is not None else []
        data = [f"data.sources=[{{root: {json.dumps(str(self.args.half))}, split: train}}]"]
        semfuse("train", "--config", PROXY, "--no-progress", "--resume", f"run_dir={json.dumps(str(run_dir))}",
                f"device={self.args.device}", "data.val_sources=[]", *data, *self.semantic, *start,
                *(QUICK["train"] if self.args.quick else []), *self.args.override,
                log_file=self.logs / f"train_{self.name}.log", threads=self.args.threads)

    def _fuse(self, data: Path, splits: tuple[str, ...], target: Path) -> None:
        for split in splits:
            pairs = sorted((data / split / "ir").iterdir())
            done = target.is_dir() and all((target / f"{p.stem}.png").exists() for p in pairs)
            if done:
                continue
            semfuse("fuse", "--ir", str(data / split / "ir"), "--vis", str(data / split / "vi"), "--out", str(target),
                    "--method", "semfuse", "--weights", str(self.weights()), "--device", self.args.device,
                    "--no-progress", "--skip-existing", threads=self.args.threads,
                    log_file=self.logs / f"fuse_{self.name}_{split}_{data.name}.log")

    def protocol(self) -> None:
        fused = self.out / "fused" / self.name
        self._fuse(self.args.half, ("train", "val"), fused)
        for seed in self.args.seeds:
            result = self.out / "segeval" / self.name / f"seed{seed}"
            if (result / "scores.json").exists():
                continue
            semfuse("segeval", "--data", str(self.args.half), "--config", PROTOCOL, "--fused", f"{self.name}={fused}",
                    "--seeds", str(seed), "--out", str(result), "--no-progress", "--overwrite",
                    f"device={self.args.device}", "data.workers=0", *(QUICK["protocol"] if self.args.quick else []),
                    log_file=self.logs / f"segeval_{self.name}_seed{seed}.log", threads=self.args.threads)

    def metrics(self) -> None:
        if (self.out / "metrics" / self.name / "summary.csv").exists():
            return
        fused = self.out / "val_full" / self.name
        self._fuse(self.args.data, ("val",), fused)
        val = self.args.data / "val"
        semfuse("evaluate", "--ir", str(val / "ir"), "--vis", str(val / "vi"), "--fused", f"{self.name}={fused}",
                "--metrics", METRICS, "--out", str(self.out / "metrics" / self.name), "--no-progress", "--overwrite",
                log_file=self.logs / f"evaluate_{self.name}.log", threads=self.args.threads)

    def measured(self) -> bool:
        """Whether every seed's protocol result and the fusion metrics are there (then nothing needs training)."""
        return (self.out / "metrics" / self.name / "summary.csv").exists() and all(
            (self.out / "segeval" / self.name / f"seed{seed}" / "scores.json").exists() for seed in self.args.seeds)

    def run(self) -> None:
        if self.measured():
            return
        for step in (self.warm_start, self.train, self.protocol, self.metrics):
            started = time.time()
            step()
            _add_compute(self.out, self.name, step.__name__, time.time() - started)


def _add_compute(out: Path, row: str, step: str, seconds: float) -> None:
    """Wall seconds of each step of each row, summed over sessions (``compute.json``); a skipped step adds ~0."""
    compute = read_compute(out)
    compute.setdefault(row, {})[step] = round(compute.get(row, {}).get(step, 0.0) + seconds, 1)
    (out / "compute.json").write_text(json.dumps(compute, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), metavar="ROW",
                        help=f"rows to run, in this order (default: all: {' '.join(ROWS)})")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "table2",
                        help="working folder (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="tables, figure, logs (default: %(default)s)")
    parser.add_argument("--half", type=Path, default=REPO / "runs" / "data" / "msrs_boxes_half",
                        help="half-resolution MSRS-boxes copy (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "msrs_boxes",
                        help="full-resolution MSRS-boxes folder, for the fusion metrics (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--override", nargs="*", default=[], help="extra KEY=VALUE for every row's semantic run")
    parser.add_argument("--quick", action="store_true", help="two-iteration schedules (smoke test)")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the results from what is done")
    args = parser.parse_args(argv)
    args.out, args.half, args.data = args.out.resolve(), args.half.resolve(), args.data.resolve()
    for folder, what in ((args.half, "the half-resolution data (experiments/default_weights/data.py half)"),
                         (args.data, "the full-resolution MSRS-boxes data")):
        if not (folder / "val" / "ir").is_dir():
            parser.error(f"{folder} does not hold {what}: pass --half / --data")
    for name in ROWS:  # rows measured in another session, from their copies in results/rows/
        restore(args.out, args.results, name)
    failed = []
    if not args.table_only:
        for name in args.rows:
            log(f"row {name}")
            try:
                Row(name, args).run()
            except SystemExit as error:  # one failed row does not stop the others
                log(f"row {name} failed: {error}")
                failed.append(name)
            write_results(args.out, args.results, args.data, args.seeds)
    write_results(args.out, args.results, args.data, args.seeds)
    if failed:
        log(f"{len(failed)} row(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
