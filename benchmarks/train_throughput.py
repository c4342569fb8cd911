"""Training throughput (crops per second) of both phases with the default networks on random 240x320 crops.

Warm start: the fusion network alone, batch 2 (the authors'). Semantic: fusion network + SegFormer-b0, batch 4.
Each phase is measured twice in the same run: with the fusion network in the reference layout (NCHW) and on its
channels-last fast path (``FusionNet.use_channels_last``), so the speed-up is a ratio measured on the same machine
state.
Each measurement: ``--warmup`` untimed iterations, then ``--iters`` timed ones (synchronised on CUDA); the median
seconds per iteration gives crops/s, with the min-max spread. bf16 autocast on CUDA as in training.

    python benchmarks/train_throughput.py [--device cpu] [--iters 5] [--out benchmarks/results/train_throughput_cpu.json]
"""

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _env import environment, time_calls, write_report  # noqa: E402

from semfuse.config import SemanticConfig  # noqa: E402
from semfuse.engine.phases import SemanticPhase, WarmStartPhase, build_optimizer  # noqa: E402
from semfuse.models.fusion_net import build_fusion_net  # noqa: E402
from semfuse.models.segmenter import Segmenter  # noqa: E402

CROP = (240, 320)


def _batch(size: int, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    return {"ir": torch.rand(size, 1, *CROP, generator=generator).to(device),
            "vis": torch.rand(size, 3, *CROP, generator=generator).to(device),
            "label": torch.randint(0, 9, (size, *CROP), generator=generator).to(device)}


def measure(name: str, phase: torch.nn.Module, batch_size: int, device: torch.device, warmup: int, iters: int,
            layout: str = "nchw") -> dict:
    optimizer = build_optimizer(phase, 1e-4, 0.01)
    batch = _batch(batch_size, device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = phase(batch)["loss"]
        loss.backward()
        optimizer.step()

    timing = time_calls(step, device, warmup, iters)
    median = timing["median_s"]
    return {"phase": name, "layout": layout, "batch_size": batch_size, "crop": list(CROP),
            "seconds_per_iter": timing, "crops_per_s": batch_size / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    for layout in ("nchw", "channels_last"):
        def fusion_net():
            torch.manual_seed(0)
            return build_fusion_net().to(device).use_channels_last(layout == "channels_last")

        rows.append(measure("warm-start", WarmStartPhase(fusion_net(), "avg"), 2, device, args.warmup, args.iters,
                            layout))
        rows.append(measure("semantic", SemanticPhase(fusion_net(), Segmenter(9).to(device), SemanticConfig()), 4,
                            device, args.warmup, args.iters, layout))
    out = args.out or Path(__file__).parent / "results" / f"train_throughput_{device.type}.json"
    write_report(out, {"benchmark": "train_throughput", "device": str(device), **environment(), "results": rows})
    for row in rows:
        s = row["seconds_per_iter"]
        print(f"{row['phase']:<10} {row['layout']:<13} batch {row['batch_size']}  {row['crops_per_s']:.2f} crops/s "
              f"({s['median_s']:.2f} s/iter, {s['min_s']:.2f}-{s['max_s']:.2f})")


if __name__ == "__main__":
    main()
