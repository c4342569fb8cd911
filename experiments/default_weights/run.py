"""The default-weights experiment: candidate semantic weights, the proxy Table I over three seeds, fusion metrics.

Two steps run on a lent GPU, one after the other on the same machine (each fits the 64 MiB transfer with half of
the data, see data.py), and one here:

    python experiments/default_weights/run.py train      # unpack part a, train every candidate in parallel
    python experiments/default_weights/run.py protocol   # unpack part b, fuse train+val with every method, segeval
    python experiments/default_weights/run.py metrics    # CPU: every method on the full-resolution val pairs

``train`` runs ``semfuse train --config configs/default_weights/NAME.yaml`` for each candidate (a run stopped at
``--train-timeout`` exports its last checkpoint). ``protocol`` fuses the half-resolution train and val pairs with
every method of the table and runs ``semfuse segeval --config configs/default_weights/segeval_half_res.yaml`` for
each method and seed, one wave of methods per seed; a wave starts only if it can end before ``--deadline``.
``metrics`` fuses the 60 full-resolution val pairs with every method (and the stretched variants) and runs
``semfuse evaluate``. Results go to ``--out`` (default ``runs/default_weights``); with ``$OUT`` set (the lent
machine), what is worth bringing back is copied there.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HALF = REPO / "runs" / "data" / "msrs_boxes_half"


def _script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


msrs_boxes = _script(REPO / "experiments" / "msrs_boxes" / "run.py")
CANDIDATES = _script(Path(__file__).with_name("decide.py")).CANDIDATES  # the candidates have one list
log, semfuse = msrs_boxes.log, msrs_boxes.semfuse

RULES = ("average", "max", "gff")
BUNDLED = {"semfuse-warm-start": "warm-start", "semfuse-semantic": "semantic-msrs-boxes"}
SOURCES = ("infrared", "visible", "SeAFusion")
TABLE_METHODS = ("infrared", "visible", *RULES, "SeAFusion", *BUNDLED, *CANDIDATES)


def _logged(job):
    """``job`` with a failed step logged instead of ending the whole driver (the other steps' results still count)."""
    def run(item):
        try:
            job(item)
        except SystemExit as error:
            log(f"{item}: {error}")
    return run


def candidate_weights(out: Path, name: str) -> Path:
    return out / "train" / name / "fusion_net.safetensors"


def fusion_options(out: Path, name: str) -> list[str]:
    """``semfuse fuse`` options of a method of the table (network methods with their weights)."""
    if name in BUNDLED:
        return ["--method", "semfuse", "--weights", BUNDLED[name]]
    if name in CANDIDATES:
        return ["--method", "semfuse", "--weights", str(candidate_weights(out, name))]
    return ["--method", name]


def unpack(carry: str) -> None:
    subprocess.run([sys.executable, str(REPO / "experiments" / "default_weights" / "data.py"), "unpack",
                    str(REPO / carry), "--out", str(HALF)], check=True)


def train(args, out: Path) -> None:
    if args.carry:
        unpack(args.carry)
    (out / "logs").mkdir(parents=True, exist_ok=True)

    def run(name: str) -> None:
        run_dir = out / "train" / name
        if candidate_weights(out, name).exists():
            return
        overrides = [f"run_dir={json.dumps(str(run_dir))}", f"device={args.device}", "data.val_sources=[]",
                     *args.override]
        resume = ["--resume"] if (run_dir / "last.pt").exists() else []
        finished = semfuse("train", "--config", f"configs/default_weights/{name}.yaml", "--no-progress", *resume,
                           *overrides, log_file=out / "logs" / f"train_{name}.log", threads=2, timeout=args.train_timeout)
        if not finished:
            stopped.append(name)

    stopped: list[str] = []
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        list(pool.map(_logged(run), args.candidates))
    for name in stopped:  # one after another: importing transformers from several threads at once fails
        try:
            msrs_boxes.export_last_checkpoint(out / "train" / name)
        except (OSError, RuntimeError, KeyError) as error:
            log(f"{name}: no checkpoint to export ({error})")
    if os.environ.get("OUT"):
        bring_back = Path(os.environ["OUT"])
        for name in args.candidates:
            if candidate_weights(out, name).exists():
                shutil.copyfile(candidate_weights(out, name), bring_back / f"{name}.safetensors")
        with tarfile.open(bring_back / "train_logs.tar.gz", "w:gz") as tar:
            for name in args.candidates:
                for path in ("log.jsonl", "config.yaml", "segmenter-warmup/log.jsonl"):
                    if (out / "train" / name / path).exists():
                        tar.add(out / "train" / name / path, arcname=f"{name}/{path}")
            tar.add(out / "logs", arcname="logs")


def fuse(args, out: Path, data: Path, fused: Path, methods: tuple[str, ...], splits: tuple[str, ...],
         stretch: bool = False) -> None:
    jobs = [(name, split) for name in methods if name not in SOURCES for split in splits]

    def run(job) -> None:
        name, split = job
        device = args.device if name not in RULES else "cpu"
        extra = ["--stretch"] if stretch else []
        semfuse("fuse", "--ir", str(data / split / "ir"), "--vis", str(data / split / "vi"), "--out",
                str(fused / name), "--device", device, "--no-progress", "--skip-existing", *extra,
                *fusion_options(out, name), log_file=out / "logs" / f"fuse_{name}_{split}{'_stretch' * stretch}.log",
                threads=2)

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        list(pool.map(_logged(run), jobs))


def protocol(args, out: Path) -> None:
    started = time.time()
    if args.carry:
        unpack(args.carry)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    fused = out / "fused"
    fuse(args, out, HALF, fused, args.methods, ("train", "val"))
    msrs_boxes.source_folders(argparse.Namespace(data=HALF), fused)
    overrides = [f"device={args.device}", f"data.workers={args.protocol_workers}", *args.override]

    def run(job) -> None:
        name, seed = job
        if (out / "segeval" / name / f"seed{seed}" / "scores.json").exists():
            return
        semfuse("segeval", "--data", str(HALF), "--config", "configs/default_weights/segeval_half_res.yaml",
                "--fused", f"{name}={fused / name}", "--seeds", str(seed), "--out",
                str(out / "segeval" / name / f"seed{seed}"), "--no-progress", "--overwrite", *overrides,
                log_file=out / "logs" / f"segeval_{name}_seed{seed}.log", threads=1)

    def after_wave() -> None:
        msrs_boxes.merge_tables(out, TABLE_METHODS)
        bring_back_protocol(out)

    msrs_boxes.seed_waves(args.seeds, args.methods, _logged(run), args.parallel, args.deadline, started, after_wave)
    bring_back_protocol(out, args.segmenters)


def bring_back_protocol(out: Path, segmenters: int = 0) -> None:
    """Under ``$OUT`` (on the lent machine): the protocol's tables, scores and logs, and the segmenters of the
    ``segmenters`` candidates with the best mean mIoU."""
    if not os.environ.get("OUT"):
        return
    bring_back = Path(os.environ["OUT"])
    with tarfile.open(bring_back / "protocol.tar.gz.part", "w:gz") as tar:
        tar.add(out / "segeval", arcname="segeval", filter=_text_only)
        tar.add(out / "logs", arcname="logs")
    os.replace(bring_back / "protocol.tar.gz.part", bring_back / "protocol.tar.gz")
    if segmenters and (out / "segeval" / "scores.json").exists():
        means = {name: result["mean"]["mIoU"] for name, result in _table_scores(out).items() if name in CANDIDATES}
        for name in sorted(means, key=means.get, reverse=True)[:segmenters]:
            segmenter = out / "train" / name / "segmenter.safetensors"
            if segmenter.exists():
                shutil.copyfile(segmenter, bring_back / f"{name}_segmenter.safetensors")


def _table_scores(out: Path) -> dict:
    return json.loads((out / "segeval" / "scores.json").read_text())["methods"]


def _text_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Folders, tables, scores, configs and logs; no checkpoints or images."""
    return info if info.isdir() or info.name.endswith((".json", ".jsonl", ".md", ".csv", ".yaml")) else None


def metrics(args, out: Path) -> None:
    """Every method on the 60 full-resolution val pairs: plain, and stretched per image (``fuse --stretch``)."""
    data = args.data
    fused = out / "val_full"
    networks = tuple(name for name in TABLE_METHODS if name not in SOURCES)
    fuse(args, out, data, fused, networks, ("val",))
    fuse(args, out, data, out / "val_full_stretch", networks, ("val",), stretch=True)
    msrs_boxes.source_folders(argparse.Namespace(data=data), fused, ("val",))
    folders = {name: fused / name for name in TABLE_METHODS if name not in ("infrared", "visible")}
    folders |= {f"{name}+stretch": out / "val_full_stretch" / name for name in networks}
    semfuse("evaluate", "--ir", str(data / "val" / "ir"), "--vis", str(data / "val" / "vi"),
            *[f"--fused={name}={folder}" for name, folder in folders.items()], "--out", str(out / "metrics"),
            "--no-progress", "--overwrite", log_file=out / "logs" / "evaluate.log", threads=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("train", "protocol", "metrics"))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "default_weights")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "msrs_boxes",
                        help="full-resolution msrs_boxes folder (metrics step)")
    parser.add_argument("--carry", help="carried folder to unpack into runs/data/msrs_boxes_half first")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--methods", nargs="+", default=list(TABLE_METHODS), choices=TABLE_METHODS,
                        help="methods of the protocol step (default: every row of the table)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--parallel", type=int, default=14, help="commands run at once")
    parser.add_argument("--protocol-workers", type=int, default=1, help="data workers of each protocol run")
    parser.add_argument("--train-timeout", type=float, help="seconds; a longer training run is stopped and its last "
                        "checkpoint exported")
    parser.add_argument("--deadline", type=float, help="seconds from the start of the protocol step; no wave starts "
                        "that would end later")
    parser.add_argument("--segmenters", type=int, default=3, help="how many candidates' segmenters come back (those "
                        "with the best mean mIoU)")
    parser.add_argument("--override", nargs="*", default=[], help="extra KEY=VALUE for every train / segeval run")
    args = parser.parse_args()
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    started = time.time()
    {"train": train, "protocol": protocol, "metrics": metrics}[args.step](args, out)
    log(f"{args.step} done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
