"""Parameters, MACs and CPU (or GPU) seconds per 640x480 pair of the fusion network, for every attention kind.

MACs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; FLOPs / 2).
Seconds: one warm-up forward, then ``--repeats`` timed forwards under ``torch.inference_mode`` (synchronised on
CUDA); the median and the min-max spread are reported.

    python benchmarks/model_cost.py [--device cpu] [--repeats 5] [--out benchmarks/results/model_cost_cpu.json]
"""

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from _env import environment, time_calls, write_report  # noqa: E402

from semfuse.layers.attention import ATTENTION_KINDS  # noqa: E402
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net  # noqa: E402

HEIGHT, WIDTH = 480, 640


def measure(kind: str, device: torch.device, repeats: int) -> dict:
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(attention=kind)).to(device).eval()
    ir, vis = torch.rand(1, 1, HEIGHT, WIDTH, device=device), torch.rand(1, 1, HEIGHT, WIDTH, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(ir, vis)
    with torch.inference_mode():
        timing = time_calls(lambda: net(ir, vis), device, warmup=1, repeats=repeats)
    return {
        "attention": kind,
        "parameters": sum(p.numel() for p in net.parameters()),
        "gmac_640x480": counter.get_total_flops() / 2e9,
        "seconds_per_pair": timing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    out = args.out or Path(__file__).parent / "results" / f"model_cost_{device.type}.json"
    rows = [measure(kind, device, args.repeats) for kind in ATTENTION_KINDS]
    result = {"benchmark": "model_cost", "input": f"1x1x{HEIGHT}x{WIDTH} ir + vis", "device": str(device),
              **environment(), "results": rows}
    write_report(out, result)
    print(f"{'attention':<10} {'params':>10} {'GMAC':>8} {'s/pair (median, min-max)':>28}")
    for row in rows:
        s = row["seconds_per_pair"]
        print(f"{row['attention']:<10} {row['parameters']:>10,} {row['gmac_640x480']:>8.1f} "
              f"{s['median_s']:>12.3f} ({s['min_s']:.3f}-{s['max_s']:.3f})")


if __name__ == "__main__":
    main()
