"""The paper's segmentation protocol: SegFormer-b0 re-trained from scratch on each method's fused images.

For every method, a folder of its fused images (one per labelled pair of the train and test splits, named by the
pair) is paired with the dataset's labels (label maps, or boxes rasterised to label maps); a fresh SegFormer-b0 is
trained on the train split with the config's ``semantic`` schedule (iterations, batch, AdamW with the ×10 head,
poly, class weighting) and the same crops, then scored on the test split (sliding window or whole image). With
several seeds each method is trained once per seed and the table gives mean ± std. The classes come from the data:
MFNet's 9 give the paper's Table I columns, a box data set its own classes. Any folder works, so published results
of other papers compare without their code; registered methods can also be fused on the fly.
"""

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from semfuse.config import TrainConfig
from semfuse.data.datasets import FusedImageDataset, RandomCropDataset, label_pixel_counts
from semfuse.data.io import ImageReadError, list_images
from semfuse.data.pairs import Pair, PairListing, discover_pairs
from semfuse.device import resolve_device
from semfuse.engine.loop import RunContext, train_phase
from semfuse.engine.phases import SegmentationPhase
from semfuse.engine.trainer import resolve_classes
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write_text, refuse_existing
from semfuse.losses.semantic import class_weights
from semfuse.report.segmentation import (
    aggregate_seeds,
    segmentation_table_csv,
    segmentation_table_markdown,
)
from semfuse.segmentation import score_segmenter, write_label_png

logger = logging.getLogger("semfuse.segeval")


@dataclass
class MethodResult:
    """One method's protocol result: scores per seed, their mean and std, image counts and problems."""

    seeds: dict[int, dict]
    train_images: int
    test_images: int
    problems: list[str] = field(default_factory=list)

    @property
    def mean(self) -> dict:
        return aggregate_seeds(list(self.seeds.values()))[0]

    @property
    def std(self) -> dict:
        return aggregate_seeds(list(self.seeds.values()))[1]


@dataclass(frozen=True)
class ProtocolData:
    """The labelled train and test pairs of the protocol and the names of their classes."""

    train: list[Pair]
    test: list[Pair]
    classes: tuple[str, ...]
    test_split: str


def _labelled(data_root: Path, split: str, labels: str, class_map: str | None) -> PairListing:
    try:
        listing = discover_pairs(data_root, split, labels, class_map)
    except ImageReadError as error:
        raise SemfuseError(f"{data_root} has no usable {split} split: {error}") from None
    listing.pairs = [pair for pair in listing.pairs if pair.label is not None]
    if not listing.pairs:
        raise SemfuseError(f"{data_root} has no labelled {split} pairs; the protocol needs label maps or boxes")
    return listing


def protocol_data(data_root: str | Path, config: TrainConfig, test_split: str | None = None) -> ProtocolData:
    """The train split and the test split (default: ``test``, or ``val`` when there is no ``test/`` folder)."""
    data_root = Path(data_root)
    if test_split is None:
        test_split = "val" if not (data_root / "test").is_dir() and (data_root / "val").is_dir() else "test"
    train = _labelled(data_root, "train", config.data.labels, config.data.class_map)
    test = _labelled(data_root, test_split, config.data.labels, config.data.class_map)
    if train.classes != test.classes:
        raise SemfuseError(f"the train and {test_split} labels name different classes: {train.classes} and "
                           f"{test.classes}")
    classes = resolve_classes(config.semantic, train.classes)
    return ProtocolData(train.pairs, test.pairs, classes, test_split)


def _match(pairs: list[Pair], fused: dict[str, Path], method: str, problems: list[str]) -> list[tuple[Path, Pair]]:
    items = []
    for pair in pairs:
        if pair.name in fused:
            items.append((fused[pair.name], pair))
        else:
            message = f"{method}: no fused image for {pair.name}; left out"
            logger.warning(message)
            problems.append(message)
    return items


def segment_and_score(segmenter: torch.nn.Module, dataset: FusedImageDataset, classes: tuple[str, ...],
                      config: TrainConfig, device: torch.device, predictions_dir: Path | None = None,
                      overwrite: bool = False) -> dict:
    """Acc/IoU per class, mAcc, mIoU of ``segmenter`` on a fused test set (the semantic stage's ``val_mode``,
    ``val_crop`` and ``val_stride``); optionally writes each prediction as a label PNG into ``predictions_dir``."""
    stage = config.semantic
    items = (dataset[index] for index in range(len(dataset)))
    samples = ((item["image"][None].to(device), item["label"][None]) for item in items)  # (1, 3, H, W), (1, H, W)

    def save(index: int, prediction: torch.Tensor) -> None:
        if predictions_dir is not None:
            write_label_png(predictions_dir / f"{dataset.items[index][1].name}.png", prediction, len(classes),
                            overwrite)

    return score_segmenter(segmenter, samples, classes, stage.val_mode, stage.val_crop, stage.val_stride, save)


