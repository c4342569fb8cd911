"""The fusion network's CPU speed as a fraction of the machine's limit, both measured in the same run.

Reference (the limit): GFLOP/s of a 2048x2048 fp32 matmul and of a 3x3 convolution at each width of the network
(32, 64, 96, 128 channels in and out, at 640x480 / 2^scale, the better of the NCHW and channels-last layouts), timed
at the start and at the end of the run; the higher of the two is the reference (so a busy moment lowers the
network's fraction, never raises it).

Network: the bundled weights, batch 1, ``torch.inference_mode``; ``--warmup`` untimed calls then ``--repeats``
timed ones (median). Each timed network call is paired with a run of the four reference convolutions just before
it, and the median of the per-pair fractions is reported too (``paired_fraction_of_conv``): on a machine that other
jobs load unevenly, that ratio is the one that holds still. Rows: the reference path (NCHW) at 640x480; the
channels-last fast path at every ``--sizes``; bfloat16 autocast (``fuse --precision bf16``) at 640x480, also as a
fraction of the same convolutions in bf16 (``conv_bf16_gflops``); onnxruntime (when installed) at 640x480 with the
same thread count. GFLOP/s = counted FLOPs (``FlopCounterMode``, convolutions and matrix products, counted on the
reference path for every row) / median seconds; fraction = that / the conv reference: the time the network takes
against the time the reference rate would need for the reference path's work. The fast path computes the same
function with fewer multiplications (its decoder convolves the up-sampled inputs at low resolution, its attention
works from a Gram matrix), so its rows also give the FLOPs it executes and the fraction those make
(``executed_flops``, ``executed_fraction_of_conv_reference``): how busy it keeps the machine. The largest
|fast - reference| output difference is recorded too.

    python benchmarks/speed_limit.py [--threads 2] [--repeats 5] [--out benchmarks/results/speed_limit_cpu.json]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import count_onednn_convolutions, environment, time_calls, write_report  # noqa: E402

from semfuse.models.weights import load_fusion_net  # noqa: E402
from semfuse.process import physical_cores, reuse_freed_memory  # noqa: E402

CPU = torch.device("cpu")


def reference_rates(widths: list[int], warmup: int, repeats: int, side: int = 2048) -> dict:
    """fp32 GFLOP/s of a matmul and of 3x3 convolutions at the network's widths (best layout per width)."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(side, side, generator=generator), torch.rand(side, side, generator=generator)
    matmul = time_calls(lambda: a @ b, CPU, warmup, repeats)
    rows = {"matmul_gflops": 2 * side**3 / matmul["median_s"] / 1e9, "matmul_side": side}
    total_flops = total_seconds = bf16_seconds = 0.0
    for scale, width in enumerate(widths):
        height, wide = 480 // 2**scale, 640 // 2**scale
        x = torch.rand(1, width, height, wide, generator=generator)
        weight = torch.rand(width, width, 3, 3, generator=generator)
        flops = 2 * width * width * 9 * height * wide
        layouts = {}
        for layout, memory_format in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
            xl, wl = x.contiguous(memory_format=memory_format), weight.contiguous(memory_format=memory_format)
            timing = time_calls(lambda xl=xl, wl=wl: F.conv2d(xl, wl, padding=1), CPU, warmup, repeats)
            layouts[layout] = flops / timing["median_s"] / 1e9
        best = max(layouts.values())
        xb, wb = (t.contiguous(memory_format=torch.channels_last).bfloat16() for t in (x, weight))
        bf16 = flops / time_calls(lambda xb=xb, wb=wb: F.conv2d(xb, wb, padding=1), CPU, warmup, repeats)["median_s"]
        rows[f"conv3x3_{width}ch_{wide}x{height}"] = {"gflops_by_layout": layouts, "gflops": best,
                                                      "bf16_channels_last_gflops": bf16 / 1e9}
        total_flops, total_seconds = total_flops + flops, total_seconds + flops / best / 1e9
        bf16_seconds += flops / bf16
    rows["conv_gflops"] = total_flops / total_seconds / 1e9
    rows["conv_bf16_gflops"] = total_flops / bf16_seconds / 1e9
    return rows


