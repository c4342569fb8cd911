"""The meta-architecture of each training phase: what one batch costs, and which parameters learn at which rate.

* :class:`WarmStartPhase` (paper eq. 1): the fusion network alone, ``L_WS = |N_F(ir, vis_Y) − rule(ir, vis_Y)|``.
* :class:`SemanticPhase` (paper eq. 2): ``L_ST = L_sem(N_S(rgb(N_F(ir, vis_Y))), label) + λ L_reg``, where rgb()
  puts the visible chroma back on the fused luminance. Each ablation switch removes exactly what it names.
* :class:`SegmenterWarmupPhase` (optional, before the joint phase): N_S alone on the frozen N_F's fused images.
* :class:`SegmentationPhase`: N_S alone on one method's fused images (the segmentation protocol).
* :class:`ReconstructionPhase`: the DenseFuse baseline's auto-encoder.

Every phase is a :class:`Phase`: a module with ``forward(batch) -> {"loss", ...}``, ``parameter_groups()`` (each
group with its ``lr_mult``) and ``checkpoint_modules()``. Phases take plain values (a rule name, a weight, a
learning-rate factor); the trainer reads them from the config.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from semfuse.data.colour import luminance, restore_colour
from semfuse.errors import InputError
from semfuse.losses.correlation import correlation_regulariser
from semfuse.losses.reconstruction import reconstruction_loss
from semfuse.losses.semantic import semantic_loss
from semfuse.losses.warm_start import warm_start_loss
from semfuse.models.segmenter import Segmenter


class Phase(nn.Module, ABC):
    """What the trainer needs of a phase besides ``forward(batch) -> {"loss", ...}`` (an abstract base: every phase
    defines both methods)."""

    @abstractmethod
    def parameter_groups(self) -> list[dict]:
        """The optimiser's parameter groups, each with its learning-rate factor ``lr_mult``."""

    @abstractmethod
    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """The modules a checkpoint holds, by name."""


class WarmStartPhase(Phase):
    """Phase 1: ``forward(batch) -> {"loss", "l1"}``."""

    def __init__(self, fusion_net: nn.Module, rule: str):
        super().__init__()
        self.fusion_net, self.rule = fusion_net, rule

    def forward(self, batch: dict) -> dict[str, Tensor]:
        ir, vis_y = batch["ir"], luminance(batch["vis"])
        loss = warm_start_loss(self.fusion_net(ir, vis_y), ir, vis_y, self.rule)
        return {"loss": loss, "l1": loss.detach()}

    def parameter_groups(self) -> list[dict]:
        return [{"params": list(self.fusion_net.parameters()), "lr_mult": 1.0}]

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"fusion_net": self.fusion_net}


