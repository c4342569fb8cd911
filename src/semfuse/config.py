"""Training configuration: dataclasses with defaults, a YAML file on top, typed options, then ``a.b=c`` overrides.

``load_config(path, overrides, options)`` builds a :class:`TrainConfig`; ``save_config`` writes the resolved config (and
the git commit, when known) into a run directory. Every field is commented where it is defined.
"""

import dataclasses
import subprocess
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from semfuse.constants import SEGMENTATION_STRIDE, SEGMENTATION_WINDOW
from semfuse.errors import SemfuseError
from semfuse.models.fusion_net import FusionNetConfig
from semfuse.names import PHASES


@dataclass
class Source:
    """One set of training pairs: a dataset ``root`` (MSRS, box or MFNet layout, with ``split``) or ``ir`` + ``vis``
    folders."""

    root: str | None = None  # MSRS (ir/, vi/, Label/) or MFNet (images/, labels/, train.txt) folder
    split: str | None = None  # train | test (MSRS), train | val | test (MFNet); None = the root itself / all images
    ir: str | None = None  # plain infrared folder (with vis), paired by file stem
    vis: str | None = None  # plain visible folder (with ir)


@dataclass
class DataConfig:
    """Where pairs come from and how training crops are cut."""

    sources: list[Source] = field(default_factory=list)  # training pairs: one or more sets, concatenated
    val_sources: list[Source] = field(default_factory=list)  # labelled pairs for validation mIoU (semantic phase)
    crop: list[int] = field(default_factory=lambda: [240, 320])  # crop height, width (authors: 240 x 320)
    scale: list[float] = field(default_factory=lambda: [0.5, 2.0])  # random rescale range before cropping
    labels: str = "auto"  # auto (label maps if a Label/ folder exists, else boxes/) | masks | boxes | none
    class_map: str | None = None  # boxes: NAME=ID,... label ids by class name; None = 1..N in classes.txt order
    #                               (person=2,car=1,bicycle=3 reproduces MSRS's ids)
    hflip: bool = True  # random horizontal flip (pair and label together)
    photometric: bool = False  # random brightness/contrast/saturation per modality (authors' code: on, semantic phase)
    workers: int = 0  # DataLoader worker processes
    cache: bool = False  # decode every pair once and keep it in memory (fast crops; about 5 MB per 640x480 pair)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then a polynomial decay to zero."""

    lr: float = 6e-4  # peak learning rate (authors' warm start: 6e-4)
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_iters: int = 1500  # linear warm-up length in iterations
    power: float = 1.0  # exponent of the poly decay (1 = linear)


@dataclass
class WarmStartConfig:
    """Phase 1: L1 to a fixed fusion of the sources."""

    rule: str = "avg"  # avg ("Ave", the paper's default) | max ("Max" ablation) | none (skip: "w/o WS" ablation)
    iters: int = 20000  # iterations (authors use their 20k checkpoint)
    batch_size: int = 2  # crops per iteration (authors: 2)
    optim: OptimConfig = field(default_factory=OptimConfig)
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with AMX (2.5x the crops/s there); false: float32


@dataclass
class SegmenterWarmupConfig:
    """Optional stage before the joint phase: SegFormer-b0 trained alone on the initial fusion network's fused
    images (the fusion network frozen, no backward through it), so that L_sem carries a real signal once it
    starts to drive the fusion. Not in the paper (iters 0); the authors' code starts from a pretrained backbone."""

    iters: int = 0  # 0 = no warm-up (the paper)
    batch_size: int = 8  # crops per iteration
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4, warmup_iters=100))
    head_lr_mult: float = 10.0  # learning-rate factor of the decode head


