"""'semfuse evaluate' end to end on real TNO pairs, with two fusions built here (pixel average and pixel max)."""

import csv
import doctest
import importlib
import logging

import numpy as np
import pytest
from PIL import Image

from semfuse.cli import main
from semfuse.errors import SemfuseError
from semfuse.evaluation.fusion import evaluate_methods, load_grey_uint8, matlab_rgb2gray, score_methods, write_scores
from semfuse.metrics import PANEL, evaluate_triplet

# stem -> bundled TNO pair and a 128 x 96 crop of it: small images keep the test fast (the oracle tests use full images)
CROPS = {"01": ("05", (100, 160, 228, 256)), "02": ("05", (20, 20, 148, 116)), "03": ("37", (120, 0, 248, 96))}
PAIRS = tuple(CROPS)


@pytest.fixture
def tno(tmp_path, bundled_data, crop_to):
    """ir/ and vi/ with three real TNO crops (stored as RGB with R = G = B, like the originals), and two methods:
    avg/ (01, 02 at a wrong size, 03) and max/ (01, 02; 03 missing)."""
    for stem, (source, box) in CROPS.items():
        crop_to(bundled_data / f"tno/ir/{source}.png", tmp_path / f"ir/{stem}.png", box)
        crop_to(bundled_data / f"tno/vi/{source}.png", tmp_path / f"vi/{stem}.png", box)
    (tmp_path / "avg").mkdir()
    (tmp_path / "max").mkdir()
    for stem in PAIRS:
        ir = load_grey_uint8(tmp_path / f"ir/{stem}.png").astype(np.float64)
        vis = load_grey_uint8(tmp_path / f"vi/{stem}.png").astype(np.float64)
        average = Image.fromarray(np.floor((ir + vis) / 2 + 0.5).astype(np.uint8))
        if stem == "02":
            average = average.resize((120, 90))  # size mismatch
        average.save(tmp_path / f"avg/{stem}.png")
        if stem != "03":  # missing file
            Image.fromarray(np.maximum(ir, vis).astype(np.uint8)).save(tmp_path / f"max/{stem}.png")
    return tmp_path


def _argv(root, *extra):
    return [
        "evaluate", "--ir", str(root / "ir"), "--vis", str(root / "vi"),
        "--fused", f"avg={root / 'avg'}", "--fused", f"max={root / 'max'}",
        "--out", str(root / "out"), "--no-progress", *extra,
    ]  # fmt: skip


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_evaluate_scores_reports_and_plots(tno, caplog):
    with caplog.at_level(logging.WARNING, logger="semfuse"):
        status = main(_argv(tno))
    assert status == 1  # two files were skipped
    out = tno / "out"

    rows = _rows(out / "metrics.csv")
    assert rows[0] == ["method", "image", *PANEL]
    assert [row[:2] for row in rows[1:]] == [["avg", "01"], ["avg", "03"], ["max", "01"], ["max", "02"]]
    ir, vis = load_grey_uint8(tno / "ir/01.png"), load_grey_uint8(tno / "vi/01.png")
    expected = evaluate_triplet(np.maximum(ir, vis), ir, vis)
    assert [float(value) for value in rows[3][2:]] == pytest.approx(list(expected.values()), rel=1e-12)

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("avg/02: fused image is 120x90, sources are 128x96" in message for message in warnings)
    assert any("max: no fused image for 03" in message for message in warnings)
    assert any("2 files or pairs were skipped" in message for message in warnings)

    summary = _rows(out / "summary.csv")
    assert summary[0][:4] == ["method", "n", "EN_mean", "EN_std"] and len(summary[0]) == 2 + 2 * len(PANEL)
    assert [row[:2] for row in summary[1:]] == [["avg", "2"], ["max", "2"]]
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert "| Method | n | EN ↑ |" in markdown and "Nabf ↓" in markdown and "MSE ↓" in markdown
    # on these crops the max fusion has the higher mean entropy (bold in its row) and the higher MSE (avg's is bold)
    avg_row, max_row = (line for line in markdown.splitlines() if line.startswith(("| avg", "| max")))
    assert max_row.split(" | ")[2].startswith("**") and not avg_row.split(" | ")[2].startswith("**")
    assert avg_row.split(" | ")[-1].startswith("**")

    for name in PANEL:
        png, svg = out / "cdf" / f"{name}.png", out / "cdf" / f"{name}.svg"
        assert Image.open(png).size[0] > 300
        assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert not list(out.rglob(".*"))  # no temporary files left behind


def test_evaluate_refuses_to_overwrite_unless_asked(tno, capsys):
    assert main(_argv(tno, "--metrics", "EN,SF")) == 1
    first = (tno / "out/metrics.csv").read_text()
    capsys.readouterr()
    assert main(_argv(tno, "--metrics", "EN,SF")) == 2
    error = capsys.readouterr().err
    assert "metrics.csv exists; pass --overwrite" in error and error.count("\n") == 1
    assert (tno / "out/metrics.csv").read_text() == first
    assert main(_argv(tno, "--metrics", "SF", "--overwrite")) == 1
    assert _rows(tno / "out/metrics.csv")[0] == ["method", "image", "SF"]


