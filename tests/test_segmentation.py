"""fuse --segment: the bundled semantic weights' segmenter writes label maps (class ids) and overlays."""

from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semfuse.cli import main
from semfuse.segmentation import overlay

SAMPLES = Path(str(resources.files("semfuse") / "samples"))


def test_fuse_segment_writes_labels_and_overlays(tmp_path):
    for folder in ("ir", "vi"):
        (tmp_path / folder).mkdir()
        Image.open(SAMPLES / folder / "msrs_00055D.png").crop((320, 120, 640, 360)).save(tmp_path / folder / "a.png")
    out = tmp_path / "out"
    assert main(["fuse", "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vi"), "--out", str(out),
                 "--weights", "semantic-msrs-boxes", "--segment", "--device", "cpu", "--no-progress"]) == 0
    label = Image.open(out / "labels" / "a.png")
    assert label.mode == "P" and label.size == (320, 240)
    ids = np.asarray(label)
    assert ids.max() <= 3 and (ids == 1).any()  # the pedestrian on the right of this crop is found as a person
    tinted = np.asarray(Image.open(out / "overlays" / "a.png"))
    fused = np.asarray(Image.open(out / "a.png"))
    assert np.array_equal(tinted[ids == 0], fused[ids == 0]) and not np.array_equal(tinted[ids > 0], fused[ids > 0])


def test_segment_needs_a_segmenter(tmp_path, capsys):
    for folder in ("ir", "vi"):
        (tmp_path / folder).mkdir()
        Image.open(SAMPLES / folder / "tno_05.png").crop((0, 0, 64, 48)).save(tmp_path / folder / "a.png")
    assert main(["fuse", "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vi"), "--out", str(tmp_path / "o"),
                 "--segment", "--no-progress"]) == 2
    assert "no segmenter belongs to the weights" in capsys.readouterr().err
    assert main(["fuse", "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vi"), "--out", str(tmp_path / "o"),
                 "--method", "average", "--segment", "--no-progress"]) == 2
    assert "--segment needs the semfuse network" in capsys.readouterr().err


def test_overlay_blends_only_labelled_pixels():
    image = np.full((1, 2), 100, np.uint8)
    # background stays 100; class 1 (64, 0, 128) at alpha 0.55: (45 + 35.2 -> 80, 45 + 0, 45 + 70.4 -> 115)
    assert overlay(image, np.array([[0, 1]])).tolist() == [[[100, 100, 100], [80, 45, 115]]]


def test_sliding_window_covers_the_image_and_agrees_with_whole_for_a_pointwise_segmenter():
    from semfuse.segmentation import _window_starts, predict, sliding_window_logits

    assert _window_starts(10, 4, 3) == [0, 3, 6]  # range(0, 6, 3) = 0, 3, then 6 flush with the end (6 + 4 = 10)
    assert _window_starts(3, 4, 3) == [0]  # a window larger than the image shrinks to it
    torch.manual_seed(0)
    segmenter = torch.nn.Conv2d(3, 4, 1)  # each pixel's logits depend on that pixel only: every window agrees
    rgb = torch.rand(2, 3, 37, 53)
    slide = sliding_window_logits(segmenter, rgb, (16, 24), (8, 12))
    assert slide.shape == (2, 4, 37, 53)
    torch.testing.assert_close(slide, segmenter(rgb).detach())
    assert torch.equal(predict(segmenter, rgb, "slide", (16, 24), (8, 12)), predict(segmenter, rgb, "whole"))


def test_score_segmenter_sees_every_prediction_and_restores_training_mode():
    from semfuse.segmentation import score_segmenter

    segmenter = torch.nn.Conv2d(3, 2, 1)
    with torch.no_grad():  # class 1 wherever the first channel is above 0.5
        segmenter.weight.zero_(), segmenter.bias.zero_()
        segmenter.weight[1, 0] = 1.0
        segmenter.bias[1] = -0.5
    rgb = torch.tensor([0.0, 1.0, 1.0, 0.0]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    label = torch.tensor([[[0, 1], [0, 0]]])
    seen = []
    scores = score_segmenter(segmenter.train(), [(rgb, label)], ("bg", "thing"), "whole",
                             on_prediction=lambda index, prediction: seen.append((index, prediction.tolist())))
    assert seen == [(0, [[0, 1], [1, 0]])] and segmenter.training
    # confusion [[2, 1], [0, 1]]: IoU bg 2/3, thing 1/2
    assert scores["IoU"] == {"bg": 2 / 3, "thing": 0.5}


def test_label_png_keeps_the_class_ids_and_shows_the_palette(tmp_path):
    from semfuse.segmentation import class_colour, write_label_png

    labels = np.array([[0, 1], [2, 8]], np.uint8)
    written = write_label_png(tmp_path / "a.png", torch.from_numpy(labels), 9)
    image = Image.open(written)
    assert image.mode == "P" and np.array_equal(np.asarray(image), labels)
    assert tuple(image.convert("RGB").getpixel((1, 0))) == class_colour(1) == (64, 0, 128)
