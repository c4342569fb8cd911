"""Every shipped config loads; default.yaml states the true defaults; every ablation config starts and trains."""

import dataclasses
import re
from pathlib import Path

import pytest

from semfuse.config import Source, TrainConfig, load_config
from semfuse.engine import trainer
from semfuse.errors import SemfuseError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ABLATIONS = sorted((CONFIGS / "ablations").glob("*.yaml"))
TINY = ["model.widths=[8,16,16,24]", "model.heads=[2,4,4,8]", "model.stem_channels=8", "warm_start.iters=2",
        "warm_start.batch_size=1", "semantic.iters=2", "semantic.batch_size=2", "data.crop=[48,48]",
        "semantic.val_mode=whole", "device=cpu", "data.photometric=false"]


def test_default_yaml_states_the_dataclass_defaults():
    assert dataclasses.asdict(load_config(CONFIGS / "default.yaml")) == dataclasses.asdict(TrainConfig())


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path):
    load_config(path)


def test_ablation_configs_each_change_one_thing():
    base = dataclasses.asdict(load_config(CONFIGS / "msrs.yaml"))
    for path in ABLATIONS:
        changed = {(section, key) for section, values in dataclasses.asdict(load_config(path)).items()
                   if isinstance(values, dict) for key in values if values[key] != base[section][key]}
        assert len(changed) == 1, (path.name, changed)


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_every_ablation_config_starts_and_trains(path, tmp_path, labelled_msrs):
    config = load_config(path, TINY + [f"run_dir={tmp_path / path.stem}"])
    config.data.sources = [Source(root=str(labelled_msrs), split="train")]
    config.data.val_sources = [Source(root=str(labelled_msrs), split="test")]
    weights = trainer.fit(config, progress=False)
    assert weights.is_file()


def test_bad_configs_fail_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("semantic: {correlation: median}\nphase: all\n")
    with pytest.raises(SemfuseError, match="semantic.correlation"):
        load_config(bad).validate()
    bad.write_text("base: bad.yaml\n")
    with pytest.raises(SemfuseError, match="names itself"):
        load_config(bad)
    bad.write_text("model: [1, 2\n")
    with pytest.raises(SemfuseError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(SemfuseError, match="excluded_classes"):
        load_config(None, ["phase=all", "semantic.num_classes=9", "semantic.excluded_classes=[12]"]).validate()


@pytest.mark.parametrize("override,message", [
    ("warm_start.amp=maybe", "warm_start.amp must be true or false, got 'maybe'"),
    ("channels_last=1", "channels_last must be true or false (or null), got 1"),
    ("seed=1.5", "seed must be a whole number, got 1.5"),
    ("semantic.iters=true", "semantic.iters must be a whole number, got True"),
])
def test_bool_and_int_keys_refuse_other_types(override, message):
    with pytest.raises(SemfuseError, match=re.escape(message)):
        load_config(None, [override])


def test_bool_and_int_keys_take_their_types():
    config = load_config(None, ["warm_start.amp=false", "channels_last=null", "seed=3", "data.hflip=true"])
    assert (config.warm_start.amp, config.channels_last, config.seed, config.data.hflip) == (False, None, 3, True)
