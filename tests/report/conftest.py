"""An evaluate folder made from the bundled samples: two classical methods, three quick metrics."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semfuse.data.pairs import pair_folders
from semfuse.demo import samples_dir
from semfuse.evaluation.fusion import evaluate_methods
from semfuse.inference import fuse_pairs
from semfuse.methods import get_method

METHODS = ("average", "max")
METRICS = "EN,SD,SF,AG,Nabf"


@pytest.fixture(scope="session")
def evaluation_dir(tmp_path_factory) -> Path:
    """``evaluate`` output of the six sample pairs fused by 'average' and 'max' (with run.json)."""
    root = tmp_path_factory.mktemp("evaluated")
    samples = samples_dir()
    pairs = pair_folders(samples / "ir", samples / "vi").pairs
    fused = {}
    for method in METHODS:
        fused[method] = root / "fused" / method
        fuse_pairs(get_method(method), pairs, fused[method], progress=False)
    evaluate_methods(samples / "ir", samples / "vi", fused, root / "eval", metrics=METRICS, progress=False,
                     command=["semfuse", "evaluate", "(test fixture)"])
    return root / "eval"


@pytest.fixture(scope="session")
def make_segeval():
    """:func:`write_segeval`, for tests."""
    return write_segeval


def write_segeval(folder: Path, methods: dict[str, Path] | None = None, per_seed: bool = False,
                  predictions: bool = False) -> Path:
    """A segeval folder as the protocol writes it (scores.json, table.md, run.json), for two methods; with
    ``predictions``, label PNGs under runs/NAME/predictions/ for two test images."""
    folder.mkdir(parents=True)
    classes = ["unlabelled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump"]
    payload = {}
    for rank, method in enumerate(methods or {"average": None, "max": None}):
        def scores(offset: float) -> dict:
            iou = {cls: 0.1 * index + offset + 0.05 * rank for index, cls in enumerate(classes)}
            iou["guardrail"] = None  # a class absent from the test labels is stored as null
            return {"Acc": {cls: min(v + 0.1, 1) if v is not None else None for cls, v in iou.items()}, "IoU": iou,
                    "mAcc": 0.5 + 0.05 * rank + offset, "mIoU": 0.4 + 0.05 * rank + offset}
        entry = [scores(0.0), scores(0.02)] if per_seed else scores(0.0)
        payload[method] = {"scores": entry, "train_images": 10, "test_images": 2, "problems": []}
        if predictions:
            target = folder / "runs" / method / "predictions"
            target.mkdir(parents=True)
            for name in ("msrs_00004N", "msrs_00055D"):
                labels = np.zeros((480, 640), np.uint8)
                labels[100:300, 200:400] = 2 + rank
                Image.fromarray(labels, "L").save(target / f"{name}.png")
    (folder / "scores.json").write_text(json.dumps(payload))
    (folder / "table.md").write_text("| Method | mIoU |\n|:---|---:|\n| average | 40.00 |\n")
    record = {"semfuse_version": "0.1.0", "commit": None, "command": ["semfuse", "segeval"],
              "inputs": {"data": None}, "fused": {name: str(path) for name, path in (methods or {}).items() if path}}
    (folder / "run.json").write_text(json.dumps(record))
    return folder
