"""Folder-run pairs/s (``semfuse fuse`` on a folder) beside the network alone and the device's own reference rates.

One process, one command, in rounds so that a change of load on a shared machine lands on every entry alike. Per
image size, on ``--pairs`` real PNG pairs (the bundled MSRS samples resized to the size, colour visible images)
written to a temporary folder:

* reference: fp32 GFLOP/s of a square matmul (``--matmul`` side) and of a 3x3 convolution at each width of the
  network (32, 64, 96, 128 channels at the size / 2^scale), and the same convolutions in bf16 on CUDA
  (``gpu_throughput.reference_rates``); timed before and after the rounds, the higher kept; under PyTorch's TF32
  defaults (cuDNN convolutions in TF32, matmuls not; recorded in the JSON), the settings ``semfuse fuse`` runs in;
* network: the fusion callable ``semfuse fuse`` builds (bundled weights, ``--precision``), called on the pairs
  already in memory in batches of ``--batch``: the method's own rate, host-device copies included;
* folder: :func:`semfuse.inference.fuse_pairs` on the folder (``--workers`` threads each side, default the
  device's, and ``--batch``): reading, colour, fusing, encoding and atomic writing, as ``semfuse fuse --ir DIR
  --vis DIR`` runs it; ``folder_alternative``: the same with 0 workers (one pair after the other in one thread)
  where ``--workers`` is not 0, else with 2;
* network_compiled (``--compile``, off by default: compiling takes a minute or more per batch shape): the same
  network through ``torch.compile`` (CUDA graphs on CUDA), with its compile time and its largest difference to the
  eager network, to decide whether compiling pays off for a folder run (on the 2-core CPU it does not: 640x480
  took 1.29 s compiled against 1.22 s eager, after 82 s of compiling, measured 2026-12-04 with torch 2.13);
* training (``--training``; on by default on CUDA): crops/s of both phases (``gpu_throughput.training_rates``) and
  the rate at which one thread reads and decodes a pair and cuts a crop, to say what limits training.

Each round times the network over all pairs, then each folder run; the median over ``--repeats`` rounds (after one
untimed warm-up round) gives pairs/s, and ``folder_over_network`` is the folder run's rate over the network's.

    python benchmarks/pipeline_throughput.py --threads 2 --out benchmarks/results/pipeline_throughput_cpu.json
    python benchmarks/pipeline_throughput.py --device cuda --precision bf16      # ~5 min on an H100/H200
    python benchmarks/pipeline_throughput.py --device cuda --precision bf16 --compile --sizes 640x480 --no-training \
        --out benchmarks/results/pipeline_throughput_cuda_compile.json                 # eager against compiled
    python benchmarks/pipeline_throughput.py --quick --out /tmp/pipeline_quick.json   # tiny, any device (tests)
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, time_calls, write_report  # noqa: E402
from gpu_throughput import reference_rates, training_rates  # noqa: E402

from semfuse.data.pairs import load_pair, pair_folders  # noqa: E402
from semfuse.inference import default_batch, default_workers, fuse_pairs  # noqa: E402
from semfuse.methods import get_method  # noqa: E402
from semfuse.models.fusion_net import FusionNetConfig  # noqa: E402
from semfuse.process import apply_threads, physical_cores, reuse_freed_memory  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "semfuse" / "samples"
SOURCES = ("msrs_00004N.png", "msrs_00055D.png")


def make_folder(root: Path, size: tuple[int, int], pairs: int) -> list:
    """``root/ir``, ``root/vi`` with ``pairs`` PNG pairs of ``size`` (W, H): the MSRS samples resized, in turn."""
    for kind in ("ir", "vi"):
        (root / kind).mkdir(parents=True)
        encoded = []
        for name in SOURCES:
            with Image.open(SAMPLES / kind / name) as image:
                target = root / kind / f"{len(encoded):05d}.png"
                image.resize(size, Image.Resampling.BICUBIC).save(target)
                encoded.append(target.read_bytes())
        for index in range(len(SOURCES), pairs):
            (root / kind / f"{index:05d}.png").write_bytes(encoded[index % len(SOURCES)])
    return pair_folders(root / "ir", root / "vi").pairs


def bf16_conv_rates(device: torch.device, image: tuple[int, int], widths: list[int], warmup: int,
                    repeats: int) -> float:
    """bf16 GFLOP/s of the 3x3 convolutions at the network's widths, all widths together."""
    flops = seconds = 0.0
    for scale, width in enumerate(widths):
        height, wide = -(-image[0] // 2**scale), -(-image[1] // 2**scale)
        x = torch.rand(1, width, height, wide, device=device, dtype=torch.bfloat16)
        weight = torch.rand(width, width, 3, 3, device=device, dtype=torch.bfloat16)
        timing = time_calls(lambda x=x, weight=weight: F.conv2d(x, weight, padding=1), device, warmup, repeats)
        flops, seconds = flops + 2 * width * width * 9 * height * wide, seconds + timing["median_s"]
    return flops / seconds / 1e9


def reference(device: torch.device, image: tuple[int, int], matmul: int, warmup: int, repeats: int) -> dict:
    widths = FusionNetConfig().widths
    rows = reference_rates(device, image, matmul, widths, warmup, repeats)
    if device.type == "cuda":
        rows["conv3x3_all_widths_bf16_gflops"] = bf16_conv_rates(device, image, widths, warmup, repeats)
    return rows


def network_call(fuse, pairs: list, batch: int, device: torch.device):
    """A call that fuses every pair's luminance in memory, ``batch`` at a time, as the folder run calls the method."""
    loaded = [load_pair(pair) for pair in pairs]
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ir = torch.stack([torch.from_numpy(item["ir"]) for item in loaded])[:, None]  # (N, 1, H, W)
    vis = torch.stack([torch.from_numpy(item["vis"] @ luma) for item in loaded])[:, None]  # (N, 1, H, W)

    def run() -> None:
        for start in range(0, len(pairs), batch):
            fuse(ir[start:start + batch], vis[start:start + batch])
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run


def compiled_network_call(pairs: list, batch: int, device: torch.device, precision: str) -> tuple:
    """``network_call`` through ``torch.compile`` (on CUDA mode ``reduce-overhead``: CUDA graphs of each batch shape;
    on the CPU the default mode), the same weights, layout and precision as ``semfuse fuse``: (the timed call, the
    compile seconds (first call), the largest difference to the eager network on the first batch, in grey levels)."""
    from semfuse.models.weights import load_fusion_net

    net = load_fusion_net(None, device)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)
    else:
        net.use_channels_last()
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    compiled = torch.compile(net, mode=mode, dynamic=False)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def fuse(model, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast:
            return model(ir.to(device), vis.to(device)).float().cpu()

    run = network_call(lambda ir, vis: fuse(compiled, ir, vis), pairs, batch, device)
    loaded = [load_pair(pair) for pair in pairs[:batch]]
    ir = torch.stack([torch.from_numpy(item["ir"]) for item in loaded])[:, None]
    vis = torch.stack([torch.from_numpy(item["vis"] @ np.array([0.299, 0.587, 0.114], np.float32))
                       for item in loaded])[:, None]
    start = time.perf_counter()
    run()  # compiles (and records the CUDA graphs) for every batch shape of the folder
    compile_s = time.perf_counter() - start
    difference = float((fuse(compiled, ir, vis) - fuse(net, ir, vis)).abs().max()) * 255
    return run, compile_s, difference


def loading_rate(pairs: list, crop: tuple[int, int], repeats: int) -> float:
    """Crops/s one thread reads, decodes and crops from the folder (what one data-loading worker delivers)."""
    start = time.perf_counter()
    count = 0
    for _ in range(max(1, repeats)):
        for pair in pairs[:8]:
            loaded = load_pair(pair)
            np.ascontiguousarray(loaded["vis"][: crop[0], : crop[1]])
            count += 1
    return count / (time.perf_counter() - start)


def measure_size(args: argparse.Namespace, device: torch.device, size: tuple[int, int], root: Path) -> dict:
    """Every entry at one size (W, H), in rounds."""
    image = (size[1], size[0])
    pairs = make_folder(root, size, args.pairs or max(32, 512 * 640 * 480 // (size[0] * size[1])))
    fuse = get_method("semfuse", device=device, precision=args.precision)
    entries = {"network": network_call(fuse, pairs, args.batch, device)}
    compiled = None
    if args.compile:
        entries["network_compiled"], *compiled = compiled_network_call(pairs, args.batch, device, args.precision)
    folders = {"folder": args.workers, "folder_alternative": 0 if args.workers else 2}
    for name, workers in folders.items():
        entries[name] = lambda workers=workers: fuse_pairs(fuse, pairs, root / "out", overwrite=True, progress=False,
                                                           batch=args.batch, workers=workers)
    before = reference(device, image, args.matmul, args.warmup, args.repeats)
    times: dict[str, list[float]] = {name: [] for name in entries}
    for round_index in range(args.repeats + 1):  # round 0 warms up: allocations, cuDNN tuning, file cache
        for name, call in entries.items():
            start = time.perf_counter()
            call()
            if round_index:
                times[name].append(time.perf_counter() - start)
    after = reference(device, image, args.matmul, args.warmup, args.repeats)
    best = max((before, after), key=lambda rows: rows["conv3x3_all_widths_gflops"])
    rows = {"size": list(size), "pairs": len(pairs), "reference": best, "reference_before": before,
            "reference_after": after}
    for name, seconds in times.items():
        rows[name] = {"pairs_per_s": len(pairs) / statistics.median(seconds), "median_s": statistics.median(seconds),
                      "min_s": min(seconds), "max_s": max(seconds), "times_s": seconds}
    for name, workers in folders.items():
        rows[name]["workers"] = workers
        rows[f"{name}_over_network"] = rows[name]["pairs_per_s"] / rows["network"]["pairs_per_s"]
    if compiled is not None:
        rows["network_compiled"] |= {"mode": "reduce-overhead" if device.type == "cuda" else "default",
                                     "compile_s": compiled[0], "max_difference_grey_levels": compiled[1]}
        rows["compiled_over_network"] = rows["network_compiled"]["pairs_per_s"] / rows["network"]["pairs_per_s"]
    rows["loading_crops_per_s_one_thread"] = loading_rate(pairs, (240, 320), 1)
    shutil.rmtree(root)
    return rows


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, torch.device]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 4 pairs, 1 round (a smoke run)")
    parser.add_argument("--sizes", nargs="+", help="W x H sizes (default: 640x480 on the CPU; 640x480 and "
                        "1920x1080 on CUDA)")
    parser.add_argument("--pairs", type=int, help="pairs in the folder (default: CPU 8; CUDA 512 at 640x480, as "
                        "many pixels at other sizes, at least 32)")
    parser.add_argument("--batch", type=int, help="pairs per call (default: the folder run's default by device)")
    parser.add_argument("--workers", type=int, help="threads each side (default: the folder run's default by device)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, help="timed rounds (default: 3, quick 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per reference entry")
    parser.add_argument("--matmul", type=int, help="matmul side (default: CPU 2048, CUDA 8192, quick 256)")
    parser.add_argument("--threads", type=int, default=physical_cores(), help="CPU threads (default: physical cores)")
    parser.add_argument("--training", action=argparse.BooleanOptionalAction, help="also time training (default: "
                        "on CUDA only)")
    parser.add_argument("--compile", action="store_true", help="also time the network through torch.compile "
                        "(CUDA: CUDA graphs), with its compile time")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/pipeline_throughput_"
                        "<device type>.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.sizes = [tuple(int(side) for side in size.split("x")) for size in
                  (args.sizes or (["64x48"] if args.quick else ["640x480", "1920x1080"] if cuda else ["640x480"]))]
    args.pairs = args.pairs or (4 if args.quick else None if cuda else 8)
    args.batch = args.batch or default_batch(device)
    args.workers = default_workers(device) if args.workers is None else args.workers
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.matmul = args.matmul or (256 if args.quick else 8192 if cuda else 2048)
    args.training = cuda if args.training is None else args.training
    args.out = args.out or Path(__file__).resolve().parent / "results" / f"pipeline_throughput_{device.type}.json"
    return args, device


def main(argv: list[str] | None = None) -> dict:
    args, device = parse(argv)
    apply_threads(args.threads)
    reuse_freed_memory()
    report = {"benchmark": "pipeline_throughput", "device": str(device), **environment(),
              "settings": {key: value for key, value in vars(args).items() if key != "out"} | {"out": str(args.out)},
              "tf32": {"cudnn_convolutions": torch.backends.cudnn.allow_tf32,  # PyTorch's defaults, as semfuse runs
                       "matmul": torch.backends.cuda.matmul.allow_tf32},
              "sizes": []}
    with tempfile.TemporaryDirectory(prefix="semfuse-pipeline-") as temporary:
        for size in args.sizes:
            report["sizes"].append(measure_size(args, device, size, Path(temporary) / f"{size[0]}x{size[1]}"))
            row = report["sizes"][-1]
            print(f"{size[0]}x{size[1]}: network {row['network']['pairs_per_s']:.2f} pairs/s, folder "
                  f"{row['folder']['pairs_per_s']:.2f} ({row['folder_over_network']:.3f} of the network), with "
                  f"{row['folder_alternative']['workers']} workers {row['folder_alternative']['pairs_per_s']:.2f}; "
                  "reference conv3x3 "
                  f"{row['reference']['conv3x3_all_widths_gflops']:.0f} GFLOP/s, matmul "
                  f"{row['reference']['matmul']['gflops']:.0f} GFLOP/s")
            if "network_compiled" in row:
                compiled = row["network_compiled"]
                print(f"  torch.compile: {compiled['pairs_per_s']:.2f} pairs/s ({row['compiled_over_network']:.3f} of "
                      f"eager) after {compiled['compile_s']:.0f} s of compiling; largest difference "
                      f"{compiled['max_difference_grey_levels']:.3g} grey levels")
        if args.training:
            crop, batch = ((48, 64), 2) if args.quick else ((240, 320), 8)
            report["training"] = training_rates(device, crop, batch, FusionNetConfig(), args.warmup,
                                                max(2, args.repeats))
            for row in report["training"]:
                print(f"training {row['phase']}: {row['crops_per_s']:.1f} crops/s (batch {row['batch_size']}, bf16)")
    if device.type == "cuda":
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    write_report(args.out, report)
    return report


if __name__ == "__main__":
    main()