@dataclass
class SemanticConfig:
    """Phase 2: the fusion network and SegFormer-b0 trained jointly, L_ST = L_sem + lambda * L_reg."""

    iters: int = 160000  # iterations (authors: 160k)
    batch_size: int = 4  # global batch, split over processes under torchrun (authors: 4)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=6e-5))  # authors: AdamW 6e-5, poly
    head_lr_mult: float = 10.0  # learning-rate factor of SegFormer's decode head (authors: 10)
    reg_weight: float = 1e-3  # lambda of L_reg (authors: 0.001)
    fusion_lr_mult: float = 1.0  # learning-rate factor of the fusion network (1 = the paper: the same rate as the
    #                              segmenter's backbone); below 1 the fusion network moves more slowly, 0 freezes it
    anchor_weight: float = 0.0  # mu of an L1 term |N_F - anchor_rule(ir, vis_Y)| kept during the joint phase (0 =
    #                             the paper: nothing but L_sem and L_reg); holds the intensity range that L_reg,
    #                             a correlation, does not see
    anchor_rule: str = "max"  # the anchor's target: avg | max (as warm_start.rule)
    use_sem: bool = True  # False: "w/o L_sem" (the fusion net sees L_reg only; no segmenter is trained)
    use_reg: bool = True  # False: "w/o L_reg"
    correlation: str = "image"  # image: Pearson per image (default) | batch: one over the batch (authors' code)
    excluded_classes: list[int] = field(default_factory=list)  # classes left out of L_sem, e.g. [1] = "w/o Car"
    num_classes: int | None = None  # None = from the data: MFNet / MSRS label maps 9 (0 unlabelled, 1 car,
    #                                 2 person, 3 bike, 4 curve, 5 car stop, 6 guardrail, 7 color cone, 8 bump);
    #                                 boxes: background + the classes of classes.txt (or the class map's ids)
    class_weights: str = "none"  # none (the paper) | inverse_sqrt: CE weighted by 1/sqrt(pixel frequency) of the
    #                              training labels, normalised to mean 1 (helps small, rare classes such as boxes)
    segmenter_warmup: SegmenterWarmupConfig = field(default_factory=SegmenterWarmupConfig)
    normalisation: str = "imagenet"  # segmenter input: imagenet (mean/std) | none ([0, 1] only, authors' code)
    segmenter_init: str | None = None  # local MiT-b0 / SegFormer-b0 checkpoint; None = from scratch (the paper)
    init_fusion: str | None = None  # fusion weights to start from; None = the warm-start result (phase all) or
    #                                 the bundled warm-start weights (phase semantic); "scratch" = random init
    val_every: int = 2000  # iterations between validations (0 = only at the end)
    val_mode: str = "slide"  # slide (sliding window) | whole (whole image at once)
    val_crop: list[int] = field(default_factory=lambda: list(SEGMENTATION_WINDOW))  # sliding-window size
    val_stride: list[int] = field(default_factory=lambda: list(SEGMENTATION_STRIDE))  # sliding-window stride
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with AMX (also for the segmenter warm-up); false:
    #                   float32 (CPUs without AMX always train in float32: there bf16 is emulated and slower)


@dataclass
class DenseFuseTrainConfig:
    """The DenseFuse baseline's auto-encoder, trained to reconstruct grey images (Li & Wu 2019)."""

    iters: int = 4000  # iterations
    batch_size: int = 4  # crops per iteration (each gives an infrared and a visible image)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, warmup_iters=100))  # paper: Adam 1e-4
    ssim_weight: float = 100.0  # lambda of L_ssim (the paper trains with 1, 10, 100 and 1000)


