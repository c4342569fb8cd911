"""The semantic phase on real crops with constructed labels: learning, exact resume, ablation switches, DDP."""

import json
import os
import subprocess
import sys

import pytest
import torch

from semfuse.config import Source, load_config
from semfuse.data.datasets import PairedDataset, collect_pairs
from semfuse.engine import loop, trainer
from semfuse.losses.correlation import correlation_regulariser
from semfuse.losses.semantic import semantic_loss
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.segmenter import Segmenter
from semfuse.models.weights import load_fusion_net, load_segmenter

TINY_MODEL = ["model.widths=[8,16,16,24]", "model.heads=[2,4,4,8]", "model.stem_channels=8"]


def _config(tmp_path, root, name, iters=8, extra=()):
    overrides = TINY_MODEL + [
        "phase=all", "warm_start.iters=4", "warm_start.batch_size=2", "warm_start.optim.warmup_iters=0",
        "warm_start.optim.lr=0.002", f"semantic.iters={iters}", "semantic.batch_size=2",
        "semantic.optim.lr=0.0005", "semantic.optim.warmup_iters=0", "semantic.val_every=0",
        "semantic.val_mode=whole", "data.crop=[64,64]", "data.scale=[0.75,1.25]", f"run_dir={tmp_path / name}",
        "log_every=1", "checkpoint_every=4", "device=cpu", *extra,
    ]
    config = load_config(None, overrides)
    config.data.sources = [Source(root=str(root), split="train")]
    config.data.val_sources = [Source(root=str(root), split="test")]
    return config


def _fixed_batch(root):
    pairs = PairedDataset(collect_pairs([Source(root=str(root), split="train")]).pairs)
    samples = [pairs[i] for i in (0, 5, 10, 15)]
    return {key: torch.stack([s[key][..., :64, :96] for s in samples]) for key in ("ir", "vis", "label")}


def _phase_loss(run_dir, config, batch):
    fusion_net = load_fusion_net(run_dir / "fusion_net.safetensors")
    segmenter = load_segmenter(run_dir / "segmenter.safetensors")
    phase = trainer.semantic_phase(fusion_net, segmenter.eval(), config.semantic)
    with torch.no_grad():
        return float(phase(batch)["loss"])


def test_semantic_phase_lowers_the_loss_and_validates(tmp_path, labelled_msrs):
    short = _config(tmp_path, labelled_msrs, "short", iters=1)
    trainer.fit(short, progress=False)
    config = _config(tmp_path, labelled_msrs, "long", iters=30)
    trainer.fit(config, progress=False)
    batch = _fixed_batch(labelled_msrs)
    before, after = _phase_loss(tmp_path / "short/semantic", short, batch), _phase_loss(tmp_path / "long/semantic", config, batch)
    assert after < 0.8 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "long/semantic/log.jsonl").open()]
    assert {"sem", "reg", "loss", "lr", "crops_per_s"} <= set(log[0])
    scores = log[-1]["val"]
    assert 0 <= scores["mIoU"] <= 1 and set(scores["IoU"]) >= {"unlabelled", "car", "person"}
    produced = {p.name for p in (tmp_path / "long/semantic").iterdir()}
    assert {"best.pt", "last.pt", "fusion_net.safetensors", "fusion_net_best.safetensors",
            "segmenter.safetensors", "config.yaml"} <= produced


def test_semantic_resume_after_a_kill_continues_exactly(tmp_path, labelled_msrs, monkeypatch):
    trainer.fit(_config(tmp_path, labelled_msrs, "straight"), progress=False)
    calls = {"n": 0}
    original = loop.train_one_iteration

    def killed_in_semantic(*args):
        calls["n"] += 1
        if calls["n"] == 4 + 6:  # 4 warm-start iterations, then 5 semantic ones, killed at the 6th
            raise KeyboardInterrupt
        return original(*args)

    config = _config(tmp_path, labelled_msrs, "killed")
    monkeypatch.setattr(loop, "train_one_iteration", killed_in_semantic)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(config, progress=False)
    monkeypatch.setattr(loop, "train_one_iteration", original)
    trainer.fit(config, resume=True, progress=False)
    for name in ("fusion_net", "segmenter"):
        a, b = (torch.load(tmp_path / run / "semantic/last.pt", weights_only=True)[name] for run in ("straight", "killed"))
        assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6, rtol=0) for k in a), name
    losses = lambda run: {r["iteration"]: r["loss"] for r in map(json.loads, (tmp_path / run / "semantic/log.jsonl").open()) if "loss" in r}
    assert all(abs(losses("straight")[i] - losses("killed")[i]) < 1e-6 for i in range(1, 9))


def _gradients(phase, batch):
    phase.zero_grad()
    phase(batch)["loss"].backward()
    return {name: p.grad.clone() for name, p in phase.fusion_net.named_parameters()}


