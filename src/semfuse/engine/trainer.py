"""The training loop: a few named functions and one checkpoint dict per phase.

:func:`fit` runs ``warm-start``, ``semantic``, ``all`` (warm start, then semantic) or ``densefuse``.
:func:`train_phase` runs one phase for its stage's iterations: AdamW over the phase's parameter groups, linear
warm-up + poly schedule, progress bar, JSONL log, periodic atomic checkpoints (``last.pt``), exact resume, validation
with ``best.pt``, bf16 autocast on CUDA and AMX CPUs, and DDP under ``torchrun``; its steps (resume, distributed
wrapping, the data loader, one iteration, the log line, validation, checkpoints) are the named functions below.
What one run shares across its phases (device, distributed context, resume, progress, run folder) travels as one
:class:`RunContext`.
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
    SemanticConfig,
    TrainConfig,
    save_config,
)
from semfuse.data.datasets import (
    IterationBatchSampler,
    PairedDataset,
    RandomCropDataset,
    collect_pairs,
    label_pixel_counts,
)
from semfuse.device import autocast_context, resolve_device
from semfuse.engine.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from semfuse.engine.distributed import (
    DistributedContext,
    barrier,
    init_distributed,
    shutdown,
)
from semfuse.engine.phases import (
    Phase,
    ReconstructionPhase,
    SegmenterWarmupPhase,
    SemanticPhase,
    WarmStartPhase,
    build_optimizer,
)
from semfuse.engine.schedule import poly_with_warmup
from semfuse.engine.validation import validate_semantic_phase
from semfuse.errors import SemfuseError
from semfuse.losses.semantic import class_weights
from semfuse.models.fusion_net import FusionNet, build_fusion_net
from semfuse.models.segmenter import Segmenter, load_pretrained
from semfuse.models.weights import load_fusion_net, load_segmenter, resolve_weights, save_network

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


def _training_pairs(config: TrainConfig) -> PairedDataset:
    listing = collect_pairs(config.data.sources, config.data.labels, config.data.class_map)
    for message in listing.unpaired:
        logger.warning("unpaired, skipped: %s", message)
    return PairedDataset(listing.pairs, listing.classes, config.data.cache)


def _crops(pairs: PairedDataset, config: TrainConfig, photometric: bool) -> RandomCropDataset:
    (height, width), (low, high) = config.data.crop, config.data.scale
    return RandomCropDataset(pairs, (height, width), (low, high), config.data.hflip, photometric)


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


def _layout(fusion_net: FusionNet, config: TrainConfig, device: torch.device) -> FusionNet:
    """The fusion network in the channels-last layout where ``config.channels_last`` (default: on the CPU) asks."""
    enabled = device.type == "cpu" if config.channels_last is None else config.channels_last
    return fusion_net.use_channels_last(enabled)


def train_warm_start(config: TrainConfig, run: RunContext) -> Path:
    """Phase 1; returns the exported ``fusion_net.safetensors``."""
    stage = config.warm_start
    torch.manual_seed(config.seed)
    fusion_net = _layout(build_fusion_net(config.model).to(run.device), config, run.device)
    crops = _crops(_training_pairs(config), config, False)
    train_phase(WarmStartPhase(fusion_net, stage.rule), "warm-start", stage, crops, run, config, amp=stage.amp)
    weights = run.run_dir / "fusion_net.safetensors"
    if run.distributed.is_main:
        save_network(fusion_net, weights, info={"phase": "warm-start", "iterations": stage.iters, "rule": stage.rule})
        logger.info("wrote %s", weights)
    return weights


def train_densefuse(config: TrainConfig, run: RunContext) -> Path:
    """The DenseFuse baseline's auto-encoder; returns the exported ``densefuse.safetensors``."""
    from semfuse.models.densefuse import DenseFuse, DenseFuseConfig

    stage = config.densefuse
    torch.manual_seed(config.seed)
    autoencoder = DenseFuse(DenseFuseConfig()).to(run.device)
    crops = _crops(_training_pairs(config), config, False)
    train_phase(ReconstructionPhase(autoencoder, stage.ssim_weight), "densefuse", stage, crops, run, config)
    weights = run.run_dir / "densefuse.safetensors"
    if run.distributed.is_main:
        save_network(autoencoder, weights, {"iterations": stage.iters, "ssim_weight": stage.ssim_weight})
        logger.info("wrote %s", weights)
    return weights