class SemanticPhase(Phase):
    """Phase 2: ``forward(batch) -> {"loss", "sem", "reg"}``; ``sem`` and ``reg`` are logged even when left out.

    Without a segmenter (``segmenter=None``, "w/o L_sem") the fusion network learns from ``λ L_reg`` alone;
    ``use_reg=False`` leaves ``L_reg`` out ("w/o L_reg"). With ``anchor_weight`` μ > 0 (not in the paper) the loss adds
    ``μ |N_F − anchor_rule(ir, vis_Y)|`` (logged as ``anchor``), and ``fusion_lr_mult`` scales the fusion network's
    learning rate. ``correlation`` is the regulariser's mode (image | batch), ``excluded_classes`` the class ids
    left out of ``L_sem``, ``head_lr_mult`` the decode head's learning-rate factor.
    """

    class_weight: Tensor | None  # a buffer

    def __init__(self, fusion_net: nn.Module, segmenter: Segmenter | None, *, use_reg: bool, reg_weight: float,
                 correlation: str, anchor_weight: float, anchor_rule: str, excluded_classes: Sequence[int],
                 fusion_lr_mult: float, head_lr_mult: float, class_weight: Tensor | None = None):
        super().__init__()
        if segmenter is None and not use_reg:
            raise InputError("the semantic phase needs L_sem or L_reg; both are switched off")
        self.fusion_net, self.segmenter = fusion_net, segmenter
        self.use_reg, self.reg_weight, self.correlation = use_reg, reg_weight, correlation
        self.anchor_weight, self.anchor_rule, self.excluded_classes = anchor_weight, anchor_rule, list(excluded_classes)
        self.fusion_lr_mult, self.head_lr_mult = fusion_lr_mult, head_lr_mult
        self.register_buffer("class_weight", class_weight, persistent=False)

    def fuse(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        """(fused luminance, visible luminance, fused RGB) for a batch."""
        vis_y = luminance(batch["vis"])
        fused_y = self.fusion_net(batch["ir"], vis_y)
        return fused_y, vis_y, restore_colour(fused_y, batch["vis"])

    def forward(self, batch: dict) -> dict[str, Tensor]:
        fused_y, vis_y, fused_rgb = self.fuse(batch)
        reg = correlation_regulariser(fused_y, batch["ir"], vis_y, self.correlation)
        losses = {"reg": reg.detach()}
        total = self.reg_weight * reg if self.use_reg else None
        if self.anchor_weight > 0:
            anchor = warm_start_loss(fused_y, batch["ir"], vis_y, self.anchor_rule)
            losses["anchor"] = anchor.detach()
            total = self.anchor_weight * anchor if total is None else total + self.anchor_weight * anchor
        if self.segmenter is not None:
            sem = semantic_loss(self.segmenter(fused_rgb), batch["label"], self.excluded_classes,
                                weight=self.class_weight)
            losses["sem"] = sem.detach()
            total = sem if total is None else sem + total
        assert total is not None  # the constructor refuses a phase with neither L_sem nor L_reg
        losses["loss"] = total
        return losses

    def parameter_groups(self) -> list[dict]:
        groups = [{"params": list(self.fusion_net.parameters()), "lr_mult": self.fusion_lr_mult}]
        if self.segmenter is not None:
            groups += [
                {"params": self.segmenter.backbone_parameters(), "lr_mult": 1.0},
                {"params": self.segmenter.head_parameters(), "lr_mult": self.head_lr_mult},
            ]
        return groups

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        modules = {"fusion_net": self.fusion_net}
        if self.segmenter is not None:
            modules["segmenter"] = self.segmenter
        return modules


class ReconstructionPhase(Phase):
    """DenseFuse training: the auto-encoder reconstructs the infrared and the visible luminance of each crop,
    ``L = L_p + λ L_ssim`` over the 2B grey images: ``forward(batch) -> {"loss"}``."""

    def __init__(self, autoencoder: nn.Module, ssim_weight: float):
        super().__init__()
        self.autoencoder, self.ssim_weight = autoencoder, ssim_weight

    def forward(self, batch: dict) -> dict[str, Tensor]:
        images = torch.cat([batch["ir"], luminance(batch["vis"])])  # (2B, 1, H, W)
        return {"loss": reconstruction_loss(self.autoencoder(images), images, self.ssim_weight)}

    def parameter_groups(self) -> list[dict]:
        return [{"params": list(self.autoencoder.parameters()), "lr_mult": 1.0}]

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"autoencoder": self.autoencoder}


class SegmentationPhase(Phase):
    """The segmentation protocol: SegFormer-b0 alone on one method's fused RGB images, ``L = CE``:
    ``forward(batch) -> {"loss"}`` with ``batch["image"]`` (B, 3, H, W) and ``batch["label"]`` (B, H, W)."""

    class_weight: Tensor | None  # a buffer

    def __init__(self, segmenter: Segmenter, head_lr_mult: float, class_weight: Tensor | None = None):
        super().__init__()
        self.segmenter, self.head_lr_mult = segmenter, head_lr_mult
        self.register_buffer("class_weight", class_weight, persistent=False)

    def forward(self, batch: dict) -> dict[str, Tensor]:
        return {"loss": semantic_loss(self.segmenter(batch["image"]), batch["label"], weight=self.class_weight)}

    def parameter_groups(self) -> list[dict]:
        return [{"params": self.segmenter.backbone_parameters(), "lr_mult": 1.0},
                {"params": self.segmenter.head_parameters(), "lr_mult": self.head_lr_mult}]

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"segmenter": self.segmenter}


class SegmenterWarmupPhase(SegmentationPhase):
    """SegFormer-b0 alone on the fused images of a frozen fusion network (no gradient reaches it), before the joint
    phase: ``forward(batch) -> {"loss"}`` with ``batch["ir"]`` and ``batch["vis"]`` as in the semantic phase."""

    def __init__(self, fusion_net: nn.Module, segmenter: Segmenter, head_lr_mult: float,
                 class_weight: Tensor | None = None):
        super().__init__(segmenter, head_lr_mult, class_weight)
        self.fusion_net = fusion_net.requires_grad_(False)

    def forward(self, batch: dict) -> dict[str, Tensor]:
        with torch.no_grad():
            fused_rgb = restore_colour(self.fusion_net(batch["ir"], luminance(batch["vis"])), batch["vis"])
        return super().forward({"image": fused_rgb, "label": batch["label"]})

    def train(self, mode: bool = True) -> "SegmenterWarmupPhase":
        super().train(mode)
        self.fusion_net.eval()  # frozen: its normalisation layers keep their statistics
        return self


def build_optimizer(phase: Phase, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the phase's parameter groups; each group keeps its ``lr_mult`` for the schedule."""
    groups = [{**group, "lr": lr * group["lr_mult"]} for group in phase.parameter_groups()]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
