"""Fusion pairs/s and training crops/s on a GPU, beside the GPU's own fp32 matmul and 3x3 convolution rates.

Measured in one process, each after ``--warmup`` untimed calls, as the median of ``--repeats`` timed calls
(``torch.cuda.synchronize()`` around each on CUDA):

* reference: a square fp32 matmul (``--matmul`` side; TF32 off) and a 3x3 convolution at each width of the fusion
  network (32, 64, 96, 128 channels in and out, at 640x480 / 2^scale), in GFLOP/s;
* inference: fusion-network pairs/s at 640x480, batch ``--batch``, fp32 and bf16 autocast, under
  ``torch.inference_mode``; GFLOP/s from the counted multiply-accumulates (``FlopCounterMode``);
* training: crops/s of the warm start (fusion network, ``WarmStartPhase``, avg rule) and of the semantic phase
  (fusion network + SegFormer-b0 built from its config, no download; ``SemanticPhase``), 240x320 crops, batch 8,
  bf16 autocast, forward + backward + AdamW step (``build_optimizer``) on one fixed random batch.

Nothing is downloaded. ``--device cpu --quick`` runs the same code on tiny sizes in seconds (for tests).

    python benchmarks/gpu_throughput.py [--device cuda] [--out benchmarks/results/gpu_throughput.json]
    python benchmarks/gpu_throughput.py --device cpu --quick --out /tmp/gpu_throughput_quick.json
"""

import argparse
import contextlib
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, time_calls, write_report  # noqa: E402

from semfuse.config import SemanticConfig  # noqa: E402
from semfuse.engine.phases import WarmStartPhase, build_optimizer  # noqa: E402
from semfuse.engine.trainer import semantic_phase  # noqa: E402
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net  # noqa: E402
from semfuse.models.segmenter import Segmenter  # noqa: E402

FULL = {"image": (480, 640), "crop": (240, 320), "train_batch": 8, "matmul": 8192}
QUICK = {"image": (64, 80), "crop": (48, 64), "train_batch": 2, "matmul": 256}


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _rate(flops: float, timing: dict) -> float:
    return flops / timing["median_s"] / 1e9


