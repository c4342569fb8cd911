"""The training loop of one phase: :func:`train_phase` and its named steps.

:func:`train_phase` runs a :class:`~semfuse.engine.phases.Phase` for its stage's iterations: AdamW over the phase's
parameter groups, linear warm-up + poly schedule, progress bar, JSONL log, periodic atomic checkpoints
(``last.pt``), exact resume, validation with ``best.pt``, bf16 autocast on CUDA and AMX CPUs, and DDP under
``torchrun``. Its steps (resume, distributed wrapping, the data loader, one iteration, the log line, validation,
checkpoints) are the named functions below. What one run shares across its phases (device, distributed context,
resume, progress, run folder) travels as one :class:`RunContext`. What each phase trains, and in which order, is
:mod:`semfuse.engine.trainer`'s.
"""
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, cast

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from semfuse.config import (
    OptimConfig,
    TrainConfig,
    save_config,
)
from semfuse.data.datasets import (
    IterationBatchSampler,
    RandomCropDataset,
)
from semfuse.device import autocast_context
from semfuse.engine.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from semfuse.engine.distributed import (
    DistributedContext,
    barrier,
)
from semfuse.engine.phases import (
    Phase,
    build_optimizer,
)
from semfuse.engine.schedule import poly_with_warmup
from semfuse.errors import SemfuseError

logger = logging.getLogger("semfuse.train")



@dataclass(frozen=True)
class RunContext:
    """What every phase of one run shares: where it writes, where it computes, and how it reports."""

    run_dir: Path
    device: torch.device
    distributed: DistributedContext = DistributedContext()
    resume: bool = False
    progress: bool = True

    def child(self, name: str) -> "RunContext":
        """The same run, writing into the sub-folder ``name``."""
        return replace(self, run_dir=self.run_dir / name)


class StageConfig(Protocol):
    """What :func:`train_phase` reads of a stage's config (WarmStartConfig, SemanticConfig, ...)."""

    iters: int
    batch_size: int
    optim: OptimConfig


def _to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device, non_blocking=True) if isinstance(value, Tensor) else value
            for key, value in batch.items()}


def train_one_iteration(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, autocast) -> dict[str, Tensor]:
    """One optimisation step; returns the phase's losses, detached, on the device (no synchronisation)."""
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        losses = model(batch)
    losses["loss"].backward()
    optimizer.step()
    return {name: value.detach() for name, value in losses.items()}


def _unwrap(model: nn.Module) -> Phase:
    return cast(Phase, model.module if isinstance(model, DistributedDataParallel) else model)


def _set_learning_rates(optimizer: torch.optim.Optimizer, optim: OptimConfig, iteration: int, total: int) -> None:
    scale = poly_with_warmup(iteration, total, optim.warmup_iters, optim.power)
    for group in optimizer.param_groups:
        group["lr"] = optim.lr * group["lr_mult"] * scale


@dataclass(frozen=True)
class Validation:
    """How a phase is validated: ``score() -> scores`` (with ``mIoU``) every ``every`` iterations (0: only at the
    end), on the main process; the best mIoU is kept in ``best.pt``."""

    score: Callable[[], dict]
    every: int = 0

    def due(self, done: int, total: int) -> bool:
        """Whether to validate after ``done`` of ``total`` iterations."""
        return bool(self.every and done % self.every == 0) or done == total


def _resume(phase: Phase, optimizer: torch.optim.Optimizer, run: RunContext, config: TrainConfig
            ) -> tuple[int, float | None]:
    """(first iteration, best mIoU so far): from ``last.pt`` with ``--resume``; a run folder in use is refused."""
    last = run.run_dir / "last.pt"
    if run.resume and last.exists():
        state = load_checkpoint(last)
        restore_checkpoint(state, {**phase.checkpoint_modules(), "optimizer": optimizer}, last, asdict(config))
        logger.info("resumed %s at iteration %d", run.run_dir, int(state["iteration"]))
        return int(state["iteration"]), state.get("best_miou")
    if last.exists():
        raise SemfuseError(f"{run.run_dir} already holds a run; pass --resume to continue it or choose another "
                           "--run-dir")
    return 0, None


def _distributed(phase: Phase, run: RunContext) -> nn.Module:
    """``phase`` itself, or wrapped in DistributedDataParallel (with synchronised batch norm on CUDA) under torchrun."""
    if not run.distributed.enabled:
        return phase
    if run.device.type == "cuda":
        phase = nn.SyncBatchNorm.convert_sync_batchnorm(phase)
    return DistributedDataParallel(phase, device_ids=[run.device.index] if run.device.type == "cuda" else None)


def _loader(crops: RandomCropDataset, stage: StageConfig, config: TrainConfig, run: RunContext, start: int
            ) -> DataLoader:
    """The batches of iterations ``start .. stage.iters - 1``, this process's share of each global batch."""
    context = run.distributed
    sampler = IterationBatchSampler(len(crops), stage.batch_size, stage.iters, config.seed, start, context.rank,
                                    context.world_size)
    return DataLoader(crops, batch_sampler=sampler, num_workers=config.data.workers,
                      pin_memory=run.device.type == "cuda", persistent_workers=config.data.workers > 0)


