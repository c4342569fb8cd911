"""The MSRS-boxes experiment end to end: semantic training, fusion by every method, the proxy Table I, metrics.

    python experiments/msrs_boxes/run.py --data ../shared/data/msrs_boxes --out runs/msrs_boxes

1. ``semfuse train --config configs/msrs_boxes.yaml``: the semantic phase on ``train`` (boxes as labels) from the
   bundled warm start, with a segmenter warm-up, validated on ``val``.
2. Fused images of ``train`` and ``val`` for every method of the table: registered methods through ``semfuse fuse``,
   SeAFusion from its published luminance with the visible chroma, and the infrared and visible images alone.
3. ``semfuse segeval --config configs/segeval_msrs_boxes.yaml --seeds ...`` for every method (one process per
   method, in parallel: the segmenter is small, so one GPU holds several), merged into one table.
4. ``semfuse evaluate`` of every method's ``val`` images (the 14-metric panel and the CDF plots).

Every step is a semfuse command; this script only runs them, in parallel where the machine allows, and collects
the results under ``--out``. ``--quick`` shrinks every schedule so that the whole chain runs on a CPU in minutes.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NETWORK_METHODS = ("semfuse-semantic", "semfuse-warm-start", "densefuse-l1")
CLASSICAL_METHODS = ("average", "max", "gff")
THREADS_CAP = int(os.environ.get("SEMFUSE_EXPERIMENT_THREADS", "0"))  # 0: each command's own setting
TABLE_METHODS = ("infrared", "visible", "average", "max", "gff", "densefuse-l1", "semfuse-warm-start",
                 "SeAFusion", "semfuse-semantic")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def semfuse(*args: str, log_file: Path, threads: int = 1, timeout: float | None = None) -> bool:
    """Run a semfuse command with ``threads`` CPU threads; False when it was stopped at ``timeout`` seconds
    (SIGTERM: it stops cleanly)."""
    threads = THREADS_CAP if THREADS_CAP and threads > THREADS_CAP else threads
    command = [sys.executable, "-m", "semfuse", args[0], "--threads", str(threads), *args[1:]]
    log(" ".join(command))
    started = time.time()
    with open(log_file, "w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            returncode = process.wait()
            log(f"  -> stopped at the {timeout:.0f} s budget (exit {returncode})")
            return False
    log(f"  -> exit {returncode} after {time.time() - started:.0f} s")
    if returncode not in (0, 1):
        raise SystemExit(f"step failed: {' '.join(args[:2])} (see {log_file})")
    return True


def export_last_checkpoint(run_dir: Path) -> Path:
    """Weights of a training run stopped early: the fusion network and segmenter of its latest checkpoint."""
    import torch

    from semfuse.config import TrainConfig, load_config
    from semfuse.models.fusion_net import build_fusion_net
    from semfuse.models.segmenter import Segmenter
    from semfuse.models.weights import save_network

    config: TrainConfig = load_config(run_dir / "config.yaml")
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    net = build_fusion_net(config.model)
    net.load_state_dict(state["fusion_net"])
    weights = save_network(net, run_dir / "fusion_net.safetensors",
                              info={"phase": "semantic", "iterations": state["iteration"], "stopped_early": True})
    classes = json.loads((run_dir / "classes.json").read_text()) if (run_dir / "classes.json").exists() else None
    classes = tuple(classes or ["background", "person", "bicycle", "car"])
    segmenter = Segmenter(len(classes), config.semantic.normalisation, classes)
    segmenter.load_state_dict(state["segmenter"])
    save_network(segmenter, run_dir / "segmenter.safetensors")
    log(f"exported iteration {state['iteration']} of {run_dir} (stopped early)")
    return weights


def train(args, out: Path) -> Path:
    run_dir = out / "train"
    overrides = [f"data.sources=[{{root: {json.dumps(str(args.data))}, split: train}}]",
                 f"data.val_sources=[{{root: {json.dumps(str(args.data))}, split: val}}]",
                 f"run_dir={json.dumps(str(run_dir))}", f"device={args.device}", f"data.workers={args.workers}"]
    if args.quick:
        overrides += ["semantic.iters=4", "semantic.segmenter_warmup.iters=4", "semantic.batch_size=2",
                      "semantic.segmenter_warmup.batch_size=2", "data.crop=[64,96]", "semantic.val_every=0",
                      "semantic.val_mode=whole", "log_every=2", "semantic.optim.warmup_iters=1",
                      "semantic.segmenter_warmup.optim.warmup_iters=1", "data.cache=false"]
    overrides += args.train_override
    finished = semfuse("train", "--config", "configs/msrs_boxes.yaml", "--no-progress", *overrides,
                       log_file=out / "logs" / "train.log", threads=2, timeout=args.train_timeout)
    if not finished:
        return export_last_checkpoint(run_dir)
    return run_dir / "fusion_net.safetensors"


def split_pairs(data: Path, split: str) -> dict[str, tuple[Path, Path]]:
    return {path.stem: (path, data / split / "vi" / path.name) for path in sorted((data / split / "ir").iterdir())}


def fuse_all(args, out: Path, semantic_weights: Path) -> dict[str, Path]:
    """Every method's fused images of train and val, one folder per method (both splits together)."""
    fused = out / "fused"
    jobs = []
    for method in NETWORK_METHODS + CLASSICAL_METHODS:
        name, options = method, []
        if method == "semfuse-semantic":
            options = ["--method", "semfuse", "--weights", str(semantic_weights)]
        elif method == "semfuse-warm-start":
            options = ["--method", "semfuse", "--weights", "warm-start"]
        else:
            options = ["--method", method]
        device = args.device if method in NETWORK_METHODS else "cpu"
        for split in ("train", "val"):
            jobs.append((name, split, options, device))

    def run(job):
        name, split, options, device = job
        semfuse("fuse", "--ir", str(args.data / split / "ir"), "--vis", str(args.data / split / "vi"),
                "--out", str(fused / name), "--device", device, "--no-progress", *options,
                log_file=out / "logs" / f"fuse_{name}_{split}.log", threads=2)

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        list(pool.map(run, jobs))
    return {name: fused / name for name in NETWORK_METHODS + CLASSICAL_METHODS}