def reference_rates(device: torch.device, image: tuple[int, int], side: int, widths: list[int], warmup: int,
                    repeats: int) -> dict:
    """fp32 GFLOP/s of a side x side matmul and of a 3x3 convolution at each width (input at image / 2^scale)."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.rand(side, side, device=device, generator=generator)
    b = torch.rand(side, side, device=device, generator=generator)
    matmul = time_calls(lambda: a @ b, device, warmup, repeats)
    rows = {"matmul": {"side": side, "gflops": _rate(2 * side**3, matmul), "seconds": matmul}}
    total_flops = total_seconds = 0.0
    for scale, width in enumerate(widths):
        height, wide = -(-image[0] // 2**scale), -(-image[1] // 2**scale)
        x = torch.rand(1, width, height, wide, device=device, generator=generator)
        weight = torch.rand(width, width, 3, 3, device=device, generator=generator)
        timing = time_calls(lambda x=x, weight=weight: F.conv2d(x, weight, padding=1), device, warmup, repeats)
        flops = 2 * width * width * 9 * height * wide
        rows[f"conv3x3_{width}"] = {"shape": [1, width, height, wide], "gflops": _rate(flops, timing),
                                    "seconds": timing}
        total_flops, total_seconds = total_flops + flops, total_seconds + timing["median_s"]
    rows["conv3x3_all_widths_gflops"] = total_flops / total_seconds / 1e9
    return rows


def inference_rates(device: torch.device, image: tuple[int, int], batch: int, config: FusionNetConfig, warmup: int,
                    repeats: int) -> dict:
    """Fusion-network pairs/s and GFLOP/s, fp32 and bf16 autocast."""
    torch.manual_seed(0)
    net = build_fusion_net(config).to(device).eval()
    if device.type == "cpu":
        net.use_channels_last()
    ir, vis = torch.rand(batch, 1, *image, device=device), torch.rand(batch, 1, *image, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(ir, vis)
    flops = counter.get_total_flops()
    rows = {"image": list(image), "batch": batch, "gflop_per_batch": flops / 1e9}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        with torch.inference_mode(), _autocast(device, bf16):
            timing = time_calls(lambda: net(ir, vis), device, warmup, repeats)
        rows[name] = {"pairs_per_s": batch / timing["median_s"], "gflops": _rate(flops, timing), "seconds": timing}
    return rows


def training_rates(device: torch.device, crop: tuple[int, int], batch_size: int, config: FusionNetConfig,
                   warmup: int, repeats: int) -> list[dict]:
    """Crops/s of the warm start and the semantic phase (bf16 autocast, AdamW step)."""
    generator = torch.Generator().manual_seed(0)
    batch = {"ir": torch.rand(batch_size, 1, *crop, generator=generator).to(device),
             "vis": torch.rand(batch_size, 3, *crop, generator=generator).to(device),
             "label": torch.randint(0, 9, (batch_size, *crop), generator=generator).to(device)}
    torch.manual_seed(0)
    phases = {"warm-start": lambda: WarmStartPhase(build_fusion_net(config), "avg"),
              "semantic": lambda: semantic_phase(build_fusion_net(config), Segmenter(9), SemanticConfig())}
    rows = []
    for name, build in phases.items():
        phase = build().to(device).train()
        optimizer = build_optimizer(phase, 1e-4, 0.01)

        def step(phase=phase, optimizer=optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, True):
                loss = phase(batch)["loss"]
            loss.backward()
            optimizer.step()

        timing = time_calls(step, device, warmup, repeats)
        rows.append({"phase": name, "batch_size": batch_size, "crop": list(crop), "precision": "bf16 autocast",
                     "crops_per_s": batch_size / timing["median_s"], "seconds_per_iter": timing})
        del phase, optimizer
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (a smoke run, any device)")
    parser.add_argument("--warmup", type=int, help="untimed calls per entry (default: 3, quick: 1)")
    parser.add_argument("--repeats", type=int, help="timed calls per entry (default: 10, quick: 2)")
    parser.add_argument("--batch", type=int, default=1, help="pairs per inference call (default: 1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu_throughput.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run with --device cpu --quick for a smoke run")
    sizes = QUICK if args.quick else FULL
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 10)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, for the reference and the network alike
    torch.backends.cudnn.allow_tf32 = False
    config = FusionNetConfig()
    report = {"benchmark": "gpu_throughput", "device": str(device), "quick": args.quick, **environment(),
              "settings": {"warmup": warmup, "repeats": repeats, **sizes, "inference_batch": args.batch,
                           "tf32": False}}
    report["reference"] = reference_rates(device, sizes["image"], sizes["matmul"], config.widths, warmup, repeats)
    report["inference"] = inference_rates(device, sizes["image"], args.batch, config, warmup, repeats)
    for name in ("fp32", "bf16"):
        report["inference"][name]["fraction_of_conv_reference"] = (
            report["inference"][name]["gflops"] / report["reference"]["conv3x3_all_widths_gflops"])
    report["training"] = training_rates(device, sizes["crop"], sizes["train_batch"], config, warmup, repeats)
    if device.type == "cuda":
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    write_report(args.out, report)
    reference, inference = report["reference"], report["inference"]
    print(f"reference: matmul {reference['matmul']['gflops']:.0f} GFLOP/s, conv3x3 (all widths) "
          f"{reference['conv3x3_all_widths_gflops']:.0f} GFLOP/s")
    for name in ("fp32", "bf16"):
        row = inference[name]
        print(f"inference {name}: {row['pairs_per_s']:.1f} pairs/s at {sizes['image'][1]}x{sizes['image'][0]}, "
              f"{row['gflops']:.0f} GFLOP/s = {row['fraction_of_conv_reference']:.2f} of the conv reference")
    for row in report["training"]:
        print(f"training {row['phase']}: {row['crops_per_s']:.1f} crops/s (batch {row['batch_size']}, bf16)")


if __name__ == "__main__":
    main()
