"""The segmentation protocol end to end on a labelled MSRS-layout folder (labels constructed by the fixture)."""

import json
import shutil

from semfuse.cli import main

FAST = ["semantic.iters=3", "semantic.batch_size=2", "semantic.optim.warmup_iters=0", "semantic.val_mode=whole",
        "data.crop=[48,48]", "device=cpu", "log_every=1"]


def test_registered_methods_and_an_external_folder(tmp_path, labelled_msrs, capsys):
    out = tmp_path / "table1"
    assert main(["segeval", "--data", str(labelled_msrs), "--method", "average", "--method", "max", "--out", str(out),
                 "--no-progress", *FAST]) == 0
    table = (out / "table.md").read_text()
    assert "| average |" in table and "| max |" in table and "Car Stop IoU" in table and "mIoU" in table
    payload = json.loads((out / "scores.json").read_text())
    scores = payload["methods"]
    assert set(scores) == {"average", "max"} and payload["classes"][:3] == ["unlabelled", "car", "person"]
    assert 0 <= scores["average"]["mean"]["mIoU"] <= 1 and scores["average"]["test_images"] == 4
    assert scores["average"]["mean"]["IoU"]["bump"] is None  # absent from the constructed labels: no NaN in JSON
    csv = (out / "table.csv").read_text().splitlines()
    assert csv[0].startswith("method,seeds,train_images,test_images,mAcc,mAcc_std,mIoU") and len(csv) == 3
    assert (out / "runs/average/seed0/log.jsonl").exists() and (out / "fused/max").is_dir()
    assert len(list((out / "runs/average/seed0/predictions").glob("*.png"))) == 4
    assert "| average |" in capsys.readouterr().out

    # the fused folder of "another paper": any folder of images named like the pairs, here with one image missing
    external = tmp_path / "external"
    shutil.copytree(out / "fused/average", external)
    missing = sorted(external.iterdir())[0]
    missing.unlink()
    assert main(["segeval", "--data", str(labelled_msrs), "--fused", f"published={external}", "--out",
                 str(tmp_path / "t2"), "--no-progress", *FAST]) == 1
    assert f"no fused image for {missing.stem}" in capsys.readouterr().out
    # outputs are not replaced without --overwrite
    assert main(["segeval", "--data", str(labelled_msrs), "--fused", f"published={external}", "--out",
                 str(tmp_path / "t2"), "--no-progress", *FAST]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_seeds_give_mean_and_std_and_boxes_give_their_classes(tmp_path, labelled_msrs, capsys):
    out = tmp_path / "seeds"
    assert main(["segeval", "--data", str(labelled_msrs), "--method", "average", "--seeds", "0", "1", "--out",
                 str(out), "--no-progress", *FAST]) == 0
    payload = json.loads((out / "scores.json").read_text())
    entry = payload["methods"]["average"]
    assert payload["seeds"] == [0, 1] and set(entry["seeds"]) == {"0", "1"}
    runs = [entry["seeds"][seed]["mIoU"] for seed in ("0", "1")]
    assert abs(entry["mean"]["mIoU"] - sum(runs) / 2) < 1e-9
    assert abs(entry["std"]["mIoU"] - abs(runs[0] - runs[1]) / 2) < 1e-9
    assert " ± " in (out / "table.md").read_text()


def test_protocol_errors(tmp_path, labelled_msrs, bundled_data, capsys):
    assert main(["segeval", "--data", str(labelled_msrs), "--out", str(tmp_path / "o")]) == 2
    assert "give --fused NAME=DIR or --method NAME" in capsys.readouterr().err
    assert main(["segeval", "--data", str(bundled_data / "msrs_unlabeled"), "--method", "average",
                 "--out", str(tmp_path / "o")]) == 2
    assert "has no usable train split" in capsys.readouterr().err
    assert main(["segeval", "--data", str(labelled_msrs), "--method", "nonsense", "--out", str(tmp_path / "o")]) == 2
    assert "unknown fusion method" in capsys.readouterr().err
