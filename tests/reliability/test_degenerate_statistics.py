"""Degenerate statistics: constant and all-black images, a fused image equal to a source, classes absent from a
split. Every score is a number or an explicit NaN with its reason; no exception, no warning (issue 11, case 5)."""

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.cli import main
from semfuse.evaluation.undefined import explain_nan, score_triplet
from semfuse.metrics import FUSION_METRICS
from semfuse.metrics.segmentation import confusion_matrix, segmentation_scores
from semfuse.report.segmentation import aggregate_seeds

ALL = tuple(FUSION_METRICS)
PANEL = tuple(name for name in ALL if not name.startswith("FMI"))  # FMI takes seconds per image: tested apart


@pytest.fixture
def folders(tmp_path, make):
    """ir/, vi/ and fused folders for: all black, constant grey, fused = infrared, fused = visible, constant visible."""
    ir, vis, fused = tmp_path / "ir", tmp_path / "vi", tmp_path / "fused"
    for folder in (ir, vis, fused):
        folder.mkdir()
    real_ir = make.sample("ir", make.TNO).convert("L")
    real_vis = make.sample("vi", make.TNO).convert("L")
    black, grey = Image.new("L", real_ir.size, 0), Image.new("L", real_ir.size, 128)
    cases = {
        "black": (black, black, black),
        "grey": (grey, grey, grey),
        "is_ir": (real_ir, real_vis, real_ir),
        "is_vis": (real_ir, real_vis, real_vis),
        "flat_vis": (real_ir, grey, Image.blend(real_ir, grey, 0.5)),
    }
    for name, (ir_image, vis_image, fused_image) in cases.items():
        ir_image.save(ir / f"{name}.png")
        vis_image.save(vis / f"{name}.png")
        fused_image.save(fused / f"{name}.png")
    return ir, vis, fused


@pytest.mark.filterwarnings("error")
def test_evaluate_gives_numbers_or_nan_with_reasons(folders, tmp_path, capsys):
    ir, vis, fused = folders
    out = tmp_path / "eval"
    assert main(["evaluate", "--ir", str(ir), "--vis", str(vis), "--fused", f"m={fused}", "--out", str(out),
                 "--metrics", ",".join(PANEL), "--no-progress"]) == 0
    with (out / "metrics.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["image"]: row for row in csv.DictReader(handle)}
    with (out / "notes.csv").open(encoding="utf-8", newline="") as handle:
        notes = {(row["image"], row["metric"]): row["reason"] for row in csv.DictReader(handle)}
    assert set(rows) == {"black", "grey", "is_ir", "is_vis", "flat_vis"}
    for image, row in rows.items():
        for name in PANEL:
            value = float(row[name])  # every cell is a number, inf or nan
            assert math.isnan(value) == ((image, name) in notes), (image, name)
    assert all(notes.values())
    assert notes["black", "CC"] == ("the fused, infrared and visible images are constant: correlation with a constant "
                                    "image is undefined")
    assert notes["black", "Qabf"].startswith("neither source has an edge")
    assert notes["is_ir", "SCD"].startswith("fused minus a source is constant")
    assert notes["flat_vis", "VIF"] == "the visible image is constant: a ratio is 0/0"
    assert float(rows["black"]["PSNR"]) == math.inf and float(rows["black"]["MSE"]) == 0.0  # identical images
    assert float(rows["black"]["EN"]) == 0.0 and float(rows["grey"]["SD"]) == 0.0
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| m | 5 |" in summary
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.filterwarnings("error")
def test_fmi_on_black_and_constant_images():
    black, grey = np.zeros((24, 24), np.uint8), np.full((24, 24), 128, np.uint8)
    for fused, ir, vis in ((black, black, black), (grey, black, grey)):
        values, reasons = score_triplet(fused, ir, vis, ("FMI_pixel", "FMI_dct"))
        assert all(math.isfinite(value) or name in reasons for name, value in values.items())


def test_too_small_for_a_window_is_nan_with_the_metrics_message(make):
    image = np.asarray(make.sample("ir", make.TNO).convert("L"))[:8, :8]
    values, reasons = score_triplet(image, image, image[::-1].copy(), ("EN", "VIF", "SSIM"))
    assert not math.isnan(values["EN"])
    assert math.isnan(values["VIF"]) and "at least 41x41" in reasons["VIF"]
    assert set(reasons) <= {"VIF", "SSIM"}


def test_explanations_name_the_constant_images():
    flat, varied = np.zeros((8, 8)), np.arange(64.0).reshape(8, 8)
    assert explain_nan("CC", varied, flat, varied) == (
        "the infrared image is constant: correlation with a constant image is undefined")
    assert explain_nan("VIF", flat, varied, flat) == "the fused and visible images are constant: a ratio is 0/0"
    assert "MATLAB" in explain_nan("MS-SSIM", varied, varied, varied)


@pytest.mark.filterwarnings("error")
def test_classes_absent_from_a_split_are_nan_without_warnings():
    label = torch.tensor([[0, 0, 1], [1, 255, 0]])  # class 2 never labelled, 255 ignored
    prediction = torch.tensor([[0, 2, 1], [1, 1, 0]])  # class 2 predicted once (a false positive)
    scores = segmentation_scores(confusion_matrix(prediction, label, 3), ("background", "car", "person"))
    assert math.isnan(scores["Acc"]["person"])  # nothing labelled: accuracy 0/0
    assert math.isnan(scores["IoU"]["person"])  # nothing labelled: no IoU either, although predicted once
    assert scores["mIoU"] == pytest.approx((2 / 3 + 1) / 2)  # background 2/(3+2-2), car 2/(2+2-2)
    # background: 3 labelled, 2 hit; car: 2 labelled, 2 hit, 1 false positive (the 0 -> 1 at [1, 1] is ignored)
    assert scores["mAcc"] == pytest.approx((2 / 3 + 2 / 2) / 2)
    empty = segmentation_scores(torch.zeros(3, 3, dtype=torch.long))
    assert all(math.isnan(empty[key]) for key in ("mAcc", "mIoU", "aAcc"))
    mean, std = aggregate_seeds([scores, scores])
    assert math.isnan(mean["Acc"]["person"]) and math.isnan(std["Acc"]["person"])
    assert mean["mAcc"] == pytest.approx(scores["mAcc"]) and std["mAcc"] == pytest.approx(0.0)
