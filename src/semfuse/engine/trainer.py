"""The training loop: a few named functions and one checkpoint dict per phase.

:func:`fit` runs ``warm-start``, ``semantic``, ``all`` (warm start, then semantic) or ``densefuse``.
:func:`train_phase` runs one phase for its stage's iterations: AdamW over the phase's parameter groups, linear
warm-up + poly schedule, progress bar, JSONL log, periodic atomic checkpoints (``last.pt``), exact resume, validation
with ``best.pt``, bf16 autocast on CUDA and AMX CPUs, and DDP under ``torchrun``. What one run shares across its phases (device,
distributed context, resume, progress, run folder) travels as one :class:`RunContext`.
"""

import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

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
from semfuse.models.fusion_net import build_fusion_net
from semfuse.models.weights import (
    load_fusion_net,
    resolve_weights,
    save_densefuse,
    save_fusion_net,
)

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


def _crops(config: TrainConfig, photometric: bool) -> RandomCropDataset:
    listing = collect_pairs(config.data.sources, config.data.labels, config.data.class_map)
    for message in listing.unpaired:
        logger.warning("unpaired, skipped: %s", message)
    pairs = PairedDataset(listing.pairs, listing.classes, config.data.cache)
    return RandomCropDataset(pairs, config.data.crop, config.data.scale, config.data.hflip, photometric)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _set_learning_rates(optimizer: torch.optim.Optimizer, optim: OptimConfig, iteration: int, total: int) -> None:
    scale = poly_with_warmup(iteration, total, optim.warmup_iters, optim.power)
    for group in optimizer.param_groups:
        group["lr"] = optim.lr * group["lr_mult"] * scale


