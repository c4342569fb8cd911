"""How the HTML report scales: 400 pairs x 8 methods, written and opened in headless Chromium.

Pairs: the real RoadScene, TNO and MSRS pairs of ../shared/data, repeated under new names until --pairs are reached.
Methods: up to five fast classical methods (--fusing) fuse the distinct pairs once (the repeats are file copies);
the other methods are copies of their folders under other names (the report's cost does not depend on the
pixels). Metrics: a quick subset (the full panel would take an hour on two cores; it changes only the size of the
embedded numbers). Measured: the seconds `write_report` takes (thumbnails included), the HTML and thumbnail sizes,
and in Chromium the seconds from navigation to the load event, to the first gallery screen, to the next page, and
for one synchronised zoom (full-size images loaded).
Writes results/report_scale.json.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _browser import Chromium, find_chromium
from _env import REPO, environment, write_report

from semfuse.data.io import list_images
from semfuse.data.pairs import pair_folders
from semfuse.evaluation.fusion import evaluate_methods
from semfuse.inference import fuse_pairs
from semfuse.methods import get_method
from semfuse.report.html import write_report as write_html_report

DATA = REPO.parent / "shared" / "data"
SOURCES = [("roadscene", DATA / "roadscene" / "ir", DATA / "roadscene" / "vi"),
           ("tno", DATA / "tno" / "ir", DATA / "tno" / "vi"),
           ("msrs", DATA / "msrs_unlabeled" / "test" / "ir", DATA / "msrs_unlabeled" / "test" / "vi")]
METHODS = ("average", "max", "dwt", "laplacian", "gff")  # the fast ones; further "methods" are copies of these


def build_pairs(root: Path, count: int) -> tuple[Path, Path, list[str]]:
    """Copy real pairs into root/ir, root/vi; returns the folders and the names of the distinct pairs."""
    ir_dir, vis_dir = root / "ir", root / "vi"
    ir_dir.mkdir(parents=True)
    vis_dir.mkdir(parents=True)
    distinct = []
    for prefix, ir, vis in SOURCES:
        if ir.is_dir():
            for pair in pair_folders(ir, vis).pairs:
                distinct.append((f"{prefix}_{pair.name}", pair.ir, pair.vis))
    if not distinct:
        sys.exit(f"no pairs under {DATA}")
    for index in range(count):
        name, ir, vis = distinct[index % len(distinct)]
        name = name if index < len(distinct) else f"{name}_copy{index // len(distinct)}"
        shutil.copyfile(ir, ir_dir / f"{name}{ir.suffix}")
        shutil.copyfile(vis, vis_dir / f"{name}{vis.suffix}")
    return ir_dir, vis_dir, [name for name, _, _ in distinct[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--methods", type=int, default=8, help="methods (the first five fuse, the rest are copies)")
    parser.add_argument("--fusing", type=int, default=len(METHODS),
                        help="how many methods really fuse (the others are copies of their folders)")
    parser.add_argument("--metrics", default="EN,SD,SF,AG,CC,PSNR,MSE")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the zoomed gallery page here")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, deleted after)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="semfuse-report-scale-"))
    started = time.perf_counter()
    ir_dir, vis_dir, _ = build_pairs(work / "pairs", args.pairs)
    listing = pair_folders(ir_dir, vis_dir)
    originals = [pair for pair in listing.pairs if "_copy" not in pair.name]
    fused = {}
    fusing = METHODS[: args.fusing]
    for index in range(args.methods):
        method = fusing[index % len(fusing)] + ("" if index < len(fusing) else f"-copy{index // len(fusing)}")
        fused[method] = work / "fused" / method
        if index >= len(fusing):
            shutil.copytree(fused[fusing[index % len(fusing)]], fused[method])
            continue
        fuse_pairs(get_method(method), originals, fused[method], progress=False)
        written = list_images(fused[method])
        for pair in listing.pairs:
            if pair.name not in written:
                shutil.copyfile(written[pair.name.rsplit("_copy", 1)[0]], fused[method] / f"{pair.name}.png")
    prepared = time.perf_counter() - started
    evaluate_methods(ir_dir, vis_dir, fused, work / "eval", metrics=args.metrics, progress=False)
    start = time.perf_counter()
    result = write_html_report(work / "eval" / "report.html", work / "eval")
    write_seconds = time.perf_counter() - start
    thumbs = list((result.files_dir / "thumbs").iterdir())
    report = {"settings": {"pairs": result.pairs, "methods": result.methods, "metrics": args.metrics,
                           "images": result.images, "prepare_seconds": prepared},
              "write_report_seconds": write_seconds, "html_bytes": result.html.stat().st_size,
              "thumbnails": len(thumbs), "thumbnail_bytes": sum(path.stat().st_size for path in thumbs)}
    if find_chromium():
        with Chromium(width=1600, height=1000) as browser:
            report["browser_load_seconds"] = browser.open(result.html)
            start = time.perf_counter()
            browser.evaluate("document.querySelector('#gallery').scrollIntoView()")
            browser.wait_until("Array.from(document.querySelectorAll('#pairs img')).filter(i => "
                               "i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth)")
            report["first_gallery_screen_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            browser.evaluate("document.querySelector('#pairs .g-next').click()")
            browser.wait_until("Array.from(document.querySelectorAll('#pairs img')).filter(i => "
                               "i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth)")
            report["next_page_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            x, y = browser.evaluate("(() => { const r = document.querySelector('#pairs .view').getBoundingClientRect();"
                                    " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
            browser.click(x, y)
            browser.wait_until("document.querySelectorAll('#pairs .pair')[0].querySelectorAll('img[data-loaded=full]')"
                               f".length === {result.methods + 2}")
            report["zoom_full_size_seconds"] = time.perf_counter() - start
            report["dom_nodes"] = browser.evaluate("document.getElementsByTagName('*').length")
            report["console_errors"] = browser.errors
            if args.screenshot:
                browser.screenshot(args.screenshot)
    if args.work is None:
        shutil.rmtree(work)
    write_report(REPO / "benchmarks" / "results" / "report_scale.json", {**environment(), **report})
    print({key: value for key, value in report.items() if key != "settings"})


if __name__ == "__main__":
    main()
