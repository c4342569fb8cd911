"""Training the networks phase by phase: :func:`fit` runs ``warm-start``, ``semantic``, ``all`` (warm start, then
semantic) or ``densefuse``.

Each phase builds its networks, data and :class:`~semfuse.engine.phases.Phase` here and runs it with
:func:`semfuse.engine.loop.train_phase` (the loop, its checkpoints, resume, logging and validation schedule); the
trained networks are written with their configs inside (:func:`semfuse.models.weights.save_network`).
"""
import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from semfuse.config import (
    SemanticConfig,
    TrainConfig,
)
from semfuse.data.datasets import (
    PairedDataset,
    RandomCropDataset,
    collect_pairs,
    label_pixel_counts,
)
from semfuse.device import resolve_device
from semfuse.engine.checkpoint import load_checkpoint
from semfuse.engine.distributed import (
    init_distributed,
    shutdown,
)
from semfuse.engine.loop import RunContext, Validation, train_phase
from semfuse.engine.phases import (
    ReconstructionPhase,
    SegmenterWarmupPhase,
    SemanticPhase,
    WarmStartPhase,
)
from semfuse.engine.validation import validate_semantic_phase
from semfuse.errors import SemfuseError
from semfuse.losses.semantic import class_weights
from semfuse.models.fusion_net import FusionNet, build_fusion_net
from semfuse.models.segmenter import Segmenter, load_pretrained
from semfuse.models.weights import load_fusion_net, load_segmenter, resolve_weights, save_network

logger = logging.getLogger("semfuse.train")



def _training_pairs(config: TrainConfig) -> PairedDataset:
    listing = collect_pairs(config.data.sources, config.data.labels, config.data.class_map)
    for message in listing.unpaired:
        logger.warning("unpaired, skipped: %s", message)
    return PairedDataset(listing.pairs, listing.classes, config.data.cache)


def _crops(pairs: PairedDataset, config: TrainConfig, photometric: bool) -> RandomCropDataset:
    (height, width), (low, high) = config.data.crop, config.data.scale
    return RandomCropDataset(pairs, (height, width), (low, high), config.data.hflip, photometric)


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