@dataclass
class TrainConfig:
    """Everything a training run needs; saved resolved as ``config.yaml`` in the run directory."""

    model: FusionNetConfig = field(default_factory=FusionNetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    densefuse: DenseFuseTrainConfig = field(default_factory=DenseFuseTrainConfig)
    phase: str = "warm-start"  # warm-start | semantic | all (both, in one run) | densefuse (the baseline)
    run_dir: str = "runs/warm-start"  # checkpoints, logs and exported weights go here
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N
    seed: int = 0  # seeds the weights, the sampling order and the crops
    log_every: int = 10  # iterations between JSONL log lines
    checkpoint_every: int = 500  # iterations between checkpoints (last.pt, plus the final weights)
    channels_last: bool | None = None  # fusion network in the channels-last layout; None = on the CPU (1.4x the
    #                                    warm start's crops/s there), off on CUDA; false reproduces the reference layout

    def validate(self) -> None:
        """Reject settings that cannot train, with a message naming the key, before any work starts.

        Raises:
            SemfuseError: naming the first bad key.
        """
        _check_phase(self)
        try:
            self.model.validate()
        except ValueError as error:
            raise SemfuseError(f"model: {error}") from None
        _check_data(self.data)
        _check_stages(self)
        _check_semantic(self.semantic, self.phase)


def _check_phase(config: TrainConfig) -> None:
    """The phase and the warm-start rule."""
    from semfuse.losses.warm_start import WARM_START_TARGETS

    if config.phase not in PHASES:
        raise SemfuseError(f"phase must be one of {', '.join(PHASES)}, not {config.phase!r}")
    if config.warm_start.rule not in (*WARM_START_TARGETS, "none"):
        raise SemfuseError(f"warm_start.rule must be avg, max or none, not {config.warm_start.rule!r}")
    if config.phase == "warm-start" and config.warm_start.rule == "none":
        raise SemfuseError("warm_start.rule=none skips the warm start; use it with --phase all or semantic")


def _check_data(data: DataConfig) -> None:
    """The crop size and the label kind."""
    from semfuse.data.pairs import LABEL_KINDS

    if len(data.crop) != 2 or min(data.crop) < 1:
        raise SemfuseError(f"data.crop must be [height, width] in pixels, not {data.crop}")
    if data.labels not in LABEL_KINDS:
        raise SemfuseError(f"data.labels must be one of {', '.join(LABEL_KINDS)}, not {data.labels!r}")


def _check_stages(config: TrainConfig) -> None:
    """Every stage's iterations and batch size."""
    stages = (("warm_start", config.warm_start), ("semantic", config.semantic), ("densefuse", config.densefuse))
    for name, stage in stages:
        if stage.iters < 1 or stage.batch_size < 1:
            raise SemfuseError(f"{name}.iters and {name}.batch_size must be at least 1")
    warmup = config.semantic.segmenter_warmup
    if warmup.iters < 0 or warmup.batch_size < 1:
        raise SemfuseError("semantic.segmenter_warmup.iters must be >= 0 and its batch_size >= 1")
    if config.phase == "all" and config.semantic.init_fusion is not None:
        raise SemfuseError("semantic.init_fusion applies to --phase semantic; --phase all starts from its own "
                           "warm start")


def _check_semantic(semantic: SemanticConfig, phase: str) -> None:
    """The semantic phase's losses (when it runs), validation mode, class weighting and class ids."""
    from semfuse.losses.semantic import CLASS_WEIGHTINGS

    if phase in ("semantic", "all"):
        _check_semantic_losses(semantic)
    if semantic.val_mode not in ("slide", "whole"):
        raise SemfuseError(f"semantic.val_mode must be slide or whole, not {semantic.val_mode!r}")
    if semantic.class_weights not in CLASS_WEIGHTINGS:
        raise SemfuseError(f"semantic.class_weights must be one of {', '.join(CLASS_WEIGHTINGS)}, "
                           f"not {semantic.class_weights!r}")
    if semantic.num_classes is not None:
        if semantic.num_classes < 2:
            raise SemfuseError("semantic.num_classes must be at least 2 (or null: from the data)")
        bad = [k for k in semantic.excluded_classes if not 0 <= k < semantic.num_classes]
        if bad:
            raise SemfuseError(f"semantic.excluded_classes {bad} are not class ids 0..{semantic.num_classes - 1}")


def _check_semantic_losses(semantic: SemanticConfig) -> None:
    from semfuse.losses.correlation import CORRELATION_MODES
    from semfuse.losses.warm_start import WARM_START_TARGETS

    if not semantic.use_sem and not semantic.use_reg:
        raise SemfuseError("semantic.use_sem and semantic.use_reg are both false: nothing would be trained")
    if semantic.fusion_lr_mult < 0 or semantic.anchor_weight < 0:
        raise SemfuseError("semantic.fusion_lr_mult and semantic.anchor_weight must be >= 0")
    if semantic.anchor_rule not in WARM_START_TARGETS:
        raise SemfuseError(f"semantic.anchor_rule must be avg or max, not {semantic.anchor_rule!r}")
    if semantic.correlation not in CORRELATION_MODES:
        raise SemfuseError(f"semantic.correlation must be image or batch, not {semantic.correlation!r}")


def _build(cls, data, where: str):
    """Instantiate dataclass ``cls`` from a dict, recursively, rejecting unknown keys with their dotted path."""
    if not isinstance(data, dict):
        raise SemfuseError(f"config section {where or 'top level'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise SemfuseError(f"unknown config key {where}{sorted(unknown)[0]}; known keys here: "
                           f"{', '.join(sorted(known))}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value, f"{where}{name}.")
        elif origin is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            value = [_build(typing.get_args(hint)[0], item, f"{where}{name}[{i}].") for i, item in enumerate(value)]
        elif origin in (typing.Union, types.UnionType) and value is not None and float in typing.get_args(hint):
            value = float(value)
        elif hint is float:
            value = _as_float(value, f"{where}{name}")
        elif hint in (bool, bool | None, int, int | None):
            value = _checked_scalar(value, hint, f"{where}{name}")
        values[name] = value
    return cls(**values)


def _checked_scalar(value, hint, where: str):
    """``value`` if it is of the bool or int type ``hint`` names (None where the hint allows it), else one line."""
    if value is None and typing.get_origin(hint) in (typing.Union, types.UnionType):
        return value
    wanted = bool if bool in (hint, *typing.get_args(hint)) else int
    if isinstance(value, wanted) and (wanted is bool or not isinstance(value, bool)):
        return value
    kind = "true or false" if wanted is bool else "a whole number"
    allowed = " (or null)" if typing.get_origin(hint) in (typing.Union, types.UnionType) else ""
    raise SemfuseError(f"config key {where} must be {kind}{allowed}, got {value!r}")


def _as_float(value, where: str) -> float:
    try:
        return float(value)  # YAML reads 1e-3 (no dot) as a string
    except (TypeError, ValueError):
        raise SemfuseError(f"config key {where} must be a number, got {value!r}") from None


def _set_dotted(tree: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise SemfuseError(f"override {dotted}: {key} is not a section")
    tree[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                options: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file at ``path`` (if any), then ``options``, then ``key.sub=value`` overrides.

    Args:
        path: a YAML config file (``base: FILE`` inside is read first).
        overrides: ``key.sub=value`` strings, values parsed as YAML (the command line's ``KEY=VALUE``).
        options: ``key.sub`` -> value, already typed (the command line's options); checked like the file's values.
    """
    tree = dataclasses.asdict(TrainConfig())
    if path is not None:
        tree = _merge(tree, _read_yaml(Path(path)))
    for key, value in (options or {}).items():
        _set_dotted(tree, key, value)
    for override in overrides or []:
        if "=" not in override:
            raise SemfuseError(f"override {override!r} must look like key.sub=value")
        key, text = override.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(text))
    return _build(TrainConfig, tree, "")


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A YAML config; a top-level ``base: FILE`` (relative to this file) is read first and overlaid by this one."""
    if not path.is_file():
        raise SemfuseError(f"config file {path} does not exist")
    if path.resolve() in seen:
        raise SemfuseError(f"config file {path} names itself as a base (through {seen[-1]})")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SemfuseError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise SemfuseError(f"config file {path} must hold a mapping of keys")
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    return _merge(_read_yaml(path.parent / base, (*seen, path.resolve())), loaded)


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def git_commit() -> str | None:
    """The current git commit of the source tree, or None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def save_config(config: TrainConfig, run_dir: str | Path) -> Path:
    """Write the resolved config, with the git commit as a comment, to ``run_dir/config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# resolved semfuse config; git commit: {git_commit() or 'unknown'}\n"
    path.write_text(header + yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    return path
