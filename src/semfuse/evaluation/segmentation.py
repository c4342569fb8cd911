"""The paper's segmentation protocol: SegFormer-b0 re-trained from scratch on each method's fused images.

For every method, a folder of its fused images (one per MSRS/MFNet pair of the train and test splits, named by the
pair) is paired with the dataset's labels; a fresh SegFormer-b0 is trained on the train split with the semantic
phase's schedule (``config.semantic``: iterations, batch, AdamW with the ×10 head, poly) and the same crops, then
scored on the test split (sliding window or whole image). The result is a Table I: per-class Acc and IoU, mAcc and
mIoU per method, as Markdown, CSV and JSON. Any folder works, so published results of other papers compare without
their code; registered methods can also be fused on the fly.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from semfuse.config import TrainConfig
from semfuse.data.datasets import RandomCropDataset
from semfuse.data.io import ImageReadError, list_images, read_image, read_label
from semfuse.data.pairs import Pair, discover_pairs
from semfuse.engine.distributed import DistributedContext
from semfuse.engine.phases import SegmentationPhase
from semfuse.engine.trainer import Stage, resolve_device, train_phase
from semfuse.engine.validation import score_segmenter
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write_text, refuse_existing
from semfuse.metrics.segmentation import MFNET_CLASSES

logger = logging.getLogger("semfuse.segeval")

TABLE_CLASSES = ("car", "person", "bike", "curve", "car_stop", "color_cone", "bump")  # the columns of Table I
TABLE_TITLES = {"car": "Car", "person": "Person", "bike": "Bike", "curve": "Curve", "car_stop": "Car Stop",
                "color_cone": "Color Cone", "bump": "Bump"}


class FusedSegmentationDataset(Dataset):
    """``(name, fused image file, label file)`` items -> ``{"name", "image" (3, H, W) RGB, "label" (H, W)}``;
    a grey fused image is repeated over the three channels."""

    def __init__(self, items: list[tuple[str, Path, Path]]):
        if not items:
            raise SemfuseError("no fused image has a label; check that the fused files are named like the pairs")
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        name, image_path, label_path = self.items[index]
        image = torch.from_numpy(read_image(image_path))
        image = image[None].expand(3, -1, -1).clone() if image.dim() == 2 else image.permute(2, 0, 1).contiguous()
        label = torch.from_numpy(read_label(label_path))
        if label.shape != image.shape[-2:]:
            raise SemfuseError(f"{image_path} is {image.shape[2]}x{image.shape[1]} but its label is "
                               f"{label.shape[1]}x{label.shape[0]}; fused images must keep the source size")
        return {"name": name, "image": image, "label": label}


@dataclass
class MethodResult:
    scores: dict
    train_images: int
    test_images: int
    problems: list[str] = field(default_factory=list)


def _labelled_pairs(data_root: Path, split: str) -> list[Pair]:
    try:
        listing = discover_pairs(data_root, split)
    except ImageReadError:
        raise SemfuseError(f"{data_root} has no {split} split; the protocol needs a labelled MSRS folder (train/ and "
                           "test/ with ir/, vi/, Label/) or MFNet (images/, labels/, train.txt, test.txt)") from None
    pairs = [pair for pair in listing.pairs if pair.label is not None]
    if not pairs:
        raise SemfuseError(f"{data_root} has no labelled {split} pairs; the protocol needs MSRS or MFNet with labels")
    return pairs


def _match(pairs: list[Pair], fused: dict[str, Path], method: str, problems: list[str]) -> list[tuple[str, Path, Path]]:
    items = []
    for pair in pairs:
        if pair.name in fused:
            items.append((pair.name, fused[pair.name], pair.label))
        else:
            message = f"{method}: no fused image for {pair.name}; left out"
            logger.warning(message)
            problems.append(message)
    return items


def evaluate_method(name: str, folder: Path, train: list[Pair], test: list[Pair], config: TrainConfig,
                    run_dir: Path, progress: bool) -> MethodResult:
    """Train a fresh SegFormer-b0 on ``folder``'s fused train images and score it on its fused test images."""
    from semfuse.models.segmenter import Segmenter, load_pretrained

    stage, problems = config.semantic, []
    fused = list_images(folder)
    train_items, test_items = _match(train, fused, name, problems), _match(test, fused, name, problems)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    segmenter = Segmenter(stage.num_classes, stage.normalisation)
    if stage.segmenter_init:
        load_pretrained(segmenter, stage.segmenter_init)
    segmenter = segmenter.to(device)
    crops = RandomCropDataset(FusedSegmentationDataset(train_items), config.data.crop, config.data.scale,
                              config.data.hflip)
    train_phase(SegmentationPhase(segmenter, stage.head_lr_mult), Stage(f"segeval {name}", stage.iters,
                stage.batch_size, stage.optim), crops, config, run_dir, device, DistributedContext(), False, progress,
                amp=stage.amp)
    test_set = FusedSegmentationDataset(test_items)
    samples = ((s["image"][None].to(device), s["label"][None]) for s in map(test_set.__getitem__, range(len(test_set))))
    scores = score_segmenter(segmenter, samples, stage.num_classes, stage.val_mode, tuple(stage.val_crop),
                             tuple(stage.val_stride))
    return MethodResult(scores, len(train_items), len(test_items), problems)


