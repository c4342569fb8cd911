"""Training throughput (crops per second) of both phases with the default networks on random 240x320 crops.

Warm start: the fusion network alone, batch 2 (the authors'). Semantic: fusion network + SegFormer-b0, batch 4.
Each phase is measured in the same run with the fusion network in the reference layout (NCHW, float32), on its
fast path (``FusionNet.use_channels_last``, float32), and, where bf16 is native (CUDA, CPUs with AMX:
``semfuse.device.native_bfloat16``), under bf16 autocast as ``semfuse train`` runs there by default; every row's
speed-up over the NCHW float32 row is a ratio measured on the same machine state. The whole-run comparison with
the code before issue 9 is ``benchmarks/versus_baseline.py``.
Each measurement: ``--warmup`` untimed iterations, then ``--iters`` timed ones (synchronised on CUDA); the median
seconds per iteration gives crops/s, with the min-max spread.

    python benchmarks/train_throughput.py [--device cpu] [--iters 5] \\
        [--out benchmarks/results/train_throughput_cpu.json]
"""

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _env import environment, time_calls, write_report  # noqa: E402

from semfuse.config import SemanticConfig  # noqa: E402
from semfuse.engine.phases import WarmStartPhase, build_optimizer  # noqa: E402
from semfuse.engine.trainer import semantic_phase  # noqa: E402
from semfuse.models.fusion_net import build_fusion_net  # noqa: E402
from semfuse.models.segmenter import Segmenter  # noqa: E402

CROP = (240, 320)


def _batch(size: int, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    return {"ir": torch.rand(size, 1, *CROP, generator=generator).to(device),
            "vis": torch.rand(size, 3, *CROP, generator=generator).to(device),
            "label": torch.randint(0, 9, (size, *CROP), generator=generator).to(device)}


def measure(name: str, phase: torch.nn.Module, batch_size: int, device: torch.device, warmup: int, iters: int,
            layout: str = "nchw", bf16: bool = False) -> dict:
    optimizer = build_optimizer(phase, 1e-4, 0.01)
    batch = _batch(batch_size, device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = phase(batch)["loss"]
        loss.backward()
        optimizer.step()

    timing = time_calls(step, device, warmup, iters)
    median = timing["median_s"]
    return {"phase": name, "layout": layout, "bf16_autocast": bf16, "batch_size": batch_size, "crop": list(CROP),
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
    # imported here: versus_baseline's worker imports this module's measure() under older semfuse versions too
    from semfuse.device import native_bfloat16
    from semfuse.process import reuse_freed_memory

    device = torch.device(args.device)
    reuse_freed_memory()  # as `semfuse train` runs
    torch.manual_seed(0)
    rows = []
    variants = [("nchw", False), ("channels_last", False)]
    if native_bfloat16(device):  # what `semfuse train` runs here by default (amp: true)
        variants += [("channels_last", True)] if device.type == "cpu" else [("nchw", True)]
    for layout, bf16 in variants:
        def fusion_net():
            torch.manual_seed(0)
            return build_fusion_net().to(device).use_channels_last(layout == "channels_last")

        rows.append(measure("warm-start", WarmStartPhase(fusion_net(), "avg"), 2, device, args.warmup, args.iters,
                            layout, bf16))
        rows.append(measure("semantic", semantic_phase(fusion_net(), Segmenter(9).to(device), SemanticConfig()), 4,
                            device, args.warmup, args.iters, layout, bf16))
    for row in rows:  # speed-up over the reference layout in float32, measured in this run
        base = next(r for r in rows if r["phase"] == row["phase"] and r["layout"] == "nchw" and not r["bf16_autocast"])
        row["speedup_vs_nchw_fp32"] = row["crops_per_s"] / base["crops_per_s"]
    out = args.out or Path(__file__).parent / "results" / f"train_throughput_{device.type}.json"
    write_report(out, {"benchmark": "train_throughput", "device": str(device), **environment(), "results": rows})
    for row in rows:
        s = row["seconds_per_iter"]
        print(f"{row['phase']:<10} {row['layout']:<13} {'bf16' if row['bf16_autocast'] else 'fp32'} "
              f"batch {row['batch_size']}  {row['crops_per_s']:.2f} crops/s "
              f"({s['median_s']:.2f} s/iter, {s['min_s']:.2f}-{s['max_s']:.2f}), "
              f"{row['speedup_vs_nchw_fp32']:.2f}x the NCHW fp32 row")


if __name__ == "__main__":
    main()
