"""The training loop: a few named functions and one checkpoint dict per phase.

:func:`fit` runs ``warm-start``, ``semantic`` or ``all`` (warm start, then semantic). :func:`train_phase` runs one
phase for a number of iterations: AdamW over the phase's parameter groups, linear warm-up + poly schedule, progress
bar, JSONL log, periodic atomic checkpoints (``last.pt``), exact resume, validation with ``best.pt``, bf16 autocast
on CUDA and DDP under ``torchrun``.
"""

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from semfuse.config import OptimConfig, TrainConfig, save_config
from semfuse.data.datasets import (
    IterationBatchSampler,
    PairedDataset,
    RandomCropDataset,
    collect_pairs,
)
from semfuse.device import resolve_device  # noqa: F401  (re-exported until callers import semfuse.device)
from semfuse.engine.checkpoint import load_checkpoint, save_checkpoint
from semfuse.engine.distributed import (
    DistributedContext,
    barrier,
    init_distributed,
    shutdown,
)
from semfuse.engine.phases import (
    ReconstructionPhase,
    SemanticPhase,
    WarmStartPhase,
    build_optimizer,
)
from semfuse.engine.schedule import poly_with_warmup
from semfuse.engine.validation import evaluate_segmentation
from semfuse.errors import SemfuseError
from semfuse.losses.correlation import CORRELATION_MODES
from semfuse.losses.warm_start import WARM_START_TARGETS
from semfuse.models.fusion_net import build_fusion_net
from semfuse.models.weights import (
    load_fusion_net,
    resolve_weights,
    save_fusion_net,
    save_module,
)

logger = logging.getLogger("semfuse.train")

PHASES = ("warm-start", "semantic", "all", "densefuse")


def check_config(config: TrainConfig) -> None:
    """Reject settings that cannot train, with a message naming the key, before any work starts."""
    semantic = config.semantic
    if config.phase not in PHASES:
        raise SemfuseError(f"phase must be one of {', '.join(PHASES)}, not {config.phase!r}")
    if config.warm_start.rule not in (*WARM_START_TARGETS, "none"):
        raise SemfuseError(f"warm_start.rule must be avg, max or none, not {config.warm_start.rule!r}")
    if config.phase == "warm-start" and config.warm_start.rule == "none":
        raise SemfuseError("warm_start.rule=none skips the warm start; use it with --phase all or semantic")
    try:
        config.model.validate()
    except ValueError as error:
        raise SemfuseError(f"model: {error}") from None
    if len(config.data.crop) != 2 or min(config.data.crop) < 1:
        raise SemfuseError(f"data.crop must be [height, width] in pixels, not {config.data.crop}")
    for name, stage in (("warm_start", config.warm_start), ("semantic", semantic), ("densefuse", config.densefuse)):
        if stage.iters < 1 or stage.batch_size < 1:
            raise SemfuseError(f"{name}.iters and {name}.batch_size must be at least 1")
    if config.phase == "all" and semantic.init_fusion is not None:
        raise SemfuseError("semantic.init_fusion applies to --phase semantic; --phase all starts from its warm start")
    if config.phase != "warm-start":
        if not semantic.use_sem and not semantic.use_reg:
            raise SemfuseError("semantic.use_sem and semantic.use_reg are both false: nothing would be trained")
        if semantic.correlation not in CORRELATION_MODES:
            raise SemfuseError(f"semantic.correlation must be image or batch, not {semantic.correlation!r}")
        if semantic.val_mode not in ("slide", "whole"):
            raise SemfuseError(f"semantic.val_mode must be slide or whole, not {semantic.val_mode!r}")
        bad = [k for k in semantic.excluded_classes if not 0 <= k < semantic.num_classes]
        if bad:
            raise SemfuseError(f"semantic.excluded_classes {bad} are not class ids 0..{semantic.num_classes - 1}")


@dataclass
class Stage:
    """What :func:`train_phase` needs to know of a phase's schedule."""

    name: str
    iters: int
    batch_size: int
    optim: OptimConfig


def _to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device, non_blocking=True) if isinstance(value, Tensor) else value
            for key, value in batch.items()}


def train_one_iteration(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, autocast) -> dict[str, float]:
    """One optimisation step; returns the phase's losses as floats."""
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        losses = model(batch)
    losses["loss"].backward()
    optimizer.step()
    return {name: float(value.detach()) for name, value in losses.items()}