def source_folders(args, fused: Path, splits: tuple[str, ...] = ("train", "val")) -> dict[str, Path]:
    """SeAFusion (published luminance + visible chroma), and the infrared / visible images as 'fused' images, of the
    pairs of ``splits``."""
    import numpy as np
    import torch

    from semfuse.data.colour import restore_colour
    from semfuse.data.io import read_image, write_image

    for name in ("SeAFusion", "infrared", "visible"):
        (fused / name).mkdir(parents=True, exist_ok=True)
    for split in splits:
        for stem, (ir, vis) in split_pairs(args.data, split).items():
            for name, source in (("infrared", ir), ("visible", vis)):
                target = fused / name / f"{stem}.png"
                if not target.exists():
                    shutil.copyfile(source, target)
            target = fused / "SeAFusion" / f"{stem}.png"
            if target.exists():
                continue
            luma = torch.from_numpy(read_image(args.data / split / "seafusion_y" / f"{stem}.png"))[None, None]
            rgb = torch.from_numpy(read_image(vis)).permute(2, 0, 1)[None]
            write_image(target, restore_colour(luma, rgb)[0].permute(1, 2, 0).numpy().astype(np.float32))
    return {name: fused / name for name in ("SeAFusion", "infrared", "visible")}


def protocol(args, out: Path, folders: dict[str, Path], started: float) -> None:
    """One wave per seed, the methods of a wave in parallel; a wave starts only if it can end before the deadline."""
    overrides = [f"device={args.device}", f"data.workers={args.protocol_workers}"]
    if args.quick:
        overrides += ["semantic.iters=3", "semantic.batch_size=2", "data.crop=[64,96]", "semantic.val_mode=whole",
                      "log_every=1", "semantic.optim.warmup_iters=1", "data.cache=false"]
    overrides += args.protocol_override

    def run(job):
        name, seed = job
        semfuse("segeval", "--data", str(args.data), "--config", "configs/segeval_msrs_boxes.yaml",
                "--fused", f"{name}={folders[name]}", "--seeds", str(seed), "--out",
                str(out / "segeval" / name / f"seed{seed}"), "--no-progress", *overrides,
                log_file=out / "logs" / f"segeval_{name}_seed{seed}.log", threads=1)

    seed_waves(args.seeds, TABLE_METHODS, run, args.parallel, args.deadline, started)


