"""One measurement for ``versus_baseline.py``, in a process of its own, of whichever ``semfuse`` PYTHONPATH names.

Tasks: ``infer`` (the fusion network on one WIDTHxHEIGHT pair, ``torch.inference_mode``, on the channels-last path
where the network has one, as ``semfuse fuse`` runs it on the CPU) and ``warm-start`` / ``semantic`` (one training
step of that phase on 240x320 crops, as ``benchmarks/train_throughput.py`` times it, with the fusion network
channels-last where it can be and under bf16 autocast where the code has it and the CPU has AMX, as ``semfuse
train`` runs on the CPU by default; ``--fp32`` keeps float32). Around the task, the process times a fixed
reference: fp32 3x3 convolutions at the network's widths (32, 64, 96, 128 channels at 640x480 / 2^scale), the better
of the NCHW and channels-last layouts per width, the definition of ``speed_limit.py`` (which cannot be imported
here: it needs semfuse functions that older commits lack). It prints one JSON line.

    PYTHONPATH=src python benchmarks/_step_worker.py infer --size 640x480 [--threads 2] [--warmup 1] [--iters 3]
        [--count-flops] [--weights W.safetensors] [--output fused.safetensors]
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import count_onednn_convolutions, time_calls  # noqa: E402

CPU = torch.device("cpu")
REFERENCE_WIDTHS = (32, 64, 96, 128)
TASKS = ("infer", "warm-start", "semantic")


def conv_reference_gflops(repeats: int = 3) -> float:
    """fp32 GFLOP/s of 3x3 convolutions at the network's widths: total FLOPs / summed best-layout median times."""
    generator = torch.Generator().manual_seed(1)
    total_flops = total_seconds = 0.0
    for scale, width in enumerate(REFERENCE_WIDTHS):
        x = torch.rand(1, width, 480 // 2**scale, 640 // 2**scale, generator=generator)
        weight = torch.rand(width, width, 3, 3, generator=generator)
        seconds = []
        for layout in (torch.contiguous_format, torch.channels_last):
            xl, wl = x.contiguous(memory_format=layout), weight.contiguous(memory_format=layout)
            seconds.append(time_calls(lambda xl=xl, wl=wl: F.conv2d(xl, wl, padding=1), CPU, 1, repeats)["median_s"])
        total_flops += 2 * width * width * 9 * x.shape[-2] * x.shape[-1]
        total_seconds += min(seconds)
    return total_flops / total_seconds / 1e9


def fast_path(fusion_net: torch.nn.Module) -> bool:
    """Put the network on its channels-last path where it has one; whether it did."""
    if hasattr(fusion_net, "use_channels_last"):
        fusion_net.use_channels_last(True)
        return True
    return False


def parse_size(size: str) -> tuple[int, int]:
    """``"640x480"`` (WIDTHxHEIGHT) -> (height, width)."""
    width, height = (int(side) for side in size.lower().split("x"))
    return height, width


def measure_inference(args: argparse.Namespace) -> dict:
    from semfuse.models.fusion_net import build_fusion_net

    height, width = parse_size(args.size)
    torch.manual_seed(0)
    net = build_fusion_net().eval()
    if args.weights:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(args.weights), strict=True)
    channels_last = fast_path(net)
    generator = torch.Generator().manual_seed(0)
    ir, vis = (torch.rand(1, 1, height, width, generator=generator) for _ in range(2))
    result = {"size": args.size, "batch_size": 1, "unit": "pairs", "channels_last": channels_last}
    with torch.inference_mode():
        if args.count_flops or args.output:
            count_onednn_convolutions()  # the current fast path's fused convolutions, which the counter misses
            with FlopCounterMode(display=False) as counter:
                fused = net(ir, vis)
            result["flops"] = counter.get_total_flops()
            if args.output:
                from safetensors.torch import save_file

                save_file({"fused": fused.contiguous()}, args.output)
        result["seconds"] = time_calls(lambda: net(ir, vis), CPU, args.warmup, args.iters)
    return result


def measure_training(args: argparse.Namespace) -> dict:
    from train_throughput import CROP, _batch, measure

    from semfuse.config import SemanticConfig
    from semfuse.engine.phases import WarmStartPhase
    from semfuse.engine.trainer import semantic_phase
    from semfuse.models.fusion_net import build_fusion_net
    from semfuse.models.segmenter import Segmenter

    torch.manual_seed(0)
    fusion_net = build_fusion_net()
    channels_last = fast_path(fusion_net)
    if args.task == "warm-start":
        phase, batch_size = WarmStartPhase(fusion_net, "avg"), 2
    else:
        phase, batch_size = semantic_phase(fusion_net, Segmenter(9), SemanticConfig()), 4
    try:  # bf16 autocast where `semfuse train` uses it by default (amp: true; CUDA and CPUs with AMX), if it does
        from semfuse.device import native_bfloat16

        bf16 = native_bfloat16(CPU) and not args.fp32
    except ImportError:  # older commits train in float32 on the CPU
        bf16 = False
    result = {"size": f"{CROP[1]}x{CROP[0]}", "batch_size": batch_size, "unit": "crops",
              "channels_last": channels_last, "bf16_autocast": bf16}
    if args.count_flops:
        with FlopCounterMode(display=False) as counter:
            phase(_batch(batch_size, CPU))["loss"].backward()
        phase.zero_grad(set_to_none=True)
        result["flops"] = counter.get_total_flops()
    row = measure(args.task, phase, batch_size, CPU, args.warmup, args.iters, bf16=bf16)
    result["seconds"] = row["seconds_per_iter"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the infer task's pair")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before the timed ones")
    parser.add_argument("--iters", type=int, default=3, help="timed calls (the median is the figure)")
    parser.add_argument("--count-flops", action="store_true", help="count FLOPs in one more untimed call first")
    parser.add_argument("--fp32", action="store_true", help="training: float32 even where semfuse would use bf16")
    parser.add_argument("--weights", help="infer: fusion-network state dict (.safetensors) to load, strictly")
    parser.add_argument("--output", help="infer: write the fused output of the first call here (.safetensors)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import semfuse

    try:  # the allocator setting of the semfuse commands, where the code has it (as `semfuse fuse`/`train` run)
        from semfuse.process import reuse_freed_memory

        reused = reuse_freed_memory()
    except ImportError:
        reused = False

    load_before = os.getloadavg()[0]
    reference_before = conv_reference_gflops()
    result = measure_inference(args) if args.task == "infer" else measure_training(args)
    reference_after = conv_reference_gflops()
    median = result["seconds"]["median_s"]
    reference = max(reference_before, reference_after)
    result.update(task=args.task, semfuse=str(Path(semfuse.__file__).resolve().parent),
                  threads=torch.get_num_threads(), per_s=result["batch_size"] / median, reuse_freed_memory=reused,
                  reference_conv_gflops={"before": reference_before, "after": reference_after, "best": reference},
                  load_average_1min_before_after=[load_before, os.getloadavg()[0]])
    if "flops" in result:
        result["gflops"] = result["flops"] / median / 1e9
        result["fraction_of_conv_reference"] = result["gflops"] / reference
    print(json.dumps(result))


if __name__ == "__main__":
    main()