def paired_fraction(call, flops: float, widths: list[int], repeats: int) -> dict:
    """Time the reference convolutions (channels-last) and then ``call`` once per repeat; per-pair fractions."""
    generator = torch.Generator().manual_seed(1)
    convs = []
    for scale, width in enumerate(widths):
        x = torch.rand(1, width, 480 // 2**scale, 640 // 2**scale, generator=generator)
        weight = torch.rand(width, width, 3, 3, generator=generator)
        convs.append((x.contiguous(memory_format=torch.channels_last),
                      weight.contiguous(memory_format=torch.channels_last),
                      2 * width * width * 9 * x.shape[-2] * x.shape[-1]))
    fractions, seconds = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for x, weight, _ in convs:
            F.conv2d(x, weight, padding=1)
        reference = sum(conv[2] for conv in convs) / (time.perf_counter() - start)
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
        fractions.append(flops / seconds[-1] / reference)
    return {"paired_fraction_of_conv": statistics.median(fractions), "fractions": fractions, "seconds": seconds}


def count_flops(net: torch.nn.Module, height: int, width: int) -> float:
    ir = torch.rand(1, 1, height, width)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(ir, ir)
    return counter.get_total_flops()


def count_executed_flops(fast: torch.nn.Module, height: int, width: int) -> float:
    """FLOPs the fast path itself executes: fewer than the reference path's, since its decoder convolves the
    up-sampled inputs at low resolution and its attention works from the tokens' Gram matrix."""
    count_onednn_convolutions()
    return count_flops(fast, height, width)


def onnx_rate(net: torch.nn.Module, threads: int, warmup: int, repeats: int) -> dict | None:
    """Seconds per 640x480 pair in onnxruntime, or None when onnx/onnxruntime are not installed."""
    try:
        import onnxruntime  # noqa: F401

        from semfuse.export import export_onnx, onnx_session
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(net, Path(folder) / "semfuse.onnx")
        session = onnx_session(path, threads=threads)
        ir = torch.rand(1, 1, 480, 640).numpy()
        return time_calls(lambda: session.run(["fused"], {"ir": ir, "vis": ir}), CPU, warmup, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=physical_cores(), help="torch threads (default: physical cores)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls at 640x480 (3 at larger sizes)")
    parser.add_argument("--sizes", default="640x480,1280x1024,1920x1080", help="WIDTHxHEIGHT list for the fast path")
    parser.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 autocast row")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "speed_limit_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    reused = reuse_freed_memory()  # as `semfuse fuse` runs (without --tile)
    load_before = os.getloadavg()
    net = load_fusion_net("warm-start", "cpu")
    widths = list(net.encoder_ir.out_channels)
    first = reference_rates(widths, args.warmup, args.repeats)

    fast = load_fusion_net("warm-start", "cpu").use_channels_last()
    ir, vis = torch.rand(1, 1, 480, 640), torch.rand(1, 1, 480, 640)
    with torch.inference_mode():
        difference = (fast(ir, vis) - net(ir, vis)).abs().max().item()
        rows = [{"path": "reference (NCHW)", "size": "640x480", "flops": count_flops(net, 480, 640),
                 "seconds": time_calls(lambda: net(ir, vis), CPU, args.warmup, args.repeats)}]
        rows[0]["paired"] = paired_fraction(lambda: net(ir, vis), rows[0]["flops"], widths, args.repeats)
        for size in args.sizes.split(","):
            width, height = (int(side) for side in size.split("x"))
            a, b = torch.rand(1, 1, height, width), torch.rand(1, 1, height, width)
            repeats = args.repeats if width * height <= 640 * 480 else min(args.repeats, 3)
            rows.append({"path": "fast (channels-last)", "size": size, "flops": count_flops(net, height, width),
                         "executed_flops": count_executed_flops(fast, height, width),
                         "seconds": time_calls(lambda a=a, b=b: fast(a, b), CPU, args.warmup, repeats)})
            rows[-1]["paired"] = paired_fraction(lambda a=a, b=b: fast(a, b), rows[-1]["flops"], widths, repeats)
        if not args.no_bf16:  # bfloat16 autocast (fuse --precision bf16), against the bf16 conv reference too
            def bf16_call():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return fast(ir, vis)

            bf16_difference = (bf16_call().float() - fast(ir, vis)).abs().max().item()
            rows.append({"path": "fast, bf16 autocast", "size": "640x480", "flops": rows[0]["flops"],
                         "seconds": time_calls(bf16_call, CPU, args.warmup, args.repeats),
                         "max_abs_difference_vs_fp32": bf16_difference})
    onnx = None if args.no_onnx else onnx_rate(net, args.threads, args.warmup, args.repeats)
    if onnx is not None:
        rows.append({"path": "onnxruntime", "size": "640x480", "flops": rows[0]["flops"], "seconds": onnx})
    last = reference_rates(widths, args.warmup, args.repeats)
    reference = {"conv_gflops": max(first["conv_gflops"], last["conv_gflops"]),
                 "conv_bf16_gflops": max(first["conv_bf16_gflops"], last["conv_bf16_gflops"]),
                 "matmul_gflops": max(first["matmul_gflops"], last["matmul_gflops"]), "start": first, "end": last}
    for row in rows:
        row["gflops"] = row["flops"] / row["seconds"]["median_s"] / 1e9
        row["fraction_of_conv_reference"] = row["gflops"] / reference["conv_gflops"]
        row["fraction_of_matmul_reference"] = row["gflops"] / reference["matmul_gflops"]
        if "executed_flops" in row:
            row["executed_gflops"] = row["executed_flops"] / row["seconds"]["median_s"] / 1e9
            row["executed_fraction_of_conv_reference"] = row["executed_gflops"] / reference["conv_gflops"]
        if "bf16" in row["path"]:
            row["fraction_of_bf16_conv_reference"] = row["gflops"] / reference["conv_bf16_gflops"]
    report = {"benchmark": "speed_limit", "device": "cpu", **environment(),
              "settings": {"threads": args.threads, "warmup": args.warmup, "repeats": args.repeats,
                           "reuse_freed_memory": reused},
              "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
              "reference": reference, "max_abs_difference_fast_vs_reference_640x480": difference, "network": rows}
    write_report(args.out, report)
    print(f"reference: conv3x3 {reference['conv_gflops']:.0f} GFLOP/s (bf16: {reference['conv_bf16_gflops']:.0f}), "
          f"matmul {reference['matmul_gflops']:.0f} GFLOP/s ({args.threads} threads)")
    for row in rows:
        print(f"{row['path']:<22} {row['size']:>10}  {row['seconds']['median_s']:7.3f} s  {row['gflops']:6.1f} GFLOP/s"
              f"  {row['fraction_of_conv_reference']:.2f} of conv"
              + (f" (paired: {row['paired']['paired_fraction_of_conv']:.2f})" if "paired" in row else "")
              + (f"; executed {row['executed_flops'] / 1e9:.0f} GFLOP: {row['executed_fraction_of_conv_reference']:.2f}"
                 if "executed_flops" in row else "")
              + (f" ({row['fraction_of_bf16_conv_reference']:.2f} of the bf16 conv)" if "bf16" in row["path"] else ""))


if __name__ == "__main__":
    main()