def train_and_score_segmenter(name: str, folder: Path, data: ProtocolData, config: TrainConfig, run_dir: Path,
                              seed: int, progress: bool, save_predictions: bool = False,
                              overwrite: bool = False) -> tuple[dict, int, int, list[str]]:
    """Train a fresh SegFormer-b0 on ``folder``'s fused train images (seed ``seed``) and score it on its fused test
    images; returns (scores, train images, test images, problems)."""
    from semfuse.models.segmenter import Segmenter, load_pretrained

    stage = config.semantic
    problems: list[str] = []
    fused = list_images(folder)
    train_items, test_items = _match(data.train, fused, name, problems), _match(data.test, fused, name, problems)
    device = resolve_device(config.device)
    seeded = replace(config, seed=seed)
    torch.manual_seed(seed)
    segmenter = Segmenter(len(data.classes), stage.normalisation)
    if stage.segmenter_init:
        load_pretrained(segmenter, stage.segmenter_init)
    segmenter = segmenter.to(device)
    train_set = FusedImageDataset(train_items, data.classes, config.data.cache)
    weight = None
    if stage.class_weights != "none":
        weight = class_weights(label_pixel_counts([pair for _, pair in train_items], len(data.classes)),
                               stage.class_weights)
    crops = RandomCropDataset(train_set, config.data.crop, config.data.scale, config.data.hflip)
    train_phase(SegmentationPhase(segmenter, stage.head_lr_mult, weight), f"segeval {name} seed {seed}", stage,
                crops, RunContext(run_dir, device, progress=progress), seeded, amp=stage.amp)
    predictions = run_dir / "predictions" if save_predictions else None
    scores = segment_and_score(segmenter, FusedImageDataset(test_items, data.classes), data.classes, config, device,
                               predictions, overwrite)
    return scores, len(train_items), len(test_items), problems


def fuse_for_protocol(method: str, data: ProtocolData, out_dir: Path, device: str, overwrite: bool,
                      progress: bool) -> Path:
    """Fuse the labelled train and test pairs with a registered method into ``out_dir/fused/<method>/``."""
    from semfuse.inference import fuse_pairs
    from semfuse.methods import get_method

    folder = out_dir / "fused" / method
    fuse = get_method(method, device=device)
    summary = fuse_pairs(fuse, data.train + data.test, folder, overwrite=overwrite, progress=progress)
    if summary.failed:
        raise SemfuseError(f"{len(summary.failed)} pair(s) could not be fused with {method}: {summary.failed[0]}")
    return folder


def _without_nan(value):
    """NaN (a class absent from the test labels) -> None, so the JSON is valid."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    return None if isinstance(value, float) and np.isnan(value) else value


def load_results(scores_json: str | Path) -> tuple[tuple[str, ...], str, dict[str, MethodResult]]:
    """(classes, test split, ``{method: MethodResult}``) from a ``scores.json`` that :func:`run_segeval` wrote."""
    payload = json.loads(Path(scores_json).read_text())

    def with_nan(value):
        if isinstance(value, dict):
            return {key: with_nan(item) for key, item in value.items()}
        return float("nan") if value is None else value

    results = {name: MethodResult({int(seed): with_nan(s) for seed, s in entry["seeds"].items()},
                                  entry["train_images"], entry["test_images"], entry["problems"])
               for name, entry in payload["methods"].items()}
    return tuple(payload["classes"]), payload["test_split"], results


def write_tables(results: dict[str, MethodResult], classes: tuple[str, ...], test_split: str, seeds: list[int],
                 out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write ``table.md``, ``table.csv`` and ``scores.json`` of protocol results into ``out_dir``."""
    out_dir = Path(out_dir)
    payload = {"classes": list(classes), "test_split": test_split, "seeds": seeds,
               "methods": {name: {"mean": _without_nan(r.mean), "std": _without_nan(r.std),
                                  "seeds": {str(seed): _without_nan(s) for seed, s in r.seeds.items()},
                                  "train_images": r.train_images, "test_images": r.test_images,
                                  "problems": r.problems} for name, r in results.items()}}
    return [atomic_write_text(out_dir / "table.md", segmentation_table_markdown(results, classes, test_split),
                              overwrite),
            atomic_write_text(out_dir / "table.csv", segmentation_table_csv(results, classes), overwrite),
            atomic_write_text(out_dir / "scores.json", json.dumps(payload, indent=2) + "\n", overwrite)]


def run_segeval(data: ProtocolData, fused: dict[str, Path], out_dir: str | Path, config: TrainConfig,
                seeds: list[int] | None = None, overwrite: bool = False,
                progress: bool = True) -> dict[str, MethodResult]:
    """Run the protocol for every ``name -> folder`` of ``fused`` and every seed; writes ``table.md``,
    ``table.csv``, ``scores.json`` and one training run directory per method and seed under ``out_dir/runs/``
    (with the test predictions of the first seed as index PNGs in ``predictions/``)."""
    out_dir = Path(out_dir)
    seeds = list(seeds) if seeds else [config.seed]
    targets = [out_dir / "table.md", out_dir / "table.csv", out_dir / "scores.json"]
    run_dirs = {(name, seed): out_dir / "runs" / name / f"seed{seed}" for name in fused for seed in seeds}
    refuse_existing(targets + [run_dir / "last.pt" for run_dir in run_dirs.values()], overwrite)
    results = {}
    for name, folder in fused.items():
        per_seed, problems, counts = {}, [], (0, 0)
        for seed in seeds:
            run_dir = run_dirs[name, seed]
            if overwrite:
                (run_dir / "last.pt").unlink(missing_ok=True)
            scores, n_train, n_test, found = train_and_score_segmenter(
                name, Path(folder), data, config, run_dir, seed, progress, seed == seeds[0], overwrite)
            per_seed[seed], counts = scores, (n_train, n_test)
            problems += [problem for problem in found if problem not in problems]
            logger.info("%s seed %d: mIoU %.2f%% on %d test images", name, seed, 100 * scores["mIoU"], n_test)
        results[name] = MethodResult(per_seed, counts[0], counts[1], problems)
    write_tables(results, data.classes, data.test_split, seeds, out_dir, overwrite)
    return results
