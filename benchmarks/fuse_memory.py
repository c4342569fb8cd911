"""Peak memory and wall time of ``semfuse fuse`` on the CPU at 640x480, 1920x1080 and 3840x2160, whole and tiled.

Input: the bundled MSRS pair ``msrs_00004N`` resized (bicubic) to each size and saved as PNG. Each measurement is
a fresh process, so the peak resident set size (``ru_maxrss`` of that child, from ``os.wait4``) is its own:

* ``whole``: ``python -m semfuse fuse --ir IR --vis VIS --out OUT.png --device cpu --threads N``;
* ``tiled``: the same pair read the same way, fused by :func:`semfuse.models.tiling.fuse_tiled` (``--tile``,
  ``--halo``) in a child process.

The difference of the tiled result from the whole-image one (max and mean absolute, in grey levels of 255, and the
share of 8-bit pixels that differ) is measured at every size where whole-image fusion ran, in another child.

    python benchmarks/fuse_memory.py [--threads 2] [--sizes 640x480,1920x1080,3840x2160]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TILED = """
import sys, torch
from semfuse.data.colour import luminance
from semfuse.data.io import read_image
from semfuse.models.tiling import fuse_tiled
from semfuse.models.weights import load_fusion_net
torch.set_num_threads(int(sys.argv[3]))
ir = torch.from_numpy(read_image(sys.argv[1]))[None, None]
vis = luminance(torch.from_numpy(read_image(sys.argv[2])).permute(2, 0, 1)[None])
net = load_fusion_net("warm-start", "cpu").use_channels_last()
with torch.inference_mode():
    fused = fuse_tiled(net, ir, vis, tile=int(sys.argv[4]), halo=int(sys.argv[5]))
"""

DIFFERENCE = """
import json, sys, torch
from semfuse.data.colour import luminance
from semfuse.data.io import read_image
from semfuse.models.tiling import fuse_tiled
from semfuse.models.weights import load_fusion_net
torch.set_num_threads(int(sys.argv[3]))
ir = torch.from_numpy(read_image(sys.argv[1]))[None, None]
vis = luminance(torch.from_numpy(read_image(sys.argv[2])).permute(2, 0, 1)[None])
net = load_fusion_net("warm-start", "cpu").use_channels_last()
with torch.inference_mode():
    tiled = fuse_tiled(net, ir, vis, tile=int(sys.argv[4]), halo=int(sys.argv[5])) * 255
    whole = net(ir, vis) * 255
difference = (tiled - whole).abs()
print(json.dumps({"max_grey_levels": difference.max().item(), "mean_grey_levels": difference.mean().item(),
                  "share_of_8bit_pixels_differing": (tiled.round() != whole.round()).double().mean().item()}))
"""


def make_pair(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    """The bundled MSRS pair resized to width x height, as PNG files in ``folder``."""
    from importlib import resources

    from PIL import Image

    samples = Path(str(resources.files("semfuse") / "samples"))
    paths = []
    for side in ("ir", "vi"):
        path = folder / side / f"pair_{width}x{height}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.open(samples / side / "msrs_00004N.png").resize((width, height), Image.BICUBIC).save(path)
        paths.append(path)
    return paths[0], paths[1]


def run_measured(command: list[str]) -> dict:
    """Run ``command``; its own peak resident memory (GiB), wall seconds and exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace").strip().splitlines()
    process.returncode = os.waitstatus_to_exitcode(status)
    row = {"peak_rss_gib": usage.ru_maxrss / 2**20, "seconds": seconds, "exit_status": process.returncode}
    if process.returncode:
        row["error"] = error[-1] if error else "killed"
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="640x480,1920x1080,3840x2160")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--halo", type=int, default=64)
    parser.add_argument("--whole-max-pixels", type=int, default=9_000_000,
                        help="skip whole-image fusion above this many pixels (memory)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "fuse_memory.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for size in args.sizes.split(","):
            width, height = (int(side) for side in size.split("x"))
            ir, vis = make_pair(folder, width, height)
            row = {"size": size, "pixels": width * height}
            if width * height <= args.whole_max_pixels:
                row["whole"] = run_measured([sys.executable, "-m", "semfuse", "fuse", "--ir", str(ir), "--vis",
                                             str(vis), "--out", str(folder / f"fused_{size}.png"), "--device", "cpu",
                                             "--threads", str(args.threads), "--no-progress", "--overwrite"])
            tiling = [str(ir), str(vis), str(args.threads), str(args.tile), str(args.halo)]
            row["tiled"] = {"tile": args.tile, "halo": args.halo,
                            **run_measured([sys.executable, "-c", TILED, *tiling])}
            if width * height <= args.whole_max_pixels and width * height > args.tile**2:
                done = subprocess.run([sys.executable, "-c", DIFFERENCE, *tiling], cwd=REPO, capture_output=True,
                                      text=True)
                failed = {"error": done.stderr[-300:]}
                row["tiled_vs_whole"] = json.loads(done.stdout) if done.returncode == 0 else failed
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    write_report(args.out, {"benchmark": "fuse_memory", "device": "cpu", **environment(),
                            "settings": {"threads": args.threads, "tile": args.tile, "halo": args.halo},
                            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                            "results": rows})


if __name__ == "__main__":
    main()