def _crops(config: TrainConfig, photometric: bool) -> RandomCropDataset:
    listing = collect_pairs(config.data.sources)
    for message in listing.unpaired:
        logger.warning("unpaired, skipped: %s", message)
    return RandomCropDataset(PairedDataset(listing.pairs), config.data.crop, config.data.scale, config.data.hflip,
                             photometric)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def train_phase(
    phase: nn.Module,
    stage: Stage,
    crops: RandomCropDataset,
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    context: DistributedContext,
    resume: bool,
    progress: bool,
    validate=None,
    val_every: int = 0,
    amp: bool = False,
) -> dict:
    """Train ``phase`` (a module with ``parameter_groups`` and ``checkpoint_modules``) for
    ``stage.iters`` iterations; returns the final checkpoint dict. ``validate() -> scores`` runs every ``val_every``
    iterations and at the end (main process only); the best mIoU is kept in ``best.pt``."""
    optimizer = build_optimizer(phase, stage.optim.lr, stage.optim.weight_decay)
    start, best = 0, None
    if resume and (run_dir / "last.pt").exists():
        state = load_checkpoint(run_dir / "last.pt")
        for name, module in phase.checkpoint_modules().items():
            module.load_state_dict(state[name])
        optimizer.load_state_dict(state["optimizer"])
        start, best = int(state["iteration"]), state.get("best_miou")
        logger.info("resumed %s at iteration %d", run_dir, start)
    elif (run_dir / "last.pt").exists():
        raise SemfuseError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --run-dir")
    if context.is_main:
        save_config(config, run_dir)
    logger.info("%s: %d pairs, %d iterations, global batch %d, device %s, %d process(es)", stage.name, len(crops),
                stage.iters, stage.batch_size, device, context.world_size)

    model = phase
    if context.enabled:
        if device.type == "cuda":
            phase = nn.SyncBatchNorm.convert_sync_batchnorm(phase)
        model = DistributedDataParallel(phase, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = IterationBatchSampler(len(crops), stage.batch_size, stage.iters, config.seed, start, context.rank,
                                    context.world_size)
    loader = DataLoader(crops, batch_sampler=sampler, num_workers=config.data.workers,
                        pin_memory=device.type == "cuda")
    use_amp = amp and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    def state(iteration: int) -> dict:
        inner = _unwrap(model)
        modules = {name: module.state_dict() for name, module in inner.checkpoint_modules().items()}
        return {**modules, "optimizer": optimizer.state_dict(), "iteration": iteration, "best_miou": best,
                "config": asdict(config)}

    model.train()
    bar = tqdm(total=stage.iters, initial=start, desc=stage.name, unit="it", dynamic_ncols=True,
               disable=not progress or not context.is_main,
               mininterval=0.1 if sys.stderr.isatty() else 30)  # a redirected log gets a line every 30 s, not per step
    tick, seen = time.perf_counter(), 0
    log = (run_dir / "log.jsonl").open("a") if context.is_main else None
    try:
        for iteration, batch in enumerate(loader, start=start):
            torch.manual_seed(config.seed * 1_000_003 + iteration * 1_009 + context.rank)  # dropout, drop-path
            scale = poly_with_warmup(iteration, stage.iters, stage.optim.warmup_iters, stage.optim.power)
            for group in optimizer.param_groups:
                group["lr"] = stage.optim.lr * group["lr_mult"] * scale
            losses = train_one_iteration(model, optimizer, _to_device(batch, device), autocast)
            if not math.isfinite(losses["loss"]):
                raise SemfuseError(f"the loss became {losses['loss']} at iteration {iteration + 1}; lower the learning "
                                   "rate or check the data")
            seen += stage.batch_size
            done = iteration + 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.4f}")
            record = None
            if log and (done % config.log_every == 0 or done == stage.iters):
                elapsed = time.perf_counter() - tick
                record = {"phase": stage.name, "iteration": done, "lr": optimizer.param_groups[0]["lr"], **losses,
                          "crops_per_s": seen / elapsed if elapsed > 0 else None}
                tick, seen = time.perf_counter(), 0
            if validate is not None and ((val_every and done % val_every == 0) or done == stage.iters):
                if context.is_main:
                    scores = validate()
                    record = {**(record or {"phase": stage.name, "iteration": done}), "val": scores}
                    bar.write(f"iteration {done}: mIoU {scores['mIoU']:.4f}")
                    if best is None or scores["mIoU"] > best:
                        best = scores["mIoU"]
                        save_checkpoint(state(done), run_dir / "best.pt")
                barrier(context)
            if record is not None:
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


def train_warm_start(config: TrainConfig, run_dir: Path, device, context, resume: bool, progress: bool) -> Path:
    """Phase 1; returns the exported ``fusion_net.safetensors``."""
    stage = config.warm_start
    torch.manual_seed(config.seed)
    fusion_net = build_fusion_net(config.model).to(device)
    phase = WarmStartPhase(fusion_net, stage.rule)
    train_phase(phase, Stage("warm-start", stage.iters, stage.batch_size, stage.optim), _crops(config, False), config,
                run_dir, device, context, resume, progress)
    weights = run_dir / "fusion_net.safetensors"
    if context.is_main:
        save_fusion_net(fusion_net, config.model, weights, info={"phase": "warm-start", "iterations": stage.iters,
                                                                 "rule": stage.rule})
        logger.info("wrote %s", weights)
    return weights