def test_metric_subset_orders_columns_and_plots(tno):
    result = evaluate_methods(
        tno / "ir", tno / "vi", {"max": tno / "max"}, tno / "out", metrics="ms_ssim,EN", progress=False
    )
    assert result.metrics == ("MS-SSIM", "EN")
    assert _rows(tno / "out/metrics.csv")[0] == ["method", "image", "MS-SSIM", "EN"]
    assert sorted(path.name for path in (tno / "out/cdf").iterdir()) == [
        "EN.png", "EN.svg", "MS-SSIM.png", "MS-SSIM.svg",
    ]  # fmt: skip
    assert result.problems == ["max: no fused image for 03; skipped"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "EN,FOO"], "unknown metric 'FOO'; choose from EN, SD, SF, AG, MI, SCD, VIF, Qabf, Nabf, SSIM"),
        (["--fused", "novalue"], "--fused 'novalue' is not NAME=DIR"),
        (["--fused", "avg=elsewhere"], "method name 'avg' is given twice"),
    ],
)
def test_user_errors_are_one_line_with_status_2(tno, capsys, extra, message):
    assert main(_argv(tno, *extra)) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tno / "out").exists()


def test_a_missing_folder_is_a_user_error(tno, capsys):
    argv = _argv(tno)
    argv[argv.index(str(tno / "vi"))] = str(tno / "nowhere")
    assert main(argv) == 2
    assert "nowhere is not a folder" in capsys.readouterr().err


def test_unpaired_sources_and_strays_are_reported(tno):
    Image.open(tno / "ir/01.png").save(tno / "ir/09.png")  # infrared without visible
    Image.open(tno / "max/01.png").save(tno / "max/77.png")  # fused without sources
    Image.open(tno / "ir/01.png").save(tno / "ir/05.png")
    Image.open(tno / "vi/01.png").resize((64, 48)).save(tno / "vi/05.png")  # sources of different sizes
    result = evaluate_methods(tno / "ir", tno / "vi", {"max": tno / "max"}, tno / "out", metrics="EN", progress=False)
    assert "09: infrared image without a visible image; skipped" in result.problems
    assert "05: infrared 128x96 and visible 64x48 differ in size; skipped" in result.problems
    strays = [problem for problem in result.problems if "77.png" in problem]
    assert len(strays) == 1 and strays[0].startswith("max:") and "has no infrared/visible pair" in strays[0]
    assert list(result.scores["max"]) == ["01", "02"]


def test_nothing_to_score_is_a_user_error(tno):
    empty = tno / "empty"
    empty.mkdir()
    with pytest.raises(SemfuseError, match="no fused image could be scored"):
        evaluate_methods(tno / "ir", tno / "vi", {"none": empty}, tno / "out", progress=False)


def test_colour_images_are_converted_with_matlab_rgb2gray(tno):
    # 0.298936021293775 * 200 + 0.587043074451121 * 100 + 0.114020904255103 * 50 = 124.2947... -> 124;
    # the weights sum to 1 - 1e-15, so R = G = B = v gives v - 2.55e-13 at most, which rounds back to v
    pixel = np.array([[[200, 100, 50], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    assert matlab_rgb2gray(pixel).tolist() == [[124, 255, 0]]
    ir = load_grey_uint8(tno / "ir/01.png")
    colour = np.stack([ir, np.roll(ir, 1, axis=1), ir // 2], axis=-1)
    Image.fromarray(colour).save(tno / "colour.png")
    assert np.array_equal(load_grey_uint8(tno / "colour.png"), matlab_rgb2gray(colour))


def test_worker_threads_give_the_same_tables(tno):
    one = evaluate_methods(tno / "ir", tno / "vi", {"avg": tno / "avg", "max": tno / "max"}, tno / "one",
                           progress=False, workers=1)  # fmt: skip
    two = evaluate_methods(tno / "ir", tno / "vi", {"avg": tno / "avg", "max": tno / "max"}, tno / "two",
                           progress=False, workers=2)  # fmt: skip
    # the same images in the same order; the same values up to the rounding of a different torch thread count
    assert {method: list(images) for method, images in one.scores.items()} == \
        {method: list(images) for method, images in two.scores.items()}
    for method, images in one.scores.items():
        for stem, values in images.items():
            np.testing.assert_allclose(list(values.values()), list(two.scores[method][stem].values()), rtol=1e-12)


def test_scores_without_files_then_written_as_evaluate_writes_them(tno):
    before = sorted(tno.rglob("*"))
    scored = score_methods(tno / "ir", tno / "vi", {"max": tno / "max"}, metrics="EN,SF", progress=False)
    assert sorted(tno.rglob("*")) == before  # scoring writes nothing
    assert scored.metrics == ("EN", "SF") and set(scored.scores) == {"max"}
    evaluated = evaluate_methods(tno / "ir", tno / "vi", {"max": tno / "max"}, tno / "a", metrics="EN,SF",
                                 progress=False)
    written = write_scores(scored, tno / "b", {"ir": tno / "ir", "vis": tno / "vi"}, {"max": tno / "max"})
    assert [path.relative_to(tno / "b") for path in written] == [path.relative_to(tno / "a")
                                                               for path in evaluated.outputs]
    for name in ("metrics.csv", "summary.csv", "summary.md", "notes.csv"):
        assert (tno / "a" / name).read_bytes() == (tno / "b" / name).read_bytes()


def test_no_more_workers_than_triplets(tno, monkeypatch):
    # one triplet: no worker thread, and the torch threads stay as they are for its tensor operations
    calls = []
    monkeypatch.setattr("torch.set_num_threads", calls.append)  # as semfuse.process.torch_threads calls it
    monkeypatch.setattr("semfuse.evaluation.fusion.ThreadPoolExecutor", None)  # a pool would fail
    (tno / "one").mkdir()
    (tno / "one/01.png").write_bytes((tno / "max/01.png").read_bytes())
    result = evaluate_methods(tno / "ir", tno / "vi", {"one": tno / "one"}, tno / "out", progress=False, workers=8)
    assert list(result.scores["one"]) == ["01"]
    assert all(threads != 1 for threads in calls)


@pytest.mark.parametrize("module", ["semfuse.evaluation.fusion", "semfuse.report.tables", "semfuse.report.plots"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"np": np}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