def _initial_fusion_net(config: TrainConfig, init: str | Path | None, device: torch.device) -> FusionNet:
    """The fusion network the semantic phase starts from: ``init``'s weights ("scratch": a seeded random one)."""
    torch.manual_seed(config.seed)
    fusion_net = build_fusion_net(config.model)
    if init != "scratch":
        loaded = load_fusion_net(resolve_weights(init), "cpu")
        try:
            fusion_net.load_state_dict(loaded.state_dict())
        except RuntimeError:
            raise SemfuseError(f"the fusion weights {init or 'warm-start'} do not match the configured model; train "
                               "the warm start with this model (--phase all) or set semantic.init_fusion") from None
    return _layout(fusion_net.to(device), config, device)


def resolve_classes(stage: SemanticConfig, classes: tuple[str, ...] | None) -> tuple[str, ...]:
    """The label classes of a run: the data's (``classes``), or ``stage.num_classes`` when set (must cover them)."""
    if classes is None:
        raise SemfuseError("the semantic phase needs labelled pairs (a Label/ folder of label maps, or boxes/ with a "
                           "classes.txt); set data.sources to labelled data, or use --no-sem")
    if stage.num_classes is None or stage.num_classes == len(classes):
        names = tuple(classes)
    elif stage.num_classes < len(classes):
        raise SemfuseError(f"semantic.num_classes is {stage.num_classes} but the labels have {len(classes)} classes "
                           f"({', '.join(classes)}); set it to null to take them from the data")
    else:
        names = tuple(classes) + tuple(f"class_{k}" for k in range(len(classes), stage.num_classes))
    bad = [k for k in stage.excluded_classes if not 0 <= k < len(names)]
    if bad:
        raise SemfuseError(f"semantic.excluded_classes {bad} are not class ids 0..{len(names) - 1}")
    return names


def _class_weight(weighting: str, pairs: PairedDataset, num_classes: int) -> Tensor | None:
    weight = None if weighting == "none" else class_weights(label_pixel_counts(pairs.pairs, num_classes), weighting)
    if weight is not None:
        logger.info("class weights (%s): %s", weighting, ", ".join(f"{value:.3f}" for value in weight.tolist()))
    return weight


def semantic_phase(fusion_net: nn.Module, segmenter: Segmenter | None, stage: SemanticConfig,
                   class_weight: Tensor | None = None) -> SemanticPhase:
    """The joint phase with the losses, weights and learning-rate factors that ``stage`` sets."""
    return SemanticPhase(fusion_net, segmenter, use_reg=stage.use_reg, reg_weight=stage.reg_weight,
                         correlation=stage.correlation, anchor_weight=stage.anchor_weight,
                         anchor_rule=stage.anchor_rule, excluded_classes=stage.excluded_classes,
                         fusion_lr_mult=stage.fusion_lr_mult, head_lr_mult=stage.head_lr_mult,
                         class_weight=class_weight)


def _segmenter(config: TrainConfig, pairs: PairedDataset, device: torch.device) -> tuple[Segmenter, Tensor | None]:
    """A fresh (or ``semantic.segmenter_init``-initialised) segmenter for the classes of the training ``pairs``, and
    the cross-entropy's class weights."""
    stage = config.semantic
    names = resolve_classes(stage, pairs.classes)
    weight = _class_weight(stage.class_weights, pairs, len(names))
    segmenter = Segmenter(len(names), stage.normalisation, names)
    if stage.segmenter_init:
        loaded, fresh = load_pretrained(segmenter, stage.segmenter_init)
        logger.info("segmenter: %d tensors from %s, %d fresh", loaded, stage.segmenter_init, fresh)
    return segmenter.to(device), weight


def _validation(config: TrainConfig, fusion_net: FusionNet, segmenter: Segmenter, run: RunContext
                ) -> Validation | None:
    """The semantic phase's validation on ``data.val_sources`` (None, with a warning, when there are none)."""
    stage, names = config.semantic, segmenter.config.class_names
    if not config.data.val_sources:
        logger.warning("no data.val_sources: the semantic phase runs without validation mIoU")
        return None
    listing = collect_pairs(config.data.val_sources, config.data.labels, config.data.class_map)
    if listing.classes is not None and tuple(listing.classes) != tuple(names[:len(listing.classes)]):
        raise SemfuseError(f"the validation labels' classes ({', '.join(listing.classes)}) differ from the "
                           f"training labels' ({', '.join(names)})")
    val_pairs = PairedDataset(listing.pairs, listing.classes)
    (crop_h, crop_w), (stride_h, stride_w) = stage.val_crop, stage.val_stride
    return Validation(lambda: validate_semantic_phase(fusion_net, segmenter, val_pairs, names, stage.val_mode,
                                                      (crop_h, crop_w), (stride_h, stride_w), run.device,
                                                      run.progress), stage.val_every)


