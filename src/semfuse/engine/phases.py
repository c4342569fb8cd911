"""The meta-architecture of each training phase: what one batch costs, and which parameters learn at which rate.

* :class:`WarmStartPhase` (paper eq. 1): the fusion network alone, ``L_WS = |N_F(ir, vis_Y) − rule(ir, vis_Y)|``.
* :class:`SemanticPhase` (paper eq. 2): ``L_ST = L_sem(N_S(rgb(N_F(ir, vis_Y))), label) + λ L_reg``, where rgb()
  puts the visible chroma back on the fused luminance. Each ablation switch removes exactly what it names.
* :class:`SegmenterWarmupPhase` (optional, before the joint phase): N_S alone on the frozen N_F's fused images.
* :class:`SegmentationPhase`: N_S alone on one method's fused images (the segmentation protocol).
* :class:`ReconstructionPhase`: the DenseFuse baseline's auto-encoder.

Every phase is a module with ``forward(batch) -> {"loss", ...}``, ``parameter_groups()`` (each group with its
``lr_mult``) and ``checkpoint_modules()``.
"""

import torch
from torch import Tensor, nn

from semfuse.config import SemanticConfig
from semfuse.data.colour import luminance, restore_colour
from semfuse.losses.correlation import correlation_regulariser
from semfuse.losses.reconstruction import reconstruction_loss
from semfuse.losses.semantic import semantic_loss
from semfuse.losses.warm_start import warm_start_loss


class WarmStartPhase(nn.Module):
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


class SemanticPhase(nn.Module):
    """Phase 2: ``forward(batch) -> {"loss", "sem", "reg"}``; ``sem`` and ``reg`` are logged even when left out.

    With ``use_sem=False`` there is no segmenter: the fusion network learns from ``λ L_reg`` alone. With
    ``anchor_weight`` μ > 0 (not in the paper) the loss adds ``μ |N_F − anchor_rule(ir, vis_Y)|`` (logged as
    ``anchor``), and ``fusion_lr_mult`` scales the fusion network's learning rate.
    """

    def __init__(self, fusion_net: nn.Module, segmenter: nn.Module | None, config: SemanticConfig,
                 class_weight: Tensor | None = None):
        super().__init__()
        if not config.use_sem and not config.use_reg:
            raise ValueError("the semantic phase needs L_sem or L_reg; both are switched off")
        self.fusion_net, self.segmenter, self.config = fusion_net, segmenter, config
        self.register_buffer("class_weight", class_weight, persistent=False)

    def fuse(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        """(fused luminance, visible luminance, fused RGB) for a batch."""
        vis_y = luminance(batch["vis"])
        fused_y = self.fusion_net(batch["ir"], vis_y)
        return fused_y, vis_y, restore_colour(fused_y, batch["vis"])

    def forward(self, batch: dict) -> dict[str, Tensor]:
        config = self.config
        fused_y, vis_y, fused_rgb = self.fuse(batch)
        reg = correlation_regulariser(fused_y, batch["ir"], vis_y, config.correlation)
        losses = {"reg": reg.detach()}
        total = config.reg_weight * reg if config.use_reg else None
        if config.anchor_weight > 0:
            anchor = warm_start_loss(fused_y, batch["ir"], vis_y, config.anchor_rule)
            losses["anchor"] = anchor.detach()
            total = config.anchor_weight * anchor if total is None else total + config.anchor_weight * anchor
        if config.use_sem:
            sem = semantic_loss(self.segmenter(fused_rgb), batch["label"], config.excluded_classes,
                                weight=self.class_weight)
            losses["sem"] = sem.detach()
            total = sem if total is None else sem + total
        losses["loss"] = total
        return losses

    def parameter_groups(self) -> list[dict]:
        groups = [{"params": list(self.fusion_net.parameters()), "lr_mult": self.config.fusion_lr_mult}]
        if self.segmenter is not None:
            groups += [
                {"params": self.segmenter.backbone_parameters(), "lr_mult": 1.0},
                {"params": self.segmenter.head_parameters(), "lr_mult": self.config.head_lr_mult},
            ]
        return groups

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        modules = {"fusion_net": self.fusion_net}
        if self.segmenter is not None:
            modules["segmenter"] = self.segmenter
        return modules


class ReconstructionPhase(nn.Module):
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


class SegmentationPhase(nn.Module):
    """The segmentation protocol: SegFormer-b0 alone on one method's fused RGB images, ``L = CE``:
    ``forward(batch) -> {"loss"}`` with ``batch["image"]`` (B, 3, H, W) and ``batch["label"]`` (B, H, W)."""

    def __init__(self, segmenter: nn.Module, head_lr_mult: float, class_weight: Tensor | None = None):
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

    def __init__(self, fusion_net: nn.Module, segmenter: nn.Module, head_lr_mult: float,
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


def build_optimizer(phase: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the phase's parameter groups; each group keeps its ``lr_mult`` for the schedule."""
    groups = [{**group, "lr": lr * group["lr_mult"]} for group in phase.parameter_groups()]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
