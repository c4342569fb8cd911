"""Hostile and odd files inside a batch: 'semfuse fuse' and 'semfuse evaluate' fuse or score every good pair,
report each bad one in one line with its reason, and exit 1 (issue 11, case 1; docs/reliability.md)."""

import csv
import math
import os

import numpy as np
import pytest
from PIL import Image

from semfuse.cli import main


@pytest.fixture
def hostile_folders(tmp_path, make):
    """ir/ and vi/ with good pairs in every odd format and one bad pair per hostile case."""
    ir, vis = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vis.mkdir()

    def good(name: str, pair=make.TNO, vis_mode: str | None = None, suffix: str = ".png", size=None):
        ir_image, vis_image = make.sample("ir", pair).convert("L"), make.sample("vi", pair)
        if size is not None:
            ir_image, vis_image = ir_image.crop((0, 0, *size)), vis_image.crop((0, 0, *size))
        ir_image.save(ir / f"{name}.png")
        (vis_image.convert(vis_mode) if vis_mode else vis_image).save(vis / f"{name}{suffix}")

    good("plain", make.ROAD)
    good("one_by_one", make.MSRS, size=(1, 1))
    good("row", make.MSRS, size=(64, 1))
    good("column", make.MSRS, size=(1, 48))
    good("rgba", make.MSRS, "RGBA")
    good("palette", make.MSRS, "P")
    good("cmyk", make.ROAD, "CMYK", ".jpg")
    good("été_夜", make.TNO)
    good(os.fsdecode(b"caf\xe9"), make.TNO)  # a file name that is not UTF-8
    sixteen = np.asarray(make.sample("ir", make.TNO).convert("L")).astype(np.uint16) * 257
    Image.fromarray(sixteen).save(ir / "sixteen.png")
    make.sample("vi", make.TNO).save(vis / "sixteen.png")
    make.sample("ir", make.ROAD).convert("L").save(ir / "rotated.png")
    make.exif_rotated_jpeg(make.sample("vi", make.ROAD).convert("RGB"), vis / "rotated.jpg")

    bad = {
        "bomb": "100000x100000 = 10,000,000,000 pixels, over the limit",
        "cut": "is truncated",
        "empty": "is empty (0 bytes)",
        "webpage": "is a text file (HTML",
        "sizes": "64x48 but visible is 63x48",
        "dangling": "is a symbolic link to",
    }
    for name in bad:
        make.sample("ir", make.TNO).convert("L").save(ir / f"{name}.png")
    (vis / "bomb.png").write_bytes(make.bomb_png(100_000, 100_000))
    make.sample("vi", make.ROAD).save(vis / "cut.png")
    (vis / "cut.png").write_bytes((vis / "cut.png").read_bytes()[:900])
    (vis / "empty.png").write_bytes(b"")
    (vis / "webpage.png").write_bytes(b"<!DOCTYPE html><html><body>Access denied</body></html>")
    make.sample("vi", make.TNO).crop((0, 0, 63, 48)).save(vis / "sizes.png")
    (vis / "dangling.png").symlink_to(tmp_path / "moved_away.png")
    return ir, vis, bad


GOOD = {"plain": (64, 48), "one_by_one": (1, 1), "row": (64, 1), "column": (1, 48), "rgba": (64, 48),
        "palette": (64, 48), "cmyk": (64, 48), "été_夜": (64, 48), os.fsdecode(b"caf\xe9"): (64, 48),
        "sixteen": (64, 48), "rotated": (64, 48)}


@pytest.mark.parametrize("method", ["average", pytest.param("semfuse", marks=pytest.mark.slow)])
def test_fuse_batch_with_hostile_files(hostile_folders, tmp_path, caplog, capsys, method):
    ir, vis, bad = hostile_folders
    out = tmp_path / "out"
    code = main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--method", method, "--device", "cpu",
                 "--no-progress"])
    assert code == 1
    written = {path.stem: Image.open(path).size for path in out.iterdir()}
    assert written == GOOD  # every good pair, at its input's (upright) size; nothing for the bad ones
    assert Image.open(out / "cmyk.png").mode == "RGB" and Image.open(out / "sixteen.png").mode == "L"
    failures = [line for line in caplog.messages if line.startswith("failed, skipped: ")]
    assert len(failures) == len(bad)
    for name, reason in bad.items():
        assert any(line.startswith(f"failed, skipped: {name}: ") and reason in line for line in failures), name
    assert f"{len(bad)} pair(s) not fused" in caplog.text
    assert "Traceback" not in capsys.readouterr().err + caplog.text


def test_evaluate_batch_with_hostile_files(hostile_folders, tmp_path, caplog):
    ir, vis, bad = hostile_folders
    fused = tmp_path / "fused"
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(fused), "--method", "average",
                 "--no-progress"]) == 1
    (fused / "extra.png").write_bytes(b"")  # a damaged fused image without sources
    make_odd = {"plain": b"<html>", "rgba": b""}  # fused images that are not images
    for name, content in make_odd.items():
        (fused / f"{name}.png").write_bytes(content)
    Image.new("L", (10, 10)).save(fused / "row.png")  # fused image of the wrong size
    out = tmp_path / "eval"
    caplog.clear()
    code = main(["evaluate", "--ir", str(ir), "--vis", str(vis), "--fused", f"avg={fused}", "--out", str(out),
                 "--metrics", "EN,SF,VIF,CC,MS-SSIM", "--no-progress"])
    assert code == 1
    rows = (out / "metrics.csv").read_text(encoding="utf-8").splitlines()
    scored = {row.split(",")[1] for row in rows[1:]}
    assert scored == set(GOOD) - {"plain", "rgba", "row"} - {os.fsdecode(b"caf\xe9")} | {"caf\\xe9"}
    with (out / "notes.csv").open(encoding="utf-8", newline="") as handle:
        notes = {(row["image"], row["metric"]): row["reason"] for row in csv.DictReader(handle)}
    assert notes["one_by_one", "VIF"].startswith("visual_information_fidelity needs images of at least 41x41 pixels")
    assert notes["one_by_one", "CC"] == ("the fused, infrared and visible images are constant: correlation with a "
                                         "constant image is undefined")
    assert all(math.isnan(float(row.split(",")[-1])) for row in rows if row.split(",")[1] == "one_by_one")
    log = caplog.text
    for name, reason in bad.items():
        assert name in log and reason.split(" but ")[0].split(" = ")[0] in log, name
    assert "avg/plain" in log and "avg/rgba" in log and "fused image is 10x10, sources are 64x1" in log
    assert "Traceback" not in log