def test_each_switch_changes_exactly_what_it_names(labelled_msrs):
    config = load_config(None, TINY_MODEL)
    batch = _fixed_batch(labelled_msrs)
    torch.manual_seed(0)
    fusion_net = build_fusion_net(FusionNetConfig(**{k: v for k, v in vars(config.model).items()}))
    segmenter = Segmenter(9).eval()

    def phase(**changes):
        semantic = load_config(None, [f"semantic.{k}={v}" for k, v in changes.items()]).semantic
        return trainer.semantic_phase(fusion_net, segmenter if semantic.use_sem else None, semantic)

    # --no-reg: the gradient is that of L_sem alone
    no_reg = _gradients(phase(use_reg="false"), batch)
    fusion_net.zero_grad()
    fused_y, _, fused_rgb = phase().fuse(batch)
    semantic_loss(segmenter(fused_rgb), batch["label"]).backward()
    assert all(torch.allclose(no_reg[n], p.grad, atol=1e-7) for n, p in fusion_net.named_parameters())
    # --no-sem: no segmenter, the loss is lambda * L_reg
    only_reg = phase(use_sem="false")
    assert only_reg.segmenter is None
    out = only_reg(batch)
    vis_y = phase().fuse(batch)[1]
    expected = 1e-3 * correlation_regulariser(fusion_net(batch["ir"], vis_y), batch["ir"], vis_y)
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6) and "sem" not in out
    # lambda scales L_reg only
    full, heavy = phase()(batch), phase(reg_weight=1.0)(batch)
    assert float((heavy["loss"] - full["loss"]).detach()) == pytest.approx(float((1.0 - 1e-3) * full["reg"]), rel=1e-4)
    # excluded classes: the loss equals L_sem with those pixels ignored
    without_person = phase(excluded_classes="[2]", use_reg="false")(batch)
    ignored = batch["label"].masked_fill(batch["label"] == 2, 255)
    with torch.no_grad():
        manual = semantic_loss(segmenter(phase().fuse(batch)[2]), ignored)
    assert float(without_person["loss"].detach()) == pytest.approx(float(manual), rel=1e-6)
    with pytest.raises(ValueError, match="both"):
        phase(use_sem="false", use_reg="false")


def test_without_warm_start_the_semantic_phase_starts_from_scratch(tmp_path, labelled_msrs):
    config = _config(tmp_path, labelled_msrs, "no_ws", iters=2, extra=["warm_start.rule=none"])
    trainer.fit(config, progress=False)
    assert not (tmp_path / "no_ws/warm-start").exists()
    assert (tmp_path / "no_ws/semantic/fusion_net.safetensors").exists()


# Runs the semfuse CLI with plain SGD in place of AdamW. AdamW's first step is about lr * sign(gradient), so a
# gradient near zero whose sign differs by float noise between one and two processes moves a weight by 2 * lr; SGD
# moves every weight by exactly lr * gradient, so the final weights compare the DDP-averaged gradients themselves.
_SGD_CLI = """
import sys
import torch
from semfuse.cli import main


class PlainSGD(torch.optim.SGD):
    def __init__(self, params, lr, weight_decay=0.0, **unused):
        super().__init__(params, lr=lr, weight_decay=weight_decay)


torch.optim.AdamW = PlainSGD
sys.exit(main(sys.argv[1:]))
"""


def _torchrun_with_sgd(tmp_path, labelled_msrs, name, processes):
    script = tmp_path / "semfuse_with_sgd.py"
    script.write_text(_SGD_CLI)
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            str(script), "train", "--phase", "semantic", "--data", str(labelled_msrs), "--split", "train",
            "--run-dir", str(tmp_path / name), "--device", "cpu", "--no-sem", "--no-progress",
            "semantic.init_fusion=scratch", "semantic.iters=1", "semantic.batch_size=4", "semantic.optim.lr=0.001",
            "semantic.optim.warmup_iters=0", "data.crop=[48,48]", "checkpoint_every=100",
            "semantic.amp=false", *TINY_MODEL]  # float32: bf16 rounding would hide a wrong gradient average
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{processes} process(es)" in result.stderr
    return load_fusion_net(tmp_path / name / "fusion_net.safetensors").state_dict()


def test_ddp_two_processes_match_one_process_on_the_same_global_batch(tmp_path, labelled_msrs):
    # One SGD step from the same initial weights: update = -lr * (gradient + weight_decay * initial), so the two
    # runs' updates differ by lr times the difference of their (DDP-averaged) gradients and nothing else.
    one = _torchrun_with_sgd(tmp_path, labelled_msrs, "one", 1)
    two = _torchrun_with_sgd(tmp_path, labelled_msrs, "two", 2)
    torch.manual_seed(0)
    initial = build_fusion_net(FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)).state_dict()
    update_one = {k: one[k] - initial[k] for k in one}
    update_two = {k: two[k] - initial[k] for k in one}
    scale = max(float(update.abs().max()) for update in update_one.values())
    assert scale > 1e-3  # the step moved the weights
    # tolerance: float rounding of the gradient sums (about 1e-5 of the largest update here; the biases of layers
    # the correlation loss is blind to get gradients that are pure rounding); halving the gradients, or a wrong
    # share of the batch per process, gives differences of the order of the updates themselves
    for k in one:
        assert torch.allclose(update_two[k], update_one[k], rtol=1e-3, atol=1e-4 * scale), k
