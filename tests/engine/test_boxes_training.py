"""The semantic phase on real MSRS detection boxes: segmenter warm-up, class weights, the cross-entropy falls."""

import json
import shutil

import pytest
import torch

from semfuse.config import Source, load_config
from semfuse.data.datasets import PairedDataset, collect_pairs, label_pixel_counts
from semfuse.engine import trainer
from semfuse.losses.semantic import class_weights
from semfuse.models.weights import load_fusion_net, load_segmenter

TINY_MODEL = ["model.widths=[8,16,16,24]", "model.heads=[2,4,4,8]", "model.stem_channels=8"]
PAIRS = ("00004N", "00012N")  # two real train pairs, each with person boxes


@pytest.fixture(scope="module")
def two_box_pairs(shared_data, tmp_path_factory):
    """Two real msrs_boxes pairs (640x480 PNG + YOLO boxes + classes.txt) as a train and a val split."""
    source = shared_data / "msrs_boxes"
    root = tmp_path_factory.mktemp("boxes")
    for split in ("train", "val"):
        for folder in ("ir", "vi", "boxes"):
            (root / split / folder).mkdir(parents=True)
        for name in PAIRS:
            for folder in ("ir", "vi"):
                shutil.copy(source / "train" / folder / f"{name}.png", root / split / folder)
            shutil.copy(source / "train" / "boxes" / f"{name}.txt", root / split / "boxes")
    shutil.copy(source / "classes.txt", root / "classes.txt")
    return root


def _config(tmp_path, root, name, iters, warmup):
    overrides = TINY_MODEL + [
        "phase=all", "warm_start.iters=2", "warm_start.batch_size=2", "warm_start.optim.warmup_iters=0",
        f"semantic.iters={iters}", "semantic.batch_size=2", "semantic.optim.lr=0.0005",
        "semantic.optim.warmup_iters=0", "semantic.val_every=0", "semantic.val_mode=whole",
        "semantic.class_weights=inverse_sqrt", f"semantic.segmenter_warmup.iters={warmup}",
        "semantic.segmenter_warmup.batch_size=2", "semantic.segmenter_warmup.optim.warmup_iters=0",
        "data.crop=[96,128]", "data.scale=[0.4,0.6]", f"run_dir={tmp_path / name}", "log_every=1",
        "checkpoint_every=100", "device=cpu",
    ]
    config = load_config(None, overrides)
    config.data.sources = [Source(root=str(root), split="train")]
    config.data.val_sources = [Source(root=str(root), split="val")]
    return config


def _cross_entropy(run_dir, config, batch, weight):
    phase = trainer.semantic_phase(load_fusion_net(run_dir / "fusion_net.safetensors"),
                          load_segmenter(run_dir / "segmenter.safetensors"), config.semantic, weight)
    with torch.no_grad():
        return float(phase(batch)["sem"])


def test_boxes_give_classes_weights_and_a_falling_cross_entropy(tmp_path, two_box_pairs):
    listing = collect_pairs([Source(root=str(two_box_pairs), split="train")])
    assert listing.classes == ("background", "person", "bicycle", "car")
    counts = label_pixel_counts(listing.pairs, 4)
    assert counts[0] > counts[1] > 0 and counts.sum() == 2 * 640 * 480
    weight = class_weights(counts)
    assert weight[1] > weight[0]  # the rare person pixels weigh more than the background

    short = _config(tmp_path, two_box_pairs, "short", iters=1, warmup=1)
    trainer.fit(short, progress=False)
    long = _config(tmp_path, two_box_pairs, "long", iters=12, warmup=12)
    trainer.fit(long, progress=False)
    pairs = PairedDataset(listing.pairs)
    batch = {key: torch.stack([pairs[i][key][..., 120:360, 160:480] for i in range(2)])
             for key in ("ir", "vis", "label")}
    before = _cross_entropy(tmp_path / "short/semantic", short, batch, weight)
    after = _cross_entropy(tmp_path / "long/semantic", long, batch, weight)
    assert after < 0.9 * before, (before, after)

    warm = tmp_path / "long/semantic/segmenter-warmup"
    assert (warm / "segmenter.safetensors").is_file()
    log = [json.loads(line) for line in (warm / "log.jsonl").open()]
    assert log[-1]["val"]["IoU"].keys() == {"background", "person", "bicycle", "car"}
    # the warm-up trains the segmenter only: the fusion network leaves it as it entered
    semantic_log = [json.loads(line) for line in (tmp_path / "long/semantic/log.jsonl").open()]
    assert {"sem", "reg", "loss"} <= set(semantic_log[0]) and semantic_log[-1]["iteration"] == 12


def test_warmup_leaves_the_fusion_network_untouched(tmp_path, two_box_pairs):
    config = _config(tmp_path, two_box_pairs, "frozen", iters=1, warmup=3)
    config.semantic.use_reg = True
    original = trainer.train_phase
    seen = {}

    def spy(phase, name, *args, **kwargs):
        if name == "segmenter-warmup":
            before = {k: v.clone() for k, v in phase.fusion_net.state_dict().items()}
            result = original(phase, name, *args, **kwargs)
            seen["same"] = all(torch.equal(before[k], v) for k, v in phase.fusion_net.state_dict().items())
            return result
        return original(phase, name, *args, **kwargs)

    trainer.train_phase = spy
    try:
        trainer.fit(config, progress=False)
    finally:
        trainer.train_phase = original
    assert seen["same"]
