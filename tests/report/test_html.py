"""The HTML report: what it writes, and how it behaves in a real browser (headless Chromium).

The browser tests skip when no Chromium is installed (CI installs Debian's 'chromium'); each saves a screenshot
under pytest's temporary folder and prints its path.
"""

import csv
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from semfuse.cli import main
from semfuse.demo import samples_dir
from semfuse.errors import SemfuseError
from semfuse.report.html import write_report


def _load_browser():
    """The headless-Chromium driver, which lives beside the benchmarks (it is not part of the package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "_browser.py"
    spec = importlib.util.spec_from_file_location("_browser", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_browser = _load_browser()
Chromium, find_chromium = _browser.Chromium, _browser.find_chromium
METRICS = ("EN", "SD", "SF", "AG", "Nabf")  # as in conftest.py
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="no chromium executable (apt-get install "
                                    "chromium); the report's browser tests need one")


@pytest.fixture(scope="module")
def report(evaluation_dir, tmp_path_factory, make_segeval) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    segeval = make_segeval(tmp_path_factory.mktemp("seg") / "table1", predictions=True,
                            methods={"average": evaluation_dir.parent / "fused" / "average",
                                     "max": evaluation_dir.parent / "fused" / "max"})
    write_report(out, evaluation_dir, segeval)
    return out


def test_report_is_self_contained(report):
    page = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch from a network
    assert page.count('<svg class="cdf"') == len(METRICS)
    for url in re.findall(r'"(report_files/[^"]+)"', page):
        assert (report.parent / url).is_file(), url
    data = json.loads(re.search(r'id="gallery-data">(.*?)</script>', page).group(1))
    assert [row["name"] for row in data["rows"]] == sorted(p.stem for p in (samples_dir() / "ir").iterdir())
    assert [column["label"] for column in data["columns"]] == ["infrared", "visible", "average", "max"]
    assert all(all(data_row["thumbs"]) and data_row["size"] for data_row in data["rows"])
    overlays = json.loads(re.search(r'id="overlay-data">(.*?)</script>', page).group(1))
    assert [row["name"] for row in overlays["rows"]] == ["msrs_00004N", "msrs_00055D"]


def test_summary_matches_the_tables_of_evaluate(report, evaluation_dir):
    page = report.read_text()
    table = re.search(r'<table class="sortable" id="summary-table">(.*?)</table>', page).group(1)
    with (evaluation_dir / "summary.csv").open() as handle:
        for row in csv.DictReader(handle):
            cells = re.search(rf'<tr><td data-value="{row["method"]}">.*?</tr>', table).group(0)
            assert f'data-value="{float(row["EN_mean"])!r}"' in cells
    assert table.count('class="best"') >= len(METRICS)  # one best per metric (ties allowed)


def test_refuses_to_overwrite(evaluation_dir, tmp_path, make_segeval):
    segeval = make_segeval(tmp_path / "table1", predictions=True)
    report = write_report(tmp_path / "report.html", evaluation_dir, segeval).html
    with pytest.raises(SemfuseError, match="exists; pass --overwrite"):
        write_report(report, evaluation_dir)
    before = {path.name for path in (report.parent / "report_files" / "thumbs").iterdir()}
    write_report(report, evaluation_dir, overwrite=True)  # no segeval now: its overlay thumbnails go
    after = {path.name for path in (report.parent / "report_files" / "thumbs").iterdir()}
    assert after < before and all(name.startswith("g") for name in after)


def test_segeval_without_predictions_says_so(tmp_path, make_segeval):
    segeval = make_segeval(tmp_path / "table1", per_seed=True)
    out = write_report(tmp_path / "seg.html", segeval=segeval).html
    page = out.read_text()
    assert "did not save predictions" in page
    assert "41.00 ± 1.00" in page  # mIoU of 'average' over two seeds: mean of 0.40 and 0.42, std 0.01, in %
    assert 'id="summary-table"' not in page


def test_folder_without_run_record(evaluation_dir, tmp_path):
    old = tmp_path / "old_eval"
    shutil.copytree(evaluation_dir, old)
    (old / "run.json").unlink()
    page = write_report(tmp_path / "r.html", old).html.read_text()
    assert "has no run.json" in page and "pass --ir/--vis" in page
    folders = {"ir": samples_dir() / "ir", "vis": samples_dir() / "vi",
               "fused": {"average": evaluation_dir.parent / "fused" / "average"}}
    result = write_report(tmp_path / "r2.html", old, folders=folders)
    data = json.loads(re.search(r'id="gallery-data">(.*?)</script>', result.html.read_text()).group(1))
    assert all(row["thumbs"][0] and row["thumbs"][2] and row["thumbs"][3] is None for row in data["rows"])


def test_copy_images_makes_a_movable_report(evaluation_dir, tmp_path):
    write_report(tmp_path / "a" / "r.html", evaluation_dir, copy_images=True)
    shutil.move(tmp_path / "a", tmp_path / "b")
    page = (tmp_path / "b" / "r.html").read_text()
    data = json.loads(re.search(r'id="gallery-data">(.*?)</script>', page).group(1))
    for row in data["rows"]:
        assert all((tmp_path / "b" / url).is_file() for url in row["full"])


def test_command_line(evaluation_dir, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", "--evaluation", str(evaluation_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert main(["report", "--evaluation", str(evaluation_dir), "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["report", "--out", str(out)]) == 2
    assert main(["report", "--evaluation", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert "has no metrics.csv" in capsys.readouterr().err


def _tile_centre(browser, article_index: int, tile_index: int) -> tuple[float, float]:
    return tuple(browser.evaluate(
        f"(() => {{ const r = document.querySelectorAll('#pairs .pair')[{article_index}]"
        f".querySelectorAll('.view')[{tile_index}].getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"))


@needs_chromium
def test_report_in_chromium(report, tmp_path):
    with Chromium(width=1400, height=1000) as browser:
        browser.open(report)
        assert browser.evaluate("document.querySelectorAll('#summary-table tbody tr').length") == 2
        # every CDF plot is drawn, with one visible curve per method
        sizes = browser.evaluate("Array.from(document.querySelectorAll('svg.cdf')).map(s => "
                                 "[s.getBoundingClientRect().width, s.querySelectorAll('polyline').length])")
        assert len(sizes) == len(METRICS) and all(w > 200 and n == 2 for w, n in sizes)
        browser.screenshot(tmp_path / "report_top.png")

        # sorting: the first click on a metric puts the best first, the second reverses
        def column(index):
            return browser.evaluate("Array.from(document.querySelectorAll('#summary-table tbody tr')).map("
                                    f"r => parseFloat(r.cells[{index}].dataset.value))")
        for index in (2, 6):  # EN (higher is better), Nabf (lower is better)
            browser.evaluate(f"document.querySelectorAll('#summary-table thead th')[{index}].click()")
            first = column(index)
            assert first == sorted(first, reverse=index == 2)
            browser.evaluate(f"document.querySelectorAll('#summary-table thead th')[{index}].click()")
            assert column(index) == first[::-1]

        # the gallery: every image on screen has loaded
        browser.evaluate("document.querySelector('#gallery').scrollIntoView()")
        browser.wait_until("Array.from(document.querySelectorAll('#pairs img')).filter(i => "
                           "i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth)")
        assert browser.evaluate("document.querySelectorAll('#pairs .pair').length") == 6
        assert browser.evaluate("document.querySelectorAll('#pairs .pair')[0].querySelectorAll('img').length") == 4
        browser.screenshot(tmp_path / "report_gallery.png")

        # zoom: a real click on the visible image zooms all four images of the pair on the same region
        x, y = _tile_centre(browser, 0, 1)
        browser.click(x - 20, y + 10)
        browser.wait_until("document.querySelectorAll('#pairs .pair')[0].querySelectorAll('img[data-loaded=full]')"
                           ".length === 4")
        transforms = browser.evaluate("Array.from(document.querySelectorAll('#pairs .pair')[0].querySelectorAll("
                                      "'img')).map(i => i.style.transform)")
        assert len(set(transforms)) == 1 and "scale(4)" in transforms[0]
        assert browser.evaluate("document.querySelectorAll('#pairs .pair')[1].dataset.zoom") == "1.000,0.5000,0.5000"
        zoomed = browser.evaluate("document.querySelectorAll('#pairs .pair')[0].dataset.zoom").split(",")
        assert float(zoomed[1]) < 0.5 < float(zoomed[2])  # centred left of and below the middle, where we clicked
        # a drag on another image pans all of them together
        x, y = _tile_centre(browser, 0, 3)
        browser.mouse("mousePressed", x, y)
        browser.mouse("mouseMoved", x + 30, y)
        browser.mouse("mouseReleased", x + 30, y, buttons=0)
        panned = browser.evaluate("document.querySelectorAll('#pairs .pair')[0].dataset.zoom").split(",")
        assert float(panned[1]) < float(zoomed[1]) and panned[2] == zoomed[2]
        transforms = browser.evaluate("Array.from(document.querySelectorAll('#pairs .pair')[0].querySelectorAll("
                                      "'img')).map(i => i.style.transform)")
        assert len(set(transforms)) == 1
        browser.screenshot(tmp_path / "report_zoomed.png")

        # ordering the gallery by a metric
        browser.evaluate("const s = document.querySelector('#pairs .g-sort'); s.value = '0';"
                         "s.dispatchEvent(new Event('change'))")
        names = browser.evaluate("Array.from(document.querySelectorAll('#pairs .pair')).map(a => a.dataset.name)")
        data = json.loads(browser.evaluate("document.getElementById('gallery-data').textContent"))
        entropy = {row["name"]: row["scores"][0][0] for row in data["rows"]}
        assert names == sorted(entropy, key=entropy.get)  # worst (lowest EN of 'average') first

        # the segmentation section: Table I and the overlays
        assert browser.evaluate("document.querySelectorAll('#segmentation-table tbody tr').length") == 2
        browser.evaluate("document.querySelector('#segmentation').scrollIntoView()")
        browser.wait_until("Array.from(document.querySelectorAll('#overlays img')).every(i => i.complete && "
                           "i.naturalWidth)")
        browser.screenshot(tmp_path / "report_segmentation.png")
        assert browser.errors == []
    print(f"screenshots: {tmp_path}")


@needs_chromium
def test_missing_image_is_reported_by_the_browser(evaluation_dir, tmp_path):
    """The console check is real: a thumbnail deleted after writing shows up as an error."""
    out = write_report(tmp_path / "r.html", evaluation_dir).html
    (tmp_path / "r_files" / "thumbs" / "g00000-00.jpg").unlink()  # the first pair's infrared image
    with Chromium() as browser:
        browser.open(out)
        browser.evaluate("document.querySelector('#gallery').scrollIntoView()")
        browser.wait_until("Array.from(document.querySelectorAll('#pairs img')).every(i => i.complete)", timeout=20)
        assert any("ERR_FILE_NOT_FOUND" in error or "Failed to load" in error for error in browser.errors)


def test_evaluate_writes_the_report_with_report(evaluation_dir, tmp_path, capsys):
    fused = evaluation_dir.parent / "fused"
    weights = Path(__file__).resolve().parents[2] / "src" / "semfuse" / "weights" / "densefuse.safetensors"
    argv = ["evaluate", "--ir", str(samples_dir() / "ir"), "--vis", str(samples_dir() / "vi"), "--fused",
            f"average={fused / 'average'}", "--out", str(tmp_path / "eval"), "--metrics", "EN,SD", "--no-progress",
            "--report", "--weights", f"average={weights}"]
    assert main(argv) == 0
    page = (tmp_path / "eval" / "report.html").read_text()
    assert "densefuse.safetensors" in page and "<summary>card</summary>" in page  # the weights and their card
    record = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert record["weights"] == {"average": str(weights)} and record["metrics"] == ["EN", "SD"]
    assert record["inputs"]["ir"] == str(samples_dir() / "ir") and record["command"]  # sys.argv: pytest's here
    assert main(argv) == 2  # the existing report is refused before anything is scored
    assert "report.html exists" in capsys.readouterr().err
