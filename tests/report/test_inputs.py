"""The report's pieces: reading segeval scores in every stored shape, SVG plots, image conversion and overlays."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from semfuse.report.images import full_size_suffix, open_as_8bit, overlay_files, write_full_size
from semfuse.report.inputs import Statistic, read_segeval, statistic
from semfuse.report.svg import cdf_svg, nice_ticks
from semfuse.segmentation import CLASS_COLOURS


def test_statistic_reads_every_stored_shape():
    assert statistic(0.25) == Statistic(0.25)
    assert statistic({"mean": 0.4, "std": 0.1}) == Statistic(0.4, 0.1)
    spread = statistic([0.2, 0.4])  # per-seed values: mean 0.3, population std 0.1
    assert spread.mean == pytest.approx(0.3) and spread.std == pytest.approx(0.1)
    assert math.isnan(statistic(None).mean) and math.isnan(statistic("x").mean) and math.isnan(statistic(True).mean)


def test_segeval_mean_std_layout(tmp_path):
    entry = {"scores": {"mean": {"IoU": {"car": 0.5}, "Acc": {"car": 0.6}, "mIoU": 0.3, "mAcc": 0.4},
                        "std": {"IoU": {"car": 0.02}, "Acc": {"car": 0.01}, "mIoU": 0.05, "mAcc": 0.04}},
             "seeds": [0, 1, 2], "problems": ["x: no fused image for 7; left out"]}
    (tmp_path / "scores.json").write_text(json.dumps({"ours": entry}))
    folder = read_segeval(tmp_path)
    ours = folder.methods["ours"]
    assert ours.classes["IoU"]["car"] == Statistic(0.5, 0.02) and ours.overall["mIoU"] == Statistic(0.3, 0.05)
    assert folder.classes == ["car"] and ours.details["seeds"] == [0, 1, 2] and ours.problems
    assert ours.predictions is None and folder.record == {}


def test_segeval_layout_with_seeds_and_classes(tmp_path):
    def scores(iou):
        return {"IoU": {"car": iou, "bump": None}, "Acc": {"car": 0.9, "bump": None}, "mIoU": iou, "mAcc": 0.9}

    methods = {"one": {"mean": scores(0.5), "std": scores(0.0), "seeds": {"0": scores(0.5)}, "problems": []},
               "two": {"mean": scores(0.6), "std": scores(0.1), "seeds": {"0": scores(0.5), "1": scores(0.7)}}}
    (tmp_path / "scores.json").write_text(json.dumps({"classes": ["unlabelled", "car", "bump"], "seeds": [0, 1],
                                                      "methods": methods}))
    folder = read_segeval(tmp_path)
    assert folder.classes == ["unlabelled", "car", "bump"]
    assert folder.methods["one"].overall["mIoU"] == Statistic(0.5)  # one seed: no spread shown
    assert folder.methods["two"].overall["mIoU"] == Statistic(0.6, 0.1)
    assert math.isnan(folder.methods["two"].classes["IoU"]["bump"].mean)


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.13, 0.92) == [0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(3.2, 97.0) == [20, 40, 60, 80]
    assert nice_ticks(5.0, 5.0) == [5.0]


def test_cdf_svg_draws_one_curve_per_method_with_finite_values():
    svg = cdf_svg({"a": [1.0, 2.0, 3.0], "b": [2.0, float("nan")], "c": [float("nan")]}, "EN", True,
                  {"a": "#111111", "b": "#222222"})
    assert svg.count("<polyline") == 2 and 'data-method="c"' not in svg
    points = svg.split('<polyline points="')[1].split('"')[0].split()
    xs, ys = zip(*(map(float, point.split(",")) for point in points))
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys, reverse=True)  # rising values: y pixel goes up
    assert "EN ↑" in svg and "no finite values" in cdf_svg({"a": []}, "MSE", False, {})


def test_sixteen_bit_and_tiff_become_browser_images(tmp_path):
    array = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(array).save(tmp_path / "deep.tif")
    grey = open_as_8bit(tmp_path / "deep.tif")
    assert grey.mode == "L" and np.asarray(grey)[7, 7] == round(63000 / 257)
    assert full_size_suffix(tmp_path / "deep.tif") == ".png"
    written = write_full_size(tmp_path / "deep.tif", tmp_path / "out.png", overwrite=False)
    assert Image.open(written).format == "PNG"


def test_overlay_colours_classes_over_the_fused_image(tmp_path):
    labels = np.zeros((4, 6), np.uint8)
    labels[1, 2] = 2  # person
    labels[2, 3] = 255  # ignore
    Image.fromarray(labels, "L").save(tmp_path / "pred.png")
    Image.fromarray(np.full((4, 6), 100, np.uint8), "L").save(tmp_path / "fused.png")
    result = np.asarray(overlay_files(tmp_path / "pred.png", tmp_path / "fused.png", alpha=0.5))
    assert (result[0, 0] == 100).all() and (result[2, 3] == 100).all()  # background and ignore left as they are
    assert result[1, 2].tolist() == [round(50 + c / 2) for c in CLASS_COLOURS[2]]  # half grey, half class colour
