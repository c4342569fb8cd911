"""The segmentation network N_S: SegFormer-b0 from Hugging Face ``transformers``, built from scratch by default.

Input: the fused image in RGB (fused luminance + visible chroma), (B, 3, H, W) in [0, 1]. It is normalised by
``normalisation``: ``imagenet`` (default; subtract mean (0.485, 0.456, 0.406), divide by std (0.229, 0.224, 0.225),
SegFormer's own preprocessing) or ``none`` (only the [0, 1] scaling, as the authors' code feeds it).
Output: logits (B, num_classes, H, W), bilinearly up-sampled from SegFormer's 1/4 resolution.
"""

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semfuse.checks import check_tensors
from semfuse.constants import IGNORE_INDEX
from semfuse.errors import InputError, SemfuseError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALISATIONS = ("imagenet", "none")


def segformer_b0_config(num_classes: int):
    """The SegFormer-b0 (MiT-b0 encoder, 256-channel all-MLP decoder) configuration for ``num_classes``."""
    from transformers import SegformerConfig

    return SegformerConfig(  # type: ignore[call-arg]  # num_labels is a PretrainedConfig keyword
        num_labels=num_classes,
        num_channels=3,
        num_encoder_blocks=4,
        depths=[2, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[32, 64, 160, 256],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        num_attention_heads=[1, 2, 5, 8],
        mlp_ratios=[4, 4, 4, 4],
        decoder_hidden_size=256,
        semantic_loss_ignore_index=IGNORE_INDEX,
    )


@dataclass
class SegmenterConfig:
    """What a segmenter is: the label classes it predicts (class id = position) and its input normalisation."""

    class_names: tuple[str, ...]  # one name per class id, e.g. ("background", "person", "bicycle", "car")
    normalisation: str = "imagenet"  # imagenet (mean/std) | none ([0, 1] only)

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)  # JSON gives a list

    def validate(self) -> None:
        """Raise InputError (a ValueError) for fewer than one class or an unknown normalisation."""
        if not self.class_names or not all(isinstance(name, str) for name in self.class_names):
            raise InputError(f"class_names must be a non-empty list of names, not {self.class_names!r}")
        if self.normalisation not in NORMALISATIONS:
            raise InputError(f"unknown normalisation {self.normalisation!r}; choose one of: "
                             f"{', '.join(NORMALISATIONS)}")

    def to_dict(self) -> dict:
        """The config as plain values (stored as JSON in weights files)."""
        return asdict(self)


class Segmenter(nn.Module):
    """SegFormer-b0 with input normalisation and full-resolution logits; ``config`` names its classes.

    ``class_names`` defaults to ``class_0 .. class_{K-1}`` for ``num_classes`` K.
    """

    mean: Tensor  # (1, 3, 1, 1) ImageNet mean, a buffer
    std: Tensor  # (1, 3, 1, 1) ImageNet std, a buffer

    def __init__(self, num_classes: int = 9, normalisation: str = "imagenet",
                 class_names: Sequence[str] | None = None):
        super().__init__()
        from transformers import SegformerForSemanticSegmentation

        names = tuple(class_names) if class_names is not None else tuple(f"class_{k}" for k in range(num_classes))
        if len(names) != num_classes:
            raise InputError(f"{len(names)} class names for a segmenter of {num_classes} classes")
        self.config = SegmenterConfig(names, normalisation)
        self.config.validate()
        self.segformer = SegformerForSemanticSegmentation(segformer_b0_config(num_classes))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: Tensor) -> Tensor:
        check_tensors("Segmenter", {"rgb": rgb}, "(B, 3, H, W)")
        if self.config.normalisation == "imagenet":
            rgb = (rgb - self.mean) / self.std
        logits = self.segformer(pixel_values=rgb).logits  # (B, K, H/4, W/4)
        return F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear", align_corners=False)

    def head_parameters(self) -> list[nn.Parameter]:
        """The decode head's parameters (trained with a 10x learning rate, as SegFormer does)."""
        return list(self.segformer.decode_head.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The MiT-b0 encoder's parameters."""
        return list(self.segformer.segformer.parameters())


def build_segmenter(config: SegmenterConfig) -> Segmenter:
    """A freshly initialised :class:`Segmenter` described by ``config``."""
    return Segmenter(len(config.class_names), config.normalisation, config.class_names)


# Hugging Face checkpoints written before transformers 5 (e.g. the published MiT-b0 / SegFormer-b0 files) name the
# layers differently; these renames map the old names onto the new ones.
_LEGACY_RENAMES = (
    (r"encoder\.patch_embeddings\.(\d+)\.", r"stages.\1.patch_embeddings."),
    (r"encoder\.block\.(\d+)\.", r"stages.\1.blocks."),
    (r"encoder\.layer_norm\.(\d+)", r"stages.\1.layer_norm"),
    (r"attention\.self\.query", "attention.q_proj"),
    (r"attention\.self\.key", "attention.k_proj"),
    (r"attention\.self\.value", "attention.v_proj"),
    (r"attention\.self\.sr", "attention.sequence_reduction.sequence_reduction"),
    (r"attention\.self\.layer_norm", "attention.sequence_reduction.layer_norm"),
    (r"attention\.output\.dense", "attention.o_proj"),
    (r"mlp\.dense1", "mlp.fc1"),
    (r"mlp\.dense2", "mlp.fc2"),
    (r"layer_norm_1", "layernorm_before"),
    (r"layer_norm_2", "layernorm_after"),
    (r"decode_head\.linear_c", "decode_head.linear_projections"),
)


def _renamed(key: str) -> str:
    for pattern, replacement in _LEGACY_RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def load_pretrained(segmenter: Segmenter, path: str | Path) -> tuple[int, int]:
    """Initialise from a local MiT-b0 or SegFormer-b0 checkpoint in the Hugging Face format (``.safetensors``, or
    ``.bin``/``.pth`` read with ``weights_only=True``); no download is attempted. Keys may carry the ``segformer.``
    prefix or not, and may use the layer names of transformers 4 or 5; tensors whose shape differs (e.g. a 150-class
    head) are skipped.

    Returns:
        (tensors loaded, tensors of the model left at their fresh initialisation).
    """
    path = Path(path)
    if not path.is_file():
        raise SemfuseError(f"segmenter checkpoint {path} does not exist; give a local MiT-b0/SegFormer-b0 file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
        state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    target = segmenter.segformer.state_dict()
    matched = {}
    for key, tensor in state.items():
        key = key.removeprefix("module.")
        for candidate in (key, f"segformer.{key}", _renamed(key), f"segformer.{_renamed(key)}"):
            if candidate in target and target[candidate].shape == tensor.shape:
                matched[candidate] = tensor
                break
    if not matched:
        raise SemfuseError(f"{path} shares no tensor with SegFormer-b0; is it a MiT-b0 or SegFormer-b0 checkpoint?")
    segmenter.segformer.load_state_dict(matched, strict=False)
    return len(matched), len(target) - len(matched)
