"""Training throughput (crops per second) of both phases with the default networks on random 240x320 crops.

Warm start: the fusion network alone, batch 2 (the authors'). Semantic: fusion network + SegFormer-b0, batch 4.
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


def measure(name: str, phase: torch.nn.Module, batch_size: int, device: torch.device, warmup: int, iters: int) -> dict:
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
    return {"phase": name, "batch_size": batch_size, "crop": list(CROP), "seconds_per_iter": timing,
            "crops_per_s": batch_size / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = [measure("warm-start", WarmStartPhase(build_fusion_net().to(device), "avg"), 2, device, args.warmup,
                    args.iters),
            measure("semantic", SemanticPhase(build_fusion_net().to(device), Segmenter(9).to(device),
                                              SemanticConfig()), 4, device, args.warmup, args.iters)]
    out = args.out or Path(__file__).parent / "results" / f"train_throughput_{device.type}.json"
    write_report(out, {"benchmark": "train_throughput", "device": str(device), **environment(), "results": rows})
    for row in rows:
        s = row["seconds_per_iter"]
        print(f"{row['phase']:<10} batch {row['batch_size']}  {row['crops_per_s']:.2f} crops/s "
              f"({s['median_s']:.2f} s/iter, {s['min_s']:.2f}-{s['max_s']:.2f})")


if __name__ == "__main__":
    main()