def train_densefuse(config: TrainConfig, run_dir: Path, device, context, resume: bool, progress: bool) -> Path:
    """The DenseFuse baseline's auto-encoder; returns the exported ``densefuse.safetensors``."""
    from semfuse.methods.densefuse import DENSEFUSE_CONFIG_KEY
    from semfuse.models.densefuse import DenseFuse, DenseFuseConfig

    stage = config.densefuse
    torch.manual_seed(config.seed)
    autoencoder = DenseFuse(DenseFuseConfig()).to(device)
    train_phase(ReconstructionPhase(autoencoder, stage.ssim_weight),
                Stage("densefuse", stage.iters, stage.batch_size, stage.optim), _crops(config, False), config, run_dir,
                device, context, resume, progress)
    weights = run_dir / "densefuse.safetensors"
    if context.is_main:
        save_module(autoencoder, weights, {DENSEFUSE_CONFIG_KEY: json.dumps(autoencoder.config.to_dict()),
                                           "iterations": stage.iters, "ssim_weight": stage.ssim_weight})
        logger.info("wrote %s", weights)
    return weights


def _initial_fusion_net(config: TrainConfig, init: str | Path | None, device) -> nn.Module:
    torch.manual_seed(config.seed)
    fusion_net = build_fusion_net(config.model)
    if init != "scratch":
        loaded = load_fusion_net(resolve_weights(init), "cpu")
        try:
            fusion_net.load_state_dict(loaded.state_dict())
        except RuntimeError:
            raise SemfuseError(f"the fusion weights {init or 'warm-start'} do not match the configured model; train "
                               "the warm start with this model (--phase all) or set semantic.init_fusion") from None
    return fusion_net.to(device)


def train_semantic(config: TrainConfig, run_dir: Path, init, device, context, resume: bool, progress: bool) -> Path:
    """Phase 2 from the fusion weights ``init`` ("scratch" for random); returns ``fusion_net.safetensors``."""
    from semfuse.models.segmenter import Segmenter, load_pretrained

    stage = config.semantic
    if not config.data.val_sources and stage.use_sem:
        logger.warning("no data.val_sources: the semantic phase runs without validation mIoU")
    fusion_net = _initial_fusion_net(config, init, device)
    segmenter = None
    if stage.use_sem:
        segmenter = Segmenter(stage.num_classes, stage.normalisation)
        if stage.segmenter_init:
            loaded, fresh = load_pretrained(segmenter, stage.segmenter_init)
            logger.info("segmenter: %d tensors from %s, %d fresh", loaded, stage.segmenter_init, fresh)
        segmenter = segmenter.to(device)
    phase = SemanticPhase(fusion_net, segmenter, stage)

    validate = None
    if segmenter is not None and config.data.val_sources:
        val_pairs = PairedDataset(collect_pairs(config.data.val_sources).pairs)
        validate = lambda: evaluate_segmentation(  # noqa: E731
            fusion_net, segmenter, val_pairs, stage.num_classes, stage.val_mode, tuple(stage.val_crop),
            tuple(stage.val_stride), device, progress)
    final = train_phase(phase, Stage("semantic", stage.iters, stage.batch_size, stage.optim),
                        _crops(config, config.data.photometric), config, run_dir, device, context, resume, progress,
                        validate, stage.val_every, stage.amp)
    weights = run_dir / "fusion_net.safetensors"
    if context.is_main:
        info = {"phase": "semantic", "iterations": stage.iters, "best_miou": final["best_miou"]}
        save_fusion_net(fusion_net, config.model, weights, info=info)
        if segmenter is not None:
            save_module(segmenter, run_dir / "segmenter.safetensors", info={"num_classes": stage.num_classes,
                                                                           "normalisation": stage.normalisation})
        if (run_dir / "best.pt").exists():
            best = load_checkpoint(run_dir / "best.pt")
            best_net = build_fusion_net(config.model)
            best_net.load_state_dict(best["fusion_net"])
            save_fusion_net(best_net, config.model, run_dir / "fusion_net_best.safetensors",
                            info={**info, "iteration": best["iteration"]})
        logger.info("wrote %s", weights)
    return weights


def fit(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run ``config.phase``; returns the path of the final fusion weights.

    Run directory: ``config.yaml``, ``log.jsonl``, ``last.pt`` (and ``best.pt``), ``fusion_net.safetensors``; for
    ``all``, the two phases go to ``RUN_DIR/warm-start/`` and ``RUN_DIR/semantic/``.
    """
    check_config(config)
    device = resolve_device(config.device)
    context = init_distributed(device)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    run_dir = Path(config.run_dir)
    try:
        if config.phase == "warm-start":
            return train_warm_start(config, run_dir, device, context, resume, progress)
        if config.phase == "densefuse":
            return train_densefuse(config, run_dir, device, context, resume, progress)
        if config.phase == "semantic":
            init = config.semantic.init_fusion
            return train_semantic(config, run_dir, init, device, context, resume, progress)
        if config.warm_start.rule == "none":
            init = "scratch"
        elif resume and (run_dir / "warm-start" / "fusion_net.safetensors").exists():
            init = run_dir / "warm-start" / "fusion_net.safetensors"
        else:
            init = train_warm_start(config, run_dir / "warm-start", device, context, resume, progress)
        return train_semantic(config, run_dir / "semantic", init, device, context, resume, progress)
    finally:
        shutdown(context)
