"""The half-resolution copy of the MSRS-boxes data that the default-weights experiment trains and runs the protocol
on, and its transport to a lent GPU machine.

    python experiments/default_weights/data.py half --data ../shared/data/msrs_boxes --out runs/data/msrs_boxes_half
    python experiments/default_weights/data.py pack --half runs/data/msrs_boxes_half --out runs/carry
    python experiments/default_weights/data.py unpack runs/carry/a [runs/carry/b] --out runs/data/msrs_boxes_half

``half``: every image 2x smaller by area averaging (640x480 -> 320x240; infrared, visible and SeAFusion's
luminance alike), boxes and classes.txt as they are (YOLO boxes are in image fractions). ``pack``: the half-size
images as lossless WebP in two parts that each fit the lent machine's 64 MiB transfer beside the repository (``a``:
the train pairs and boxes; ``b``: the val pairs and boxes and SeAFusion's luminance); ``unpack``: back to PNG, the
same pixels.
"""

import argparse
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

PART_A = ("train/ir", "train/vi", "train/boxes")
PART_B = ("val/ir", "val/vi", "val/boxes", "train/seafusion_y", "val/seafusion_y")


def _halve(job: tuple[Path, Path]) -> None:
    source, target = job
    with Image.open(source) as image:
        half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BOX)
    half.save(target, format="PNG", compress_level=1)


def _convert(job: tuple[Path, Path, str]) -> None:
    source, target, kind = job
    with Image.open(source) as image:
        if kind == "WEBP":
            image.save(target, format="WEBP", lossless=True, quality=100, method=4)
        else:
            image.save(target, format="PNG", compress_level=1)


def _files(root: Path, folders: tuple[str, ...]) -> list[tuple[Path, str]]:
    return [(path, folder) for folder in folders if (root / folder).is_dir()
            for path in sorted((root / folder).iterdir()) if path.is_file()]


def half(data: Path, out: Path) -> None:
    jobs = []
    for path, folder in _files(data, PART_A + PART_B):
        target = out / folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".png":
            jobs.append((path, target))
        else:
            shutil.copyfile(path, target)
    shutil.copyfile(data / "classes.txt", out / "classes.txt")
    with ProcessPoolExecutor() as pool:
        list(pool.map(_halve, jobs, chunksize=8))


def pack(half_root: Path, out: Path) -> None:
    jobs = []
    for part, folders in (("a", PART_A), ("b", PART_B)):
        root = out / part / "msrs_boxes_half"
        for path, folder in _files(half_root, folders):
            (root / folder).mkdir(parents=True, exist_ok=True)
            if path.suffix == ".png":
                jobs.append((path, root / folder / f"{path.stem}.webp", "WEBP"))
            else:
                shutil.copyfile(path, root / folder / path.name)
        shutil.copyfile(half_root / "classes.txt", root / "classes.txt")
    with ProcessPoolExecutor() as pool:
        list(pool.map(_convert, jobs, chunksize=8))


def unpack(carries: list[Path], out: Path) -> None:
    jobs = []
    for carry in carries:
        root = carry / "msrs_boxes_half"
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            target = out / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".webp":
                jobs.append((path, target.with_suffix(".png"), "PNG"))
            else:
                shutil.copyfile(path, target)
    with ProcessPoolExecutor() as pool:
        list(pool.map(_convert, jobs, chunksize=8))
    print({f"{split}/{kind}": len(list((out / split / kind).iterdir())) for split in ("train", "val")
           for kind in ("ir", "vi", "boxes", "seafusion_y") if (out / split / kind).is_dir()}, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("half")
    command.add_argument("--data", type=Path, required=True)
    command.add_argument("--out", type=Path, required=True)
    command = commands.add_parser("pack")
    command.add_argument("--half", type=Path, required=True)
    command.add_argument("--out", type=Path, required=True)
    command = commands.add_parser("unpack")
    command.add_argument("carries", type=Path, nargs="+")
    command.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "half":
        half(args.data, args.out)
    elif args.command == "pack":
        pack(args.half, args.out)
    else:
        unpack(args.carries, args.out)


if __name__ == "__main__":
    main()
