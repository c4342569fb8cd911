"""Pair discovery and reading on every layout, built in a tmp dir from real images."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.data.datasets import (
    IterationBatchSampler,
    PairedDataset,
    RandomCropDataset,
)
from semfuse.data.io import ImageReadError, list_images, read_image, write_image
from semfuse.data.pairs import discover_pairs, load_pair, pair_folders
from semfuse.errors import SemfuseError

BOX = (100, 80, 164, 128)  # a 64x48 crop


def _hot_label(ir_path, dst):
    """A label the test constructs: the hottest 10% of infrared pixels are class 2 ("person"), the rest class 0."""
    ir = np.asarray(Image.open(ir_path).convert("L").crop(BOX))
    label = np.where(ir >= np.percentile(ir, 90), 2, 0).astype(np.uint8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(label).save(dst)
    return label


def test_plain_folders_pair_by_stem_across_extensions(tmp_path, roadscene_pair, msrs_pair, crop_to):
    crop_to(roadscene_pair[0], tmp_path / "ir/a.png", BOX)
    crop_to(roadscene_pair[1], tmp_path / "vi/a.jpg", BOX)
    crop_to(msrs_pair[0], tmp_path / "ir/b.bmp", BOX)
    crop_to(msrs_pair[1], tmp_path / "vi/b.tif", BOX)
    crop_to(msrs_pair[0], tmp_path / "ir/only_ir.png", BOX)
    crop_to(msrs_pair[1], tmp_path / "vi/only_vis.png", BOX)
    (tmp_path / "vi/notes.txt").write_text("not an image")
    listing = pair_folders(tmp_path / "ir", tmp_path / "vi")
    assert [p.name for p in listing.pairs] == ["a", "b"]
    assert len(listing.unpaired) == 2
    assert any("only_ir" in m and "no visible" in m for m in listing.unpaired)
    assert any("only_vis" in m and "no infrared" in m for m in listing.unpaired)
    pair = load_pair(listing.pairs[0])
    assert pair["ir"].shape == (48, 64) and pair["vis"].shape == (48, 64, 3) and pair["label"] is None


def test_two_files_with_one_stem_are_an_error(tmp_path, roadscene_pair, crop_to):
    crop_to(roadscene_pair[0], tmp_path / "ir/a.png", BOX)
    crop_to(roadscene_pair[0], tmp_path / "ir/a.jpg", BOX)
    with pytest.raises(ImageReadError, match="share the name"):
        list_images(tmp_path / "ir")


@pytest.mark.parametrize("label_dir", ["Label", "label"])
def test_msrs_layout_with_splits_and_labels(tmp_path, msrs_pair, crop_to, label_dir):
    for split in ("train", "test"):
        crop_to(msrs_pair[0], tmp_path / split / "ir/00004N.png", BOX)
        crop_to(msrs_pair[1], tmp_path / split / "vi/00004N.png", BOX)
        expected = _hot_label(msrs_pair[0], tmp_path / split / label_dir / "00004N.png")
    listing = discover_pairs(tmp_path, "test")
    assert [p.name for p in listing.pairs] == ["00004N"] and not listing.unpaired
    pair = load_pair(listing.pairs[0])
    assert np.array_equal(pair["label"], expected)
    sample = PairedDataset(listing.pairs)[0]
    assert sample["ir"].shape == (1, 48, 64) and sample["vis"].shape == (3, 48, 64)
    assert sample["label"].dtype == torch.long and set(sample["label"].unique().tolist()) <= {0, 2}


def test_msrs_pair_without_label_is_reported(tmp_path, msrs_pair, crop_to):
    crop_to(msrs_pair[0], tmp_path / "ir/x.png", BOX)
    crop_to(msrs_pair[1], tmp_path / "vi/x.png", BOX)
    crop_to(msrs_pair[0], tmp_path / "ir/y.png", BOX)
    crop_to(msrs_pair[1], tmp_path / "vi/y.png", BOX)
    _hot_label(msrs_pair[0], tmp_path / "Label/x.png")
    listing = discover_pairs(tmp_path)
    assert [p.name for p in listing.pairs] == ["x"]
    assert any("no label" in m for m in listing.unpaired)


def test_mfnet_four_channel_layout(tmp_path, msrs_pair):
    rgb = np.asarray(Image.open(msrs_pair[1]).convert("RGB").crop(BOX))
    thermal = np.asarray(Image.open(msrs_pair[0]).convert("L").crop(BOX))
    (tmp_path / "images").mkdir()
    for name in ("00001D", "00002N"):
        Image.fromarray(np.dstack([rgb, thermal]), mode="RGBA").save(tmp_path / f"images/{name}.png")
        _hot_label(msrs_pair[0], tmp_path / f"labels/{name}.png")
    (tmp_path / "train.txt").write_text("00001D\n")
    (tmp_path / "test.txt").write_text("00002N\n00003D\n")
    train = discover_pairs(tmp_path, "train")
    assert [p.name for p in train.pairs] == ["00001D"]
    test = discover_pairs(tmp_path, "test")
    assert [p.name for p in test.pairs] == ["00002N"]
    assert any("00003D" in m for m in test.unpaired)  # listed but missing: reported, not dropped
    pair = load_pair(test.pairs[0])
    assert np.allclose(pair["ir"], thermal / 255.0) and np.allclose(pair["vis"], rgb / 255.0)
    assert pair["label"].shape == thermal.shape
    with pytest.raises(ImageReadError, match="val.txt"):
        discover_pairs(tmp_path, "val")


def test_sixteen_bit_infrared_reads_like_eight_bit(tmp_path, msrs_pair):
    ir8 = np.asarray(Image.open(msrs_pair[0]).convert("L").crop(BOX))
    Image.fromarray(ir8.astype(np.uint16) * 257).save(tmp_path / "ir16.png")
    Image.fromarray(ir8).save(tmp_path / "ir8.png")
    assert np.allclose(read_image(tmp_path / "ir16.png"), read_image(tmp_path / "ir8.png"), atol=1e-6)


def test_rgba_palette_and_grey_rgb_visible_files(tmp_path, roadscene_pair, tno_pair):
    rgb = Image.open(roadscene_pair[1]).convert("RGB").crop(BOX)
    rgba = rgb.copy()
    rgba.putalpha(128)
    rgba.save(tmp_path / "rgba.png")
    assert np.allclose(read_image(tmp_path / "rgba.png"), np.asarray(rgb) / 255.0)
    palette = rgb.convert("P")
    palette.save(tmp_path / "p.png")
    assert np.allclose(read_image(tmp_path / "p.png"), np.asarray(palette.convert("RGB")) / 255.0)
    tno_vis = read_image(tno_pair[1])  # stored as RGB with R = G = B
    assert tno_vis.ndim == 2


def test_bad_files_raise_one_line_errors(tmp_path, roadscene_pair, msrs_pair, crop_to):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    crop_to(roadscene_pair[0], tmp_path / "ir/a.png", (0, 0, 64, 48))
    crop_to(roadscene_pair[1], tmp_path / "vi/a.png", (0, 0, 60, 48))
    with pytest.raises(ImageReadError, match="64x48 but visible is 60x48"):
        load_pair(pair_folders(tmp_path / "ir", tmp_path / "vi").pairs[0])
    with pytest.raises(ImageReadError, match="no ir/ and vi/"):
        discover_pairs(tmp_path / "ir")


def test_write_image_writes_png_at_the_fast_compression_level_with_the_same_pixels(tmp_path, msrs_pair):
    import io

    from semfuse.constants import PNG_COMPRESS_LEVEL

    rgb = np.asarray(Image.open(msrs_pair[1]).convert("RGB"))
    target = write_image(tmp_path / "fused.png", rgb.astype(np.float32) / 255)
    expected = io.BytesIO()
    Image.fromarray(rgb).save(expected, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    assert target.read_bytes() == expected.getvalue()
    assert np.array_equal(np.asarray(Image.open(target)), rgb)


def test_write_image_is_atomic_and_refuses_to_overwrite(tmp_path):
    target = write_image(tmp_path / "out.png", np.full((4, 5), 0.5))
    assert np.asarray(Image.open(target)).tolist() == [[128] * 5] * 4
    with pytest.raises(SemfuseError, match="--overwrite"):
        write_image(target, np.zeros((4, 5)))
    write_image(target, np.zeros((4, 5)), overwrite=True)
    assert np.asarray(Image.open(target)).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual permissions, not the temporary file's 0600


def test_training_crops_are_reproducible_and_joint(tmp_path, msrs_pair, crop_to):
    crop_to(msrs_pair[0], tmp_path / "ir/a.png", (0, 0, 200, 150))
    crop_to(msrs_pair[1], tmp_path / "vi/a.png", (0, 0, 200, 150))
    pairs = PairedDataset(pair_folders(tmp_path / "ir", tmp_path / "vi").pairs)
    crops = RandomCropDataset(pairs, (32, 40), (0.5, 2.0), hflip=True)
    batches = [list(IterationBatchSampler(1, 2, 5, seed=3)) for _ in range(2)]
    assert batches[0] == batches[1]
    resumed = list(IterationBatchSampler(1, 2, 5, seed=3, start=2))
    assert resumed == batches[0][2:]
    first, again = crops[batches[0][0][0]], crops[batches[0][0][0]]
    assert first["ir"].shape == (1, 32, 40) and first["vis"].shape == (3, 32, 40) and first["label"].shape == (32, 40)
    assert torch.equal(first["ir"], again["ir"]) and torch.equal(first["vis"], again["vis"])
