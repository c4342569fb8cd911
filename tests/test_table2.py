"""experiments/table2: the proxy Table II driver. How each ablation config becomes a proxy row, the table's layout
and its 2-sigma column, and a two-iteration smoke run of two rows on real files (a small MSRS-boxes-layout folder
made from the bundled MSRS pairs): what it writes, and that a second run redoes nothing while a removed result is
redone alone."""

import csv
import json
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "experiments" / "table2"


def _load(name: str):
    spec = spec_from_file_location(f"table2_{name}", DRIVER / f"{name}.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
results_table = _load("results_table")
CLASSES = ("background", "person", "bicycle", "car")


def test_every_ablation_config_is_a_row_and_every_row_names_an_existing_config():
    configs = {path.stem for path in (REPO / "configs" / "ablations").glob("*.yaml")}
    ablations = {spec.ablation for spec in results_table.ROWS.values() if spec.ablation}
    assert ablations == configs


@pytest.mark.parametrize(("row", "semantic", "warm_start"), [
    ("ours", [], None),
    ("ave", [], None),
    ("ours_seed1", ["seed=1"], None),                            # Ours with another seed of its joint phase
    ("wo_ws", ["semantic.init_fusion=scratch"], None),
    ("max_st", ["semantic.init_fusion=warm-start-max"], None),
    ("wo_reg", ["semantic.use_reg=false"], None),
    ("wo_sem", ["semantic.use_sem=false"], None),
    ("wo_car", ["semantic.excluded_classes=[3]"], None),        # MFNet's car (1) is the boxes' car (3)
    ("wo_person", ["semantic.excluded_classes=[1]"], None),     # MFNet's person (2) is the boxes' person (1)
    ("wo_car_person", ["semantic.excluded_classes=[3, 1]"], None),
    ("wo_sla", ['model.attention="none"'], ['model.attention="none"']),
    ("cha", ['model.attention="channel"'], ['model.attention="channel"']),
])
def test_each_ablation_becomes_the_proxy_recipe_plus_its_one_change(row, semantic, warm_start):
    assert run.row_change(row, CLASSES) == (semantic, warm_start)


def test_a_change_the_driver_cannot_translate_is_refused(monkeypatch, tmp_path):
    (tmp_path / "configs" / "ablations").mkdir(parents=True)
    (tmp_path / "configs" / "ablations" / "wo_reg.yaml").write_text("base: ../msrs.yaml\ndata: {crop: [64, 64]}\n")
    monkeypatch.setattr(run, "REPO", tmp_path)
    with pytest.raises(SystemExit, match="data.crop"):
        run.row_change("wo_reg", CLASSES)


def _scores(mious: list[float]) -> dict:
    mean = sum(mious) / len(mious)
    std = (sum((m - mean) ** 2 for m in mious) / len(mious)) ** 0.5
    return {"seeds": list(range(len(mious))), "mean": {"mIoU": mean}, "std": {"mIoU": std}}


def test_the_two_sigma_column_uses_the_larger_std_of_the_two():
    ours = _scores([0.30, 0.31, 0.32])  # 31.00 ± 0.82
    assert results_table.compare(_scores([0.28, 0.28, 0.28]), ours) == (pytest.approx(-3.0), "yes, lower")
    assert results_table.compare(_scores([0.30, 0.30, 0.30]), ours) == (pytest.approx(-1.0), "no")
    assert results_table.compare(_scores([0.33, 0.34, 0.35]), ours) == (pytest.approx(3.0), "yes, higher")
    assert results_table.compare(_scores([0.20, 0.30, 0.40]), ours)[1] == "no"  # the row's own spread decides
    assert results_table.compare(_scores([0.20]), ours)[1] == "one seed"
    assert results_table.compare(ours, ours) == (None, "")


def test_the_training_seed_spread_of_ours_is_the_std_of_its_rows_means_once_two_are_measured():
    records = [{"row": "ours", "miou_mean": 31.0}, {"row": "wo_reg", "miou_mean": 20.0},
               {"row": "ours_seed1", "miou_mean": 33.0}, {"row": "ours_seed2", "miou_mean": None}]
    sentence = results_table.training_spread(records)
    assert "training seeds 0, 1 " in sentence and "31.00, 33.00, that is 32.00 ± 1.00" in sentence
    assert results_table.training_spread(records[:3:2] + records[1:2]) is not None
    assert results_table.training_spread(records[:2]) is None  # Ours alone: no spread yet


@pytest.fixture(scope="module")
def boxes_data(tmp_path_factory) -> Path:
    """An MSRS-boxes-layout folder (classes.txt; train/ and val/ with ir/, vi/, boxes/) of 96x128 views of the two
    bundled MSRS pairs: two train pairs, two val pairs, with hand-placed YOLO boxes (person, car)."""
    root = tmp_path_factory.mktemp("boxes")
    samples = REPO / "src" / "semfuse" / "samples"
    (root / "classes.txt").write_text("0 person\n1 bicycle\n2 car\n")
    for split, flip in (("train", False), ("val", True)):
        for sample in ("msrs_00004N.png", "msrs_00055D.png"):
            stem = f"{split}_{sample.removeprefix('msrs_').removesuffix('.png')}"
            for modality in ("ir", "vi"):
                image = Image.open(samples / modality / sample).resize((128, 96))
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else image
                (root / split / modality).mkdir(parents=True, exist_ok=True)
                image.save(root / split / modality / f"{stem}.png")
            (root / split / "boxes").mkdir(parents=True, exist_ok=True)
            (root / split / "boxes" / f"{stem}.txt").write_text("0 0.30 0.55 0.10 0.40\n2 0.70 0.60 0.30 0.25\n")
    return root


@pytest.fixture(scope="module")
def smoke(boxes_data, tmp_path_factory):
    """Two rows (the full method and w/o L_reg) with two-iteration schedules and one seed."""
    out, results = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("results")
    argv = ["--rows", "ours", "wo_reg", "--quick", "--seeds", "0", "--threads", "1", "--out", str(out),
            "--results", str(results), "--half", str(boxes_data), "--data", str(boxes_data)]
    assert run.main(argv) == 0
    return argv, out, results


def test_the_smoke_run_writes_the_table_metrics_figure_logs_and_compute(smoke):
    _, out, results = smoke
    table = (results / "table.md").read_text()
    lines = {line.split(" | ")[1]: line for line in table.splitlines() if line.startswith("| ")}
    for label in ("Ours (Ave-ST)", "w/o L_reg"):
        assert "±" in lines[label] and "not run yet" not in lines[label]
    assert "not run yet" in lines["Max-ST"] and "53.70" in lines["Max-ST"]  # the paper's figure beside a missing row
    assert "one seed" in lines["w/o L_reg"]
    with open(results / "table.csv", newline="") as source:
        rows = {row["row"]: row for row in csv.DictReader(source)}
    assert rows.keys() == results_table.ROWS.keys()
    assert rows["ours"]["seeds"] == "1" and rows["max_st"]["seeds"] == "0"
    assert float(rows["wo_reg"]["delta_miou"]) == pytest.approx(
        float(rows["wo_reg"]["miou_mean"]) - float(rows["ours"]["miou_mean"]), abs=0.011)
    with open(results / "fusion_metrics.csv", newline="") as source:
        quality = list(csv.DictReader(source))
    assert [row["row"] for row in quality] == ["ours", "wo_reg"] and all(row["n"] == "2" for row in quality)
    assert all(float(row["SF"]) > 0 for row in quality)
    with Image.open(results / "fig7.png") as figure:  # infrared, visible and the two rows: one row of 4 tiles
        assert figure.size == (4 * 320, 240 + 22)
    for file in ("train_config.yaml", "train_log.jsonl", "segmenter_warmup_log.jsonl", "segeval_seed0_scores.json",
                 "segeval_seed0_log.jsonl", "metrics_summary.csv", "fig7_tile.png"):
        assert (results / "rows" / "wo_reg" / file).is_file(), file
    assert json.loads((results / "rows" / "wo_reg" / "train_log.jsonl").read_text().splitlines()[-1])["iteration"] == 2
    assert "use_reg: false" in (results / "rows" / "wo_reg" / "train_config.yaml").read_text()
    compute = json.loads((results / "compute.json").read_text())
    assert set(compute) == {"ours", "wo_reg"} and compute["ours"]["train"] > 0


def test_a_second_run_redoes_nothing_and_a_removed_result_is_redone_alone(smoke, monkeypatch):
    argv, out, results = smoke
    calls = []
    monkeypatch.setattr(run, "semfuse", lambda *args, **kwargs: calls.append(args))
    assert run.main(argv) == 0
    assert calls == []
    removed = [out / "segeval" / "wo_reg" / "seed0" / "scores.json",
               results / "rows" / "wo_reg" / "segeval_seed0_scores.json"]
    kept = [path.read_bytes() for path in removed]
    for path in removed:
        path.unlink()
    try:
        assert run.main(argv) == 0
        assert [args[0] for args in calls] == ["segeval"] and f"wo_reg={out / 'fused' / 'wo_reg'}" in calls[0]
    finally:
        for path, content in zip(removed, kept):
            path.write_bytes(content)
        assert run.main([*argv, "--table-only"]) == 0  # the table as it was, for the tests after this one


def test_rows_committed_in_results_are_not_redone_on_a_fresh_machine(smoke, monkeypatch, tmp_path):
    argv, _, results = smoke
    calls = []
    monkeypatch.setattr(run, "semfuse", lambda *args, **kwargs: calls.append(args))
    kept = {file: (results / file).read_text() for file in ("table.md", "compute.md", "compute.json", "summary.md")}
    assert json.loads(kept["compute.json"])["wo_reg"]["protocol"] > 0  # the smoke run's own wall times
    for folder in ("empty", "table_only"):
        fresh = [*argv[:argv.index("--out") + 1], str(tmp_path / folder), *argv[argv.index("--out") + 2:]]
        assert run.main(fresh if folder == "empty" else [*fresh, "--table-only"]) == 0
        assert calls == [] and {file: (results / file).read_text() for file in kept} == kept, folder
    assert (tmp_path / "empty" / "segeval" / "wo_reg" / "seed0" / "scores.json").is_file()


def test_a_failed_row_is_reported_and_the_others_still_run(smoke, monkeypatch):
    argv, out, _ = smoke

    def fail_on_max_st(*args, **kwargs):
        raise SystemExit("train failed with exit 2")

    monkeypatch.setattr(run, "semfuse", fail_on_max_st)
    assert run.main([*argv[:1], "max_st", "ours", *argv[3:]]) == 1


def test_missing_data_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run.main(["--half", str(tmp_path), "--data", str(tmp_path)])
    assert stopped.value.code == 2
    assert "does not hold the half-resolution data" in capsys.readouterr().err


def test_the_committed_table_is_what_the_committed_per_seed_scores_give(tmp_path):
    """results/table.md and table.csv re-derived from the per-seed scores kept in results/rows/ (no figure typed by
    hand), and the README shows every measured row's mIoU as the table does."""
    results = DRIVER / "results"
    for scores in (results / "rows").glob("*/segeval_seed*_scores.json"):
        seed = scores.name.removeprefix("segeval_").removesuffix("_scores.json")
        target = tmp_path / "segeval" / scores.parent.name / seed / "scores.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(scores.read_bytes())
    records = results_table.table_rows(tmp_path)
    assert (results / "table.md").read_text() == results_table.to_markdown(records, [0, 1, 2])
    readme = (REPO / "README.md").read_text()
    measured = [record for record in records if record["seeds"]]
    assert measured, "no row of the proxy Table II is measured"
    for record in measured:
        assert record["text"]["miou"] in readme, f"the README lacks {record['label']}'s mIoU {record['text']['miou']}"


def test_training_minutes_come_from_the_median_logged_speed_so_a_pause_does_not_count(tmp_path):
    (tmp_path / "config.yaml").write_text("semantic:\n  batch_size: 8\n")
    speeds = [10.0, 0.5, 10.0]  # the second interval spent most of its time paused
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"iteration": 25 * (i + 1), "crops_per_s": speed}) + "\n"
                                                for i, speed in enumerate(speeds)))
    config, log = tmp_path / "config.yaml", tmp_path / "log.jsonl"
    assert results_table.logged_minutes(config, log, ("semantic",)) == pytest.approx(75 * 8 / 10 / 60)
    assert results_table.logged_minutes(config, tmp_path / "missing.jsonl", ("semantic",)) == 0.0