def seed_waves(seeds, methods, run, parallel: int, deadline: float | None, started: float, after_wave=None) -> None:
    """``run((method, seed))`` for every method, one wave of ``parallel`` at a time per seed; a wave starts only if
    it can end ``deadline`` seconds after ``started`` (judged by the previous wave); ``after_wave()`` after each."""
    wave_time = 0.0
    for seed in seeds:
        left = deadline - (time.time() - started) if deadline else None
        if left is not None and wave_time and left < 1.1 * wave_time:
            log(f"seed {seed} left out: {left:.0f} s left, a wave takes {wave_time:.0f} s")
            break
        wave_started = time.time()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(run, [(name, seed) for name in methods]))
        wave_time = time.time() - wave_started
        log(f"seed {seed}: wave of {len(methods)} methods in {wave_time:.0f} s")
        if after_wave is not None:
            after_wave()


def merge_tables(out: Path, methods: tuple[str, ...] = TABLE_METHODS) -> None:
    """One proxy Table I (mean ± std over seeds) from the per-method, per-seed protocol runs."""
    from semfuse.evaluation.segmentation import MethodResult, load_results, write_tables

    merged, classes, split, seeds = {}, None, None, set()
    for name in methods:
        runs = sorted((out / "segeval" / name).glob("seed*/scores.json"))
        if not runs:
            log(f"no protocol result for {name}")
            continue
        combined = None
        for scores in runs:
            classes, split, results = load_results(scores)
            result = results[name]
            seeds |= set(result.seeds)
            if combined is None:
                combined = MethodResult(dict(result.seeds), result.train_images, result.test_images,
                                        list(result.problems))
            else:
                combined.seeds.update(result.seeds)
        merged[name] = combined
    write_tables(merged, classes, split, sorted(seeds), out / "segeval", overwrite=True)
    log((out / "segeval" / "table.md").read_text())


def evaluate(args, out: Path, folders: dict[str, Path]) -> None:
    val = out / "val_fused"
    for name in TABLE_METHODS:
        (val / name).mkdir(parents=True, exist_ok=True)
        for stem in split_pairs(args.data, "val"):
            target = val / name / f"{stem}.png"
            if not target.exists():
                os.link(folders[name] / f"{stem}.png", target)

    def run(name):
        semfuse("evaluate", "--ir", str(args.data / "val" / "ir"), "--vis", str(args.data / "val" / "vi"),
                "--fused", f"{name}={val / name}", "--out", str(out / "metrics" / name), "--no-progress",
                log_file=out / "logs" / f"evaluate_{name}.log", threads=1)

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        list(pool.map(run, TABLE_METHODS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="msrs_boxes folder (train/ and val/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=12, help="data workers of the training run")
    parser.add_argument("--protocol-workers", type=int, default=1, help="data workers of each protocol run")
    parser.add_argument("--parallel", type=int, default=9, help="commands run at once (fuse, segeval, evaluate)")
    parser.add_argument("--train-timeout", type=float, help="seconds; a longer training run is stopped and its last "
                        "checkpoint exported")
    parser.add_argument("--deadline", type=float, help="seconds from the start; no protocol wave (one seed of "
                        "every method) starts that would end later")
    parser.add_argument("--steps", nargs="+", default=["train", "fuse", "sources", "evaluate", "protocol"])
    parser.add_argument("--train-override", nargs="*", default=[], help="extra KEY=VALUE for semfuse train")
    parser.add_argument("--protocol-override", nargs="*", default=[], help="extra KEY=VALUE for semfuse segeval")
    parser.add_argument("--quick", action="store_true", help="tiny schedules: a CPU check of the whole chain")
    args = parser.parse_args()
    args.data, out = args.data.resolve(), args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    started = time.time()
    weights = out / "train" / "fusion_net.safetensors"
    if "train" in args.steps:
        weights = train(args, out)
    folders = {name: out / "fused" / name for name in TABLE_METHODS}
    if "fuse" in args.steps:
        fuse_all(args, out, weights)
    if "sources" in args.steps:
        source_folders(args, out / "fused")
    if "evaluate" in args.steps:
        evaluate(args, out, folders)
    if "protocol" in args.steps:
        protocol(args, out, folders, started)
        merge_tables(out)
    log(f"all steps done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
