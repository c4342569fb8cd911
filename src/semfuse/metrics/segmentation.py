"""Segmentation scores from a confusion matrix: per-class accuracy (recall) and IoU, mAcc and mIoU."""

import torch
from torch import Tensor

from semfuse.constants import IGNORE_INDEX
from semfuse.errors import InputError


def confusion_matrix(prediction: Tensor, label: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Counts ``C[t, p]`` of pixels with true class t predicted as p, over pixels whose label is not ignored.

    Args:
        prediction, label: int tensors of one shape, e.g. (B, H, W).

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2).tolist()
        [[1, 1], [0, 1]]
    """
    if prediction.shape != label.shape:
        raise InputError(f"confusion_matrix needs one shape, got {tuple(prediction.shape)} and {tuple(label.shape)}")
    valid = label != ignore_index
    index = label[valid].long() * num_classes + prediction[valid].long()  # (valid pixels,)
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def segmentation_scores(confusion: Tensor, class_names: tuple[str, ...] | None = None) -> dict:
    """Per-class Acc = TP / (TP + FN) and IoU = TP / (TP + FN + FP), and their means over classes present.

    A class with no labelled pixel has Acc and IoU NaN (also where it was predicted) and is left out of mAcc and
    mIoU (as mmsegmentation does).

    Example:
        >>> s = segmentation_scores(torch.tensor([[1, 1], [0, 1]]))
        >>> round(s["mIoU"], 4)  # class 0: 1/2, class 1: 1/2
        0.5
    """
    confusion = confusion.double()
    true_positive = confusion.diag()
    labelled = confusion.sum(dim=1)  # TP + FN
    predicted = confusion.sum(dim=0)  # TP + FP
    accuracy = true_positive / labelled  # NaN where nothing is labelled
    iou = true_positive / (labelled + predicted - true_positive)
    present = labelled > 0
    iou[~present] = float("nan")  # a class absent from the labels has no IoU, even where it was predicted
    names = class_names or tuple(str(k) for k in range(confusion.shape[0]))
    return {
        "Acc": {name: float(value) for name, value in zip(names, accuracy)},
        "IoU": {name: float(value) for name, value in zip(names, iou)},
        "mAcc": float(accuracy[present].mean()) if present.any() else float("nan"),
        "mIoU": float(iou[present].mean()) if present.any() else float("nan"),
        "aAcc": float(true_positive.sum() / confusion.sum()) if confusion.sum() > 0 else float("nan"),
    }
