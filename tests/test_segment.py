"""fuse --segment: the bundled semantic weights' segmenter writes label maps (class ids) and overlays."""

from importlib import resources
from pathlib import Path

import numpy as np
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
