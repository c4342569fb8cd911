"""A grid of sources and fused images for a few pairs: one row a pair, one column a method (half size).

    python experiments/msrs_boxes/grid.py --fused runs/msrs_boxes/fused --pairs 00004N 00055D --out grid.png
"""

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

COLUMNS = ("infrared", "visible", "average", "semfuse-warm-start", "semfuse-semantic", "SeAFusion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fused", type=Path, required=True, help="folder with one sub-folder per method")
    parser.add_argument("--pairs", nargs="+", required=True, help="pair names (file stems)")
    parser.add_argument("--columns", nargs="+", default=list(COLUMNS))
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    first = Image.open(args.fused / args.columns[0] / f"{args.pairs[0]}.png")
    width, height = int(first.width * args.scale), int(first.height * args.scale)
    header = 28
    grid = Image.new("RGB", (width * len(args.columns), header + height * len(args.pairs)), "white")
    draw = ImageDraw.Draw(grid)
    for column, method in enumerate(args.columns):
        draw.text((column * width + 8, 8), method, fill="black")
        for row, name in enumerate(args.pairs):
            image = Image.open(args.fused / method / f"{name}.png").convert("RGB").resize((width, height),
                                                                                           Image.BILINEAR)
            grid.paste(image, (column * width, header + row * height))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
