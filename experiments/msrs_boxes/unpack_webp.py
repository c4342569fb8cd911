"""Copy carried data folders (``CARRY/msrs_boxes/...``, images as lossless WebP) to PNG under ``runs/data/``.

Used to move ``../shared/data/msrs_boxes`` to a lent GPU machine in parts that fit its transfer limit; the pixels
are exact (checked before sending). Usage: ``python experiments/msrs_boxes/unpack_webp.py CARRY [CARRY ...]``.
"""
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

OUT = Path("runs/data/msrs_boxes")


def convert(job):
    source, target = job
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(source).save(target, format="PNG", compress_level=1)


if __name__ == "__main__":
    jobs = []
    for carry in sys.argv[1:]:
        root = Path(carry) / "msrs_boxes"
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if not path.is_file():
                continue
            relative = path.relative_to(root)
            if path.suffix == ".webp":
                jobs.append((path, OUT / relative.with_suffix(".png")))
            else:
                (OUT / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, OUT / relative)
    with ProcessPoolExecutor(16) as pool:
        list(pool.map(convert, jobs, chunksize=8))
    print({f"{s}/{k}": len(list((OUT / s / k).iterdir())) for s in ("train", "val")
           for k in ("ir", "vi", "boxes", "seafusion_y") if (OUT / s / k).is_dir()}, flush=True)