def train_phase(
    phase: nn.Module,
    name: str,
    stage: StageConfig,
    crops: RandomCropDataset,
    run: RunContext,
    config: TrainConfig,
    validate: Callable[[], dict] | None = None,
    val_every: int = 0,
    amp: bool = False,
) -> dict:
    """Train ``phase`` (a module with ``parameter_groups`` and ``checkpoint_modules``) for ``stage.iters``
    iterations of ``stage.batch_size`` crops with ``stage.optim``; returns the final checkpoint dict.

    ``validate() -> scores`` runs every ``val_every`` iterations and at the end (main process only); the best
    mIoU is kept in ``best.pt``. Losses are read back from the device only every ``config.log_every`` iterations.
    """
    run_dir, device, context = run.run_dir, run.device, run.distributed
    optimizer = build_optimizer(phase, stage.optim.lr, stage.optim.weight_decay)
    start, best = 0, None
    if run.resume and (run_dir / "last.pt").exists():
        state = load_checkpoint(run_dir / "last.pt")
        restore_checkpoint(state, {**phase.checkpoint_modules(), "optimizer": optimizer}, run_dir / "last.pt",
                           asdict(config))
        start, best = int(state["iteration"]), state.get("best_miou")
        logger.info("resumed %s at iteration %d", run_dir, start)
    elif (run_dir / "last.pt").exists():
        raise SemfuseError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --run-dir")
    if context.is_main:
        save_config(config, run_dir)
    logger.info("%s: %d pairs, %d iterations, global batch %d, device %s, %d process(es)", name, len(crops),
                stage.iters, stage.batch_size, device, context.world_size)

    model = phase
    if context.enabled:
        if device.type == "cuda":
            phase = nn.SyncBatchNorm.convert_sync_batchnorm(phase)
        model = DistributedDataParallel(phase, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = IterationBatchSampler(len(crops), stage.batch_size, stage.iters, config.seed, start, context.rank,
                                    context.world_size)
    loader = DataLoader(crops, batch_sampler=sampler, num_workers=config.data.workers,
                        pin_memory=device.type == "cuda", persistent_workers=config.data.workers > 0)
    autocast = autocast_context(device, amp)  # bf16 on CUDA and on CPUs with AMX, where ``amp`` asks

    def state(iteration: int) -> dict:
        modules = {key: module.state_dict() for key, module in _unwrap(model).checkpoint_modules().items()}
        return {**modules, "optimizer": optimizer.state_dict(), "iteration": iteration, "best_miou": best,
                "config": asdict(config)}

    model.train()
    bar = tqdm(total=stage.iters, initial=start, desc=name, unit="it", dynamic_ncols=True,
               disable=not run.progress or not context.is_main,
               mininterval=0.1 if sys.stderr.isatty() else 30)  # a redirected log gets a line every 30 s, not per step
    tick, seen, running, steps = time.perf_counter(), 0, {}, 0
    log = (run_dir / "log.jsonl").open("a") if context.is_main else None
    try:
        for iteration, batch in enumerate(loader, start=start):
            torch.manual_seed(config.seed * 1_000_003 + iteration * 1_009 + context.rank)  # dropout, drop-path
            _set_learning_rates(optimizer, stage.optim, iteration, stage.iters)
            losses = train_one_iteration(model, optimizer, _to_device(batch, device), autocast)
            running = {key: running.get(key, 0) + value for key, value in losses.items()}
            seen, steps, done = seen + stage.batch_size, steps + 1, iteration + 1
            bar.update(1)
            record = None
            if done % config.log_every == 0 or done == stage.iters:
                means = {key: float(value) / steps for key, value in running.items()}  # one device sync per interval
                if not math.isfinite(means["loss"]):
                    raise SemfuseError(f"the loss became {means['loss']} before iteration {done}; lower the learning "
                                       "rate or check the data")
                bar.set_postfix(loss=f"{means['loss']:.4f}")
                elapsed = time.perf_counter() - tick
                record = {"phase": name, "iteration": done, "lr": optimizer.param_groups[0]["lr"], **means,
                          "crops_per_s": seen / elapsed if elapsed > 0 else None}
                tick, seen, running, steps = time.perf_counter(), 0, {}, 0
            if validate is not None and ((val_every and done % val_every == 0) or done == stage.iters):
                if context.is_main:
                    scores = validate()
                    record = {**(record or {"phase": name, "iteration": done}), "val": scores}
                    bar.write(f"{name} iteration {done}: mIoU {scores['mIoU']:.4f}")
                    if best is None or scores["mIoU"] > best:
                        best = scores["mIoU"]
                        save_checkpoint(state(done), run_dir / "best.pt")
                barrier(context)
            if record is not None and log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            if context.is_main and done % config.checkpoint_every == 0 and done != stage.iters:
                save_checkpoint(state(done), run_dir / "last.pt")
    finally:
        bar.close()
        if log:
            log.close()
    final = state(stage.iters)
    if context.is_main:
        save_checkpoint(final, run_dir / "last.pt")
    barrier(context)
    return final


def _layout(fusion_net: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """The fusion network in the channels-last layout where ``config.channels_last`` (default: on the CPU) asks."""
    enabled = device.type == "cpu" if config.channels_last is None else config.channels_last
    return fusion_net.use_channels_last(enabled) if hasattr(fusion_net, "use_channels_last") else fusion_net


def train_warm_start(config: TrainConfig, run: RunContext) -> Path:
    """Phase 1; returns the exported ``fusion_net.safetensors``."""
    stage = config.warm_start
    torch.manual_seed(config.seed)
    fusion_net = _layout(build_fusion_net(config.model).to(run.device), config, run.device)
    train_phase(WarmStartPhase(fusion_net, stage.rule), "warm-start", stage, _crops(config, False), run, config,
                amp=stage.amp)
    weights = run.run_dir / "fusion_net.safetensors"
    if run.distributed.is_main:
        save_fusion_net(fusion_net, config.model, weights, info={"phase": "warm-start", "iterations": stage.iters,
                                                                 "rule": stage.rule})
        logger.info("wrote %s", weights)
    return weights


def train_densefuse(config: TrainConfig, run: RunContext) -> Path:
    """The DenseFuse baseline's auto-encoder; returns the exported ``densefuse.safetensors``."""
    from semfuse.models.densefuse import DenseFuse, DenseFuseConfig

    stage = config.densefuse
    torch.manual_seed(config.seed)
    autoencoder = DenseFuse(DenseFuseConfig()).to(run.device)
    train_phase(ReconstructionPhase(autoencoder, stage.ssim_weight), "densefuse", stage, _crops(config, False), run,
                config)
    weights = run.run_dir / "densefuse.safetensors"
    if run.distributed.is_main:
        save_densefuse(autoencoder, weights, {"iterations": stage.iters, "ssim_weight": stage.ssim_weight})
        logger.info("wrote %s", weights)
    return weights


def _initial_fusion_net(config: TrainConfig, init: str | Path | None, device: torch.device) -> nn.Module:
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
    if weighting == "none":
        return None
    weight = class_weights(label_pixel_counts(pairs.pairs, num_classes), weighting)
    logger.info("class weights (%s): %s", weighting, ", ".join(f"{value:.3f}" for value in weight.tolist()))
    return weight


def train_semantic(config: TrainConfig, run: RunContext, init: str | Path | None) -> Path:
    """Phase 2 from the fusion weights ``init`` ("scratch" for random); returns ``fusion_net.safetensors``.

    With ``semantic.segmenter_warmup.iters > 0`` the segmenter first trains alone on the frozen initial fusion
    network's images (``RUN_DIR/segmenter-warmup/``), then the joint phase starts from it.
    """
    from semfuse.models.segmenter import Segmenter, load_pretrained, load_segmenter, save_segmenter

    stage, device = config.semantic, run.device
    crops = _crops(config, config.data.photometric)
    fusion_net = _initial_fusion_net(config, init, device)
    segmenter, names, weight, validate = None, None, None, None
    if stage.use_sem:
        names = resolve_classes(stage, crops.pairs.classes)
        weight = _class_weight(stage.class_weights, crops.pairs, len(names))
        segmenter = Segmenter(len(names), stage.normalisation)
        if stage.segmenter_init:
            loaded, fresh = load_pretrained(segmenter, stage.segmenter_init)
            logger.info("segmenter: %d tensors from %s, %d fresh", loaded, stage.segmenter_init, fresh)
        segmenter = segmenter.to(device)
        if config.data.val_sources:
            listing = collect_pairs(config.data.val_sources, config.data.labels, config.data.class_map)
            if listing.classes is not None and tuple(listing.classes) != tuple(names[:len(listing.classes)]):
                raise SemfuseError(f"the validation labels' classes ({', '.join(listing.classes)}) differ from the "
                                   f"training labels' ({', '.join(names)})")
            val_pairs = PairedDataset(listing.pairs, listing.classes)
            validate = lambda: validate_semantic_phase(  # noqa: E731
                fusion_net, segmenter, val_pairs, names, stage.val_mode, tuple(stage.val_crop),
                tuple(stage.val_stride), device, run.progress)
        else:
            logger.warning("no data.val_sources: the semantic phase runs without validation mIoU")
        warmup = stage.segmenter_warmup
        if warmup.iters > 0:
            warm_run = run.child("segmenter-warmup")
            warm_weights = warm_run.run_dir / "segmenter.safetensors"
            if run.resume and warm_weights.exists():
                segmenter.load_state_dict(load_segmenter(warm_weights, device).state_dict())
                logger.info("segmenter warm-up already done: %s", warm_weights)
            else:
                train_phase(SegmenterWarmupPhase(fusion_net, segmenter, warmup.head_lr_mult, weight),
                            "segmenter-warmup", warmup, crops, warm_run, config, validate, 0, stage.amp)
                fusion_net.requires_grad_(True)
                if run.distributed.is_main:
                    save_segmenter(segmenter, names, stage.normalisation, warm_weights)
    phase = SemanticPhase(fusion_net, segmenter, stage, weight)
    final = train_phase(phase, "semantic", stage, crops, run, config, validate, stage.val_every, stage.amp)
    weights = run.run_dir / "fusion_net.safetensors"
    if run.distributed.is_main:
        info = {"phase": "semantic", "iterations": stage.iters, "best_miou": final["best_miou"]}
        save_fusion_net(fusion_net, config.model, weights, info=info)
        if segmenter is not None:
            save_segmenter(segmenter, names, stage.normalisation, run.run_dir / "segmenter.safetensors")
        if (run.run_dir / "best.pt").exists():
            best = load_checkpoint(run.run_dir / "best.pt")
            best_net = build_fusion_net(config.model)
            best_net.load_state_dict(best["fusion_net"])
            save_fusion_net(best_net, config.model, run.run_dir / "fusion_net_best.safetensors",
                            info={**info, "iteration": best["iteration"]})
        logger.info("wrote %s", weights)
    return weights


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
        if config.warm_start.rule == "none":
            init = "scratch"
        elif resume and (run.run_dir / "warm-start" / "fusion_net.safetensors").exists():
            init = run.run_dir / "warm-start" / "fusion_net.safetensors"
        else:
            init = train_warm_start(config, run.child("warm-start"))
        return train_semantic(config, run.child("semantic"), init)
    finally:
        shutdown(context)