def _warm_up_segmenter(config: TrainConfig, run: RunContext, fusion_net: FusionNet, segmenter: Segmenter,
                       crops: RandomCropDataset, class_weight: Tensor | None, validation: Validation | None) -> None:
    """Train the segmenter alone on the frozen fusion network's images (``RUN_DIR/segmenter-warmup/``), or take the
    warm-up's segmenter when a resumed run has one."""
    warm_run, warmup = run.child("segmenter-warmup"), config.semantic.segmenter_warmup
    weights = warm_run.run_dir / "segmenter.safetensors"
    if run.resume and weights.exists():
        segmenter.load_state_dict(load_segmenter(weights, run.device).state_dict())
        logger.info("segmenter warm-up already done: %s", weights)
        return
    phase = SegmenterWarmupPhase(fusion_net, segmenter, warmup.head_lr_mult, class_weight)
    validation = Validation(validation.score) if validation is not None else None  # at the end only
    train_phase(phase, "segmenter-warmup", warmup, crops, warm_run, config, validation, config.semantic.amp)
    fusion_net.requires_grad_(True)
    if run.distributed.is_main:
        save_network(segmenter, weights)


def _export_semantic(run: RunContext, fusion_net: FusionNet, segmenter: Segmenter | None, info: dict) -> Path:
    """Write ``fusion_net.safetensors``, ``segmenter.safetensors`` and, after validation, the best fusion network
    as ``fusion_net_best.safetensors`` (main process only); returns the first."""
    weights = run.run_dir / "fusion_net.safetensors"
    if not run.distributed.is_main:
        return weights
    save_network(fusion_net, weights, info=info)
    if segmenter is not None:
        save_network(segmenter, run.run_dir / "segmenter.safetensors")
    if (run.run_dir / "best.pt").exists():
        best = load_checkpoint(run.run_dir / "best.pt")
        best_net = build_fusion_net(fusion_net.config)
        best_net.load_state_dict(best["fusion_net"])
        save_network(best_net, run.run_dir / "fusion_net_best.safetensors",
                     info={**info, "iteration": best["iteration"]})
    logger.info("wrote %s", weights)
    return weights


def train_semantic(config: TrainConfig, run: RunContext, init: str | Path | None) -> Path:
    """Phase 2 from the fusion weights ``init`` ("scratch" for random); returns ``fusion_net.safetensors``.

    With ``semantic.segmenter_warmup.iters > 0`` the segmenter first trains alone on the frozen initial fusion
    network's images (``RUN_DIR/segmenter-warmup/``), then the joint phase starts from it.
    """
    stage = config.semantic
    pairs = _training_pairs(config)
    crops = _crops(pairs, config, config.data.photometric)
    fusion_net = _initial_fusion_net(config, init, run.device)
    segmenter, weight, validation = None, None, None
    if stage.use_sem:
        segmenter, weight = _segmenter(config, pairs, run.device)
        validation = _validation(config, fusion_net, segmenter, run)
        if stage.segmenter_warmup.iters > 0:
            _warm_up_segmenter(config, run, fusion_net, segmenter, crops, weight, validation)
    final = train_phase(semantic_phase(fusion_net, segmenter, stage, weight), "semantic", stage, crops, run, config,
                        validation, stage.amp)
    return _export_semantic(run, fusion_net, segmenter,
                            {"phase": "semantic", "iterations": stage.iters, "best_miou": final["best_miou"]})


def fit(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run ``config.phase``; returns the path of the final fusion weights.

    Run directory: ``config.yaml``, ``log.jsonl``, ``last.pt`` (and ``best.pt``), ``fusion_net.safetensors``; for
    ``all``, the two phases go to ``RUN_DIR/warm-start/`` and ``RUN_DIR/semantic/``.
    """
    config.validate()
    device = resolve_device(config.device)
    context = init_distributed(device)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    run = RunContext(Path(config.run_dir), device, context, resume, progress)
    try:
        if config.phase == "warm-start":
            return train_warm_start(config, run)
        if config.phase == "densefuse":
            return train_densefuse(config, run)
        if config.phase == "semantic":
            return train_semantic(config, run, config.semantic.init_fusion)
        init: str | Path
        if config.warm_start.rule == "none":
            init = "scratch"
        elif resume and (run.run_dir / "warm-start" / "fusion_net.safetensors").exists():
            init = run.run_dir / "warm-start" / "fusion_net.safetensors"
        else:
            init = train_warm_start(config, run.child("warm-start"))
        return train_semantic(config, run.child("semantic"), init)
    finally:
        shutdown(context)
