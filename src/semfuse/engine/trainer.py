"""The training loop: a few named functions and one checkpoint dict.

Phase logic lives in :class:`WarmStartPhase` (the loss of one batch); :func:`fit` runs any phase for a number of
iterations with AdamW, the poly schedule, a progress bar, a JSONL log, periodic checkpoints and exact resume.
"""

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from semfuse.config import TrainConfig, save_config
from semfuse.data.colour import luminance
from semfuse.data.datasets import IterationBatchSampler, PairedDataset, RandomCropDataset, collect_pairs
from semfuse.engine.checkpoint import load_checkpoint, save_checkpoint
from semfuse.engine.schedule import poly_with_warmup
from semfuse.errors import SemfuseError
from semfuse.losses.warm_start import warm_start_loss
from semfuse.models.fusion_net import build_fusion_net
from semfuse.models.weights import save_fusion_net

logger = logging.getLogger("semfuse.train")

PHASES = ("warm-start",)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SemfuseError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
    return torch.device(name)


class WarmStartPhase(nn.Module):
    """Phase 1 of the paper: the fusion network alone, ``L_WS = |N_F(ir, vis_Y) - rule(ir, vis_Y)|``."""

    def __init__(self, fusion_net: nn.Module, rule: str):
        super().__init__()
        self.fusion_net, self.rule = fusion_net, rule

    def forward(self, batch: dict) -> dict[str, Tensor]:
        ir, vis_y = batch["ir"], luminance(batch["vis"])
        fused = self.fusion_net(ir, vis_y)
        loss = warm_start_loss(fused, ir, vis_y, self.rule)
        return {"loss": loss, "l1": loss.detach()}


def _to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device, non_blocking=True) if isinstance(value, Tensor) else value for key, value in batch.items()}


def train_one_iteration(phase: nn.Module, optimizer: torch.optim.Optimizer, batch: dict) -> dict[str, float]:
    """One optimisation step; returns the phase's losses as floats."""
    optimizer.zero_grad(set_to_none=True)
    losses = phase(batch)
    losses["loss"].backward()
    optimizer.step()
    return {name: float(value.detach()) for name, value in losses.items()}


def build_warm_start(config: TrainConfig, device: torch.device):
    """The fusion network, its warm-start phase module and the optimizer for ``config``."""
    torch.manual_seed(config.seed)
    fusion_net = build_fusion_net(config.model).to(device)
    phase = WarmStartPhase(fusion_net, config.warm_start.rule)
    optim = config.warm_start.optim
    optimizer = torch.optim.AdamW(fusion_net.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    return fusion_net, phase, optimizer


def fit(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run the warm-start phase described by ``config``; returns the path of the exported fusion weights.

    Writes into ``config.run_dir``: ``config.yaml`` (resolved), ``log.jsonl``, ``last.pt`` (every
    ``checkpoint_every`` iterations and at the end) and ``fusion_net.safetensors`` (final weights).
    """
    if config.phase not in PHASES:
        raise SemfuseError(f"unknown phase {config.phase!r}; this version trains: {', '.join(PHASES)}")
    device = resolve_device(config.device)
    run_dir = Path(config.run_dir)
    stage = config.warm_start
    listing = collect_pairs(config.data.sources)
    for message in listing.unpaired:
        logger.warning("unpaired, skipped: %s", message)
    crops = RandomCropDataset(PairedDataset(listing.pairs), config.data.crop, config.data.scale, config.data.hflip)
    fusion_net, phase, optimizer = build_warm_start(config, device)

    start = 0
    if resume:
        state = load_checkpoint(run_dir / "last.pt")
        fusion_net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["iteration"])
        logger.info("resumed %s at iteration %d", run_dir, start)
    elif (run_dir / "last.pt").exists():
        raise SemfuseError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --run-dir")
    save_config(config, run_dir)
    logger.info("training %s on %d pairs, %d iterations, device %s", config.phase, len(crops), stage.iters, device)

    sampler = IterationBatchSampler(len(crops), stage.batch_size, stage.iters, config.seed, start)
    loader = DataLoader(crops, batch_sampler=sampler, num_workers=config.data.workers)

    def checkpoint(iteration: int) -> None:
        state = {"model": fusion_net.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration,
                 "config": asdict(config)}
        save_checkpoint(state, run_dir / "last.pt")

    phase.train()
    log_path = run_dir / "log.jsonl"
    bar = tqdm(total=stage.iters, initial=start, disable=not progress, desc=config.phase, unit="it", dynamic_ncols=True)
    tick, seen = time.perf_counter(), 0
    with log_path.open("a") as log:
        for iteration, batch in enumerate(loader, start=start):
            scale = poly_with_warmup(iteration, stage.iters, stage.optim.warmup_iters, stage.optim.power)
            for group in optimizer.param_groups:
                group["lr"] = stage.optim.lr * scale
            losses = train_one_iteration(phase, optimizer, _to_device(batch, device))
            seen += stage.batch_size
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.4f}")
            done = iteration + 1
            if done % config.log_every == 0 or done == stage.iters:
                elapsed = time.perf_counter() - tick
                record = {"iteration": done, "lr": optimizer.param_groups[0]["lr"], **losses,
                          "crops_per_s": seen / elapsed if elapsed > 0 else None}
                log.write(json.dumps(record) + "\n")
                log.flush()
                tick, seen = time.perf_counter(), 0
            if done % config.checkpoint_every == 0 and done != stage.iters:
                checkpoint(done)
    bar.close()
    checkpoint(stage.iters)
    weights = save_fusion_net(fusion_net, config.model, run_dir / "fusion_net.safetensors",
                              info={"phase": config.phase, "iterations": stage.iters, "rule": stage.rule})
    logger.info("wrote %s", weights)
    return weights
