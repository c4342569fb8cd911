"""'semfuse fuse --tile': tiled fusion through the command line gives the whole-image result to far below a grey level."""

import numpy as np
from PIL import Image

from semfuse.cli import main


def test_tiled_fuse_matches_whole_image_fuse(samples, tmp_path):
    ir, vis = samples / "ir" / "tno_05.png", samples / "vi" / "tno_05.png"
    common = ["fuse", "--ir", str(ir), "--vis", str(vis), "--device", "cpu", "--no-progress", "--threads", "2"]
    assert main([*common, "--out", str(tmp_path / "whole.png")]) == 0
    assert main([*common, "--out", str(tmp_path / "tiled.png"), "--tile", "256"]) == 0
    whole = np.asarray(Image.open(tmp_path / "whole.png"), dtype=np.int16)
    tiled = np.asarray(Image.open(tmp_path / "tiled.png"), dtype=np.int16)
    assert whole.shape == tiled.shape
    assert np.abs(whole - tiled).max() <= 1 and (whole != tiled).mean() < 0.001


def test_tile_is_refused_for_classical_methods(samples, tmp_path, capsys):
    ir, vis = samples / "ir" / "tno_05.png", samples / "vi" / "tno_05.png"
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "f.png"), "--method", "average",
            "--tile", "256"]
    assert main(argv) == 2
    assert "has no option 'tile'" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()