def _cell(value: float) -> str:
    return "–" if np.isnan(value) else f"{100 * value:.2f}"


def table_markdown(results: dict[str, MethodResult]) -> str:
    """Table I: per-class Acc and IoU (%) of the paper's seven classes, then mAcc and mIoU; best per column bold."""
    columns = [(kind, cls) for cls in TABLE_CLASSES for kind in ("Acc", "IoU")] + [("mAcc", None), ("mIoU", None)]
    values = {method: [r.scores[kind][cls] if cls else r.scores[kind] for kind, cls in columns]
              for method, r in results.items()}
    best = [np.nanmax([v[i] for v in values.values()]) if not all(np.isnan(v[i]) for v in values.values())
            else np.nan for i in range(len(columns))]
    header = "| Method | " + " | ".join(f"{TABLE_TITLES[c]} {k}" if c else k for k, c in columns) + " |"
    lines = [header, "|:---|" + "---:|" * len(columns)]
    for method, row in values.items():
        cells = [f"**{_cell(v)}**" if not np.isnan(v) and v == best[i] and len(values) > 1 else _cell(v)
                 for i, v in enumerate(row)]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nSegFormer-b0 trained from scratch on each method's fused images; Acc and IoU in %, " \
        "mAcc and mIoU over all labelled classes (unlabelled and guardrail included); best in bold.\n"


def table_csv(results: dict[str, MethodResult]) -> str:
    classes = list(next(iter(results.values())).scores["IoU"])
    header = ["method", "train_images", "test_images", "mAcc", "mIoU"] + [f"{k}_{c}" for c in classes for k in ("Acc", "IoU")]
    rows = [",".join(header)]
    for method, r in results.items():
        cells = [method, str(r.train_images), str(r.test_images), f"{r.scores['mAcc']:.6f}", f"{r.scores['mIoU']:.6f}"]
        cells += [f"{r.scores[k][c]:.6f}" for c in classes for k in ("Acc", "IoU")]
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"


def _without_nan(value):
    """NaN (a class absent from the test labels) -> None, so the JSON is valid."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    return None if isinstance(value, float) and np.isnan(value) else value


def fuse_for_protocol(method: str, data_root: Path, out_dir: Path, device: str, overwrite: bool,
                      progress: bool) -> Path:
    """Fuse the labelled train and test pairs with a registered method into ``out_dir/fused/<method>/``."""
    from semfuse.inference import fuse_pairs
    from semfuse.methods import get_method

    folder = out_dir / "fused" / method
    pairs = _labelled_pairs(data_root, "train") + _labelled_pairs(data_root, "test")
    try:
        fuse = get_method(method, device=device) if method == "semfuse" else get_method(method)
    except KeyError as error:
        raise SemfuseError(error.args[0]) from None
    summary = fuse_pairs(fuse, pairs, folder, overwrite=overwrite, progress=progress)
    if summary.failed:
        raise SemfuseError(f"{len(summary.failed)} pair(s) could not be fused with {method}: {summary.failed[0]}")
    return folder


def run_segeval(data_root: str | Path, fused: dict[str, Path], out_dir: str | Path, config: TrainConfig,
                overwrite: bool = False, progress: bool = True) -> dict[str, MethodResult]:
    """Run the protocol for every ``name -> folder`` of ``fused``; writes ``table.md``, ``table.csv``,
    ``scores.json`` and one training run directory per method under ``out_dir``."""
    out_dir, data_root = Path(out_dir), Path(data_root)
    targets = [out_dir / "table.md", out_dir / "table.csv", out_dir / "scores.json"]
    refuse_existing(targets + [out_dir / "runs" / name / "last.pt" for name in fused], overwrite)
    if config.semantic.num_classes != len(MFNET_CLASSES):
        logger.warning("num_classes is %d; the Table I columns assume MFNet's 9 classes", config.semantic.num_classes)
    train, test = _labelled_pairs(data_root, "train"), _labelled_pairs(data_root, "test")
    results = {}
    for name, folder in fused.items():
        run_dir = out_dir / "runs" / name
        if overwrite:
            (run_dir / "last.pt").unlink(missing_ok=True)
        results[name] = evaluate_method(name, Path(folder), train, test, config, run_dir, progress)
        logger.info("%s: mIoU %.2f%% on %d test images", name, 100 * results[name].scores["mIoU"],
                    results[name].test_images)
    atomic_write_text(targets[0], table_markdown(results), overwrite)
    atomic_write_text(targets[1], table_csv(results), overwrite)
    payload = {name: {"scores": _without_nan(r.scores), "train_images": r.train_images, "test_images": r.test_images,
                      "problems": r.problems} for name, r in results.items()}
    atomic_write_text(targets[2], json.dumps(payload, indent=2) + "\n", overwrite)
    return results
