"""Warm-start training on real crops: the loss falls, runs are reproducible, a resumed run continues exactly."""

import json

import pytest
import torch

from semfuse.config import Source, load_config
from semfuse.data.colour import luminance
from semfuse.data.datasets import PairedDataset, collect_pairs
from semfuse.engine import loop, trainer
from semfuse.engine.schedule import poly_with_warmup
from semfuse.errors import SemfuseError
from semfuse.losses.warm_start import warm_start_loss
from semfuse.models.fusion_net import build_fusion_net
from semfuse.models.weights import load_fusion_net, save_network

TINY_MODEL = ["model.widths=[8,16,16,24]", "model.heads=[2,4,4,8]", "model.stem_channels=8"]


def _config(tmp_path, bundled_data, iters, name="run", extra=()):
    overrides = TINY_MODEL + [
        f"warm_start.iters={iters}", "warm_start.batch_size=2", "warm_start.optim.lr=0.003",
        "warm_start.optim.warmup_iters=3", "data.crop=[48,48]", "data.scale=[0.5,1.0]",
        f"run_dir={tmp_path / name}", "log_every=1", "checkpoint_every=5", "device=cpu", *extra,
    ]
    config = load_config(None, overrides)
    config.data.sources = [Source(root=str(bundled_data / "roadscene"))]
    return config


def _fixed_crop_loss(weights, bundled_data, rule="avg"):
    """Warm-start loss of a network on fixed 96x96 crops of the two bundled RoadScene pairs (the training set)."""
    net = load_fusion_net(weights)
    pairs = collect_pairs([Source(root=str(bundled_data / "roadscene"))]).pairs
    batch = [PairedDataset(pairs)[i] for i in (0, 1)]
    ir = torch.stack([b["ir"][:, 100:196, 100:196] for b in batch])
    vis_y = luminance(torch.stack([b["vis"][:, 100:196, 100:196] for b in batch]))
    with torch.no_grad():
        return float(warm_start_loss(net(ir, vis_y), ir, vis_y, rule))


def test_warm_start_lowers_the_loss_on_real_crops(tmp_path, bundled_data):
    config = _config(tmp_path, bundled_data, iters=40)
    torch.manual_seed(config.seed)  # the initialisation fit() starts from
    untrained = build_fusion_net(config.model)
    before = _fixed_crop_loss(save_network(untrained, tmp_path / "init.safetensors"), bundled_data)
    weights = trainer.fit(config, progress=False)
    after = _fixed_crop_loss(weights, bundled_data)
    assert after < 0.5 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == list(range(1, 41))
    assert {"loss", "lr", "crops_per_s"} <= set(log[0])
    assert (tmp_path / "run/config.yaml").read_text().startswith("# resolved semfuse config")


def test_max_rule_trains_towards_the_maximum(tmp_path, bundled_data):
    config = _config(tmp_path, bundled_data, iters=30, extra=["warm_start.rule=max"])
    weights = trainer.fit(config, progress=False)
    assert _fixed_crop_loss(weights, bundled_data, "max") < _fixed_crop_loss(weights, bundled_data, "avg")


def test_resume_after_a_kill_continues_the_exact_trajectory(tmp_path, bundled_data, monkeypatch):
    straight = trainer.fit(_config(tmp_path, bundled_data, iters=10, name="straight"), progress=False)

    calls = {"n": 0}
    original = loop.train_one_iteration

    def killed_at_eight(*args):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return original(*args)

    config = _config(tmp_path, bundled_data, iters=10, name="killed")
    monkeypatch.setattr(loop, "train_one_iteration", killed_at_eight)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(config, progress=False)
    monkeypatch.setattr(loop, "train_one_iteration", original)
    with pytest.raises(SemfuseError, match="--resume"):
        trainer.fit(config, progress=False)
    resumed = trainer.fit(config, resume=True, progress=False)

    a, b = load_fusion_net(straight).state_dict(), load_fusion_net(resumed).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
    losses = lambda run: {r["iteration"]: r["loss"] for r in map(json.loads, (tmp_path / run / "log.jsonl").open())}
    assert all(abs(losses("straight")[i] - losses("killed")[i]) < 1e-6 for i in range(1, 11))


def test_schedule_warms_up_then_decays():
    values = [poly_with_warmup(i, 100, 10) for i in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(0.91)
    assert values[10] == pytest.approx(0.9) and values[99] == pytest.approx(0.01)
    assert all(b <= a for a, b in zip(values[10:], values[11:]))


@pytest.mark.parametrize("amx,amp,expected", [(True, True, torch.bfloat16), (False, True, torch.float32),
                                              (True, False, torch.float32)])
def test_bf16_autocast_on_cpus_with_amx_where_amp_asks(tmp_path, bundled_data, monkeypatch, amx, amp, expected):
    """``warm_start.amp`` (default true) trains under bfloat16 autocast on a CPU with AMX, float32 elsewhere."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    dtypes = []
    forward = trainer.WarmStartPhase.forward

    def spy(self, batch):
        losses = forward(self, batch)
        dtypes.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32)
        return losses

    monkeypatch.setattr(trainer.WarmStartPhase, "forward", spy)
    trainer.fit(_config(tmp_path, bundled_data, iters=2, extra=[f"warm_start.amp={str(amp).lower()}"]), progress=False)
    assert dtypes == [expected, expected]


def test_native_bfloat16_needs_amx_on_the_cpu(monkeypatch):
    from semfuse.device import autocast_context, native_bfloat16

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not native_bfloat16(torch.device("cpu"))
    with autocast_context(torch.device("cpu"))():
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert native_bfloat16(torch.device("cpu")) and native_bfloat16(torch.device("cuda"))
    with autocast_context(torch.device("cpu"))():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with autocast_context(torch.device("cpu"), enabled=False)():
        assert not torch.is_autocast_enabled("cpu")