@dataclass
class _LossLog:
    """Loss sums since the last log line; read back from the device only when a line is due."""

    name: str
    batch_size: int
    every: int
    total: int
    running: dict = field(default_factory=dict)
    steps: int = 0
    seen: int = 0
    tick: float = field(default_factory=time.perf_counter)

    def add(self, losses: dict[str, Tensor]) -> None:
        """Count one iteration's losses."""
        self.running = {key: self.running.get(key, 0) + value for key, value in losses.items()}
        self.seen, self.steps = self.seen + self.batch_size, self.steps + 1

    def record(self, done: int, lr: float) -> dict | None:
        """The log line due after ``done`` iterations (mean losses, learning rate, crops/s), or None.

        Raises:
            SemfuseError: if the mean loss is not finite.
        """
        if done % self.every != 0 and done != self.total:
            return None
        means = {key: float(value) / self.steps for key, value in self.running.items()}  # one device sync
        if not math.isfinite(means["loss"]):
            raise SemfuseError(f"the loss became {means['loss']} before iteration {done}; lower the learning rate or "
                               "check the data")
        elapsed = time.perf_counter() - self.tick
        record = {"phase": self.name, "iteration": done, "lr": lr, **means,
                  "crops_per_s": self.seen / elapsed if elapsed > 0 else None}
        self.tick, self.seen, self.running, self.steps = time.perf_counter(), 0, {}, 0
        return record


class _PhaseLoop:
    """One phase's training state: the (wrapped) model, its optimiser, the best mIoU so far, and its files."""

    def __init__(self, phase: Phase, stage: StageConfig, run: RunContext, config: TrainConfig):
        self.stage, self.run, self.config = stage, run, config
        self.optimizer = build_optimizer(phase, stage.optim.lr, stage.optim.weight_decay)
        self.start, self.best = _resume(phase, self.optimizer, run, config)
        if run.distributed.is_main:
            save_config(config, run.run_dir)
        self.model = _distributed(phase, run)

    def state(self, iteration: int) -> dict:
        """The checkpoint dict after ``iteration`` iterations."""
        modules = {key: module.state_dict() for key, module in _unwrap(self.model).checkpoint_modules().items()}
        return {**modules, "optimizer": self.optimizer.state_dict(), "iteration": iteration, "best_miou": self.best,
                "config": asdict(self.config)}

    def step(self, iteration: int, batch: dict, autocast: Callable) -> dict[str, Tensor]:
        """Iteration ``iteration``: seed, schedule the learning rates, one optimisation step; returns the losses."""
        torch.manual_seed(self.config.seed * 1_000_003 + iteration * 1_009 + self.run.distributed.rank)  # dropout
        _set_learning_rates(self.optimizer, self.stage.optim, iteration, self.stage.iters)
        return train_one_iteration(self.model, self.optimizer, _to_device(batch, self.run.device), autocast)

    def validate(self, validation: Validation, name: str, done: int, bar: tqdm) -> dict | None:
        """Score on the main process, keep ``best.pt`` for the best mIoU; returns the scores there (else None)."""
        scores = None
        if self.run.distributed.is_main:
            scores = validation.score()
            bar.write(f"{name} iteration {done}: mIoU {scores['mIoU']:.4f}")
            if self.best is None or scores["mIoU"] > self.best:
                self.best = scores["mIoU"]
                save_checkpoint(self.state(done), self.run.run_dir / "best.pt")
        barrier(self.run.distributed)
        return scores

    def checkpoint(self, done: int) -> None:
        """Write ``last.pt`` every ``config.checkpoint_every`` iterations (the final one is written by the caller)."""
        if self.run.distributed.is_main and done % self.config.checkpoint_every == 0 and done != self.stage.iters:
            save_checkpoint(self.state(done), self.run.run_dir / "last.pt")

    def finish(self) -> dict:
        """Write and return the final checkpoint."""
        final = self.state(self.stage.iters)
        if self.run.distributed.is_main:
            save_checkpoint(final, self.run.run_dir / "last.pt")
        barrier(self.run.distributed)
        return final


def _progress_bar(name: str, stage: StageConfig, run: RunContext, start: int) -> tqdm:
    return tqdm(total=stage.iters, initial=start, desc=name, unit="it", dynamic_ncols=True,
                disable=not run.progress or not run.distributed.is_main,
                mininterval=0.1 if sys.stderr.isatty() else 30)  # a redirected log gets a line every 30 s, not per step


def train_phase(phase: Phase, name: str, stage: StageConfig, crops: RandomCropDataset, run: RunContext,
                config: TrainConfig, validation: Validation | None = None, amp: bool = False) -> dict:
    """Train ``phase`` (a module with ``parameter_groups`` and ``checkpoint_modules``) for ``stage.iters``
    iterations of ``stage.batch_size`` crops with ``stage.optim``; returns the final checkpoint dict.

    ``validation`` (main process only) scores the phase as it says and keeps the best mIoU in ``best.pt``; ``amp``
    asks for bf16 autocast. Losses are read back from the device only every ``config.log_every`` iterations.
    """
    loop = _PhaseLoop(phase, stage, run, config)
    logger.info("%s: %d pairs, %d iterations, global batch %d, device %s, %d process(es)", name, len(crops),
                stage.iters, stage.batch_size, run.device, run.distributed.world_size)
    loader = _loader(crops, stage, config, run, loop.start)
    autocast = autocast_context(run.device, amp)  # bf16 on CUDA and on CPUs with AMX, where ``amp`` asks
    losses = _LossLog(name, stage.batch_size, config.log_every, stage.iters)
    loop.model.train()
    bar = _progress_bar(name, stage, run, loop.start)
    log = (run.run_dir / "log.jsonl").open("a") if run.distributed.is_main else None
    try:
        for iteration, batch in enumerate(loader, start=loop.start):
            losses.add(loop.step(iteration, batch, autocast))
            done = iteration + 1
            bar.update(1)
            record = losses.record(done, loop.optimizer.param_groups[0]["lr"])
            if record is not None:
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if validation is not None and validation.due(done, stage.iters):
                scores = loop.validate(validation, name, done, bar)
                if scores is not None:
                    record = {**(record or {"phase": name, "iteration": done}), "val": scores}
            if record is not None and log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            loop.checkpoint(done)
    finally:
        bar.close()
        if log:
            log.close()
    return loop.finish()
