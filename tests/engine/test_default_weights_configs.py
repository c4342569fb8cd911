"""The committed configs behind the default-weights experiment load and train: a 2-iteration smoke run of each on
the bundled sample pairs (the MSRS samples with one person box each, written here as YOLO files)."""

import json
from pathlib import Path

import pytest
from PIL import Image

from semfuse.config import Source, load_config
from semfuse.engine import trainer
from semfuse.models.weights import read_metadata

CONFIGS = Path(__file__).parents[2] / "configs"
CANDIDATES = sorted(path.stem for path in (CONFIGS / "default_weights").glob("*.yaml")
                    if path.stem not in ("half_res", "segeval_half_res"))
SMOKE = ["semantic.iters=2", "semantic.segmenter_warmup.iters=1", "semantic.batch_size=2",
         "semantic.segmenter_warmup.batch_size=2", "semantic.optim.warmup_iters=0",
         "semantic.segmenter_warmup.optim.warmup_iters=0", "data.crop=[48,64]", "data.workers=0", "data.cache=false",
         "log_every=1", "device=cpu"]


@pytest.fixture(scope="module")
def sample_boxes(samples, tmp_path_factory):
    """The two bundled MSRS pairs in the box layout: train/{ir,vi,boxes}, classes.txt (person, bicycle, car)."""
    root = tmp_path_factory.mktemp("sample_boxes")
    for folder in ("ir", "vi", "boxes"):
        (root / "train" / folder).mkdir(parents=True)
    for name in ("00004N", "00055D"):
        for folder in ("ir", "vi"):
            Image.open(samples / folder / f"msrs_{name}.png").save(root / "train" / folder / f"{name}.png")
        (root / "train" / "boxes" / f"{name}.txt").write_text("0 0.5 0.5 0.2 0.4\n")  # a person in the middle
    (root / "classes.txt").write_text("person\nbicycle\ncar\n")
    return root


def test_every_candidate_is_listed_in_the_experiment():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("decide", CONFIGS.parent / "experiments" / "default_weights" / "decide.py")
    decide = module_from_spec(spec)
    spec.loader.exec_module(decide)
    assert sorted(decide.CANDIDATES) == CANDIDATES


@pytest.mark.parametrize("name", CANDIDATES)
def test_candidate_config_trains_two_iterations(name, sample_boxes, tmp_path):
    config = load_config(CONFIGS / "default_weights" / f"{name}.yaml", [*SMOKE, f"run_dir={tmp_path / name}"])
    assert config.semantic.init_fusion in ("warm-start", "warm-start-max")
    config.data.sources, config.data.val_sources = [Source(root=str(sample_boxes), split="train")], []
    weights = trainer.fit(config, progress=False)
    assert read_metadata(weights)
    records = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
    assert [record["iteration"] for record in records] == [1, 2]
    assert ("anchor" in records[0]) == (config.semantic.anchor_weight > 0)


def test_max_warm_start_config_trains_two_iterations(bundled_data, tmp_path):
    config = load_config(CONFIGS / "warm_start_max.yaml", ["warm_start.iters=2", "warm_start.optim.warmup_iters=0",
                                                           "data.cache=false", f"run_dir={tmp_path}", "device=cpu"])
    assert config.warm_start.rule == "max" and config.warm_start.iters == 2
    config.data.sources = [Source(root=str(bundled_data / "roadscene")),
                           Source(root=str(bundled_data / "msrs_unlabeled"), split="test")]
    weights = trainer.fit(config, progress=False)
    assert read_metadata(weights)["rule"] == "max"
