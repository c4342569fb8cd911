"""Table I layout: columns from the data's classes, mean ± std over seeds, best mean in bold."""

import math
from types import SimpleNamespace

from semfuse.data.classes import MFNET_CLASSES
from semfuse.report.segmentation import (
    aggregate_seeds,
    segmentation_table_csv,
    segmentation_table_markdown,
    table_classes,
)

BOXES = ("background", "person", "bicycle", "car")


def _scores(miou, person, car, bicycle=math.nan):
    iou = {"background": 0.9, "person": person, "bicycle": bicycle, "car": car}
    return {"IoU": iou, "Acc": dict(iou), "mIoU": miou, "mAcc": miou, "aAcc": 0.9}


def _result(*runs):
    mean, std = aggregate_seeds(list(runs))
    return SimpleNamespace(mean=mean, std=std, seeds=dict(enumerate(runs)), train_images=240, test_images=60)


def test_columns_follow_the_classes():
    assert table_classes(MFNET_CLASSES) == ["car", "person", "bike", "curve", "car_stop", "color_cone", "bump"]
    assert table_classes(BOXES) == ["person", "bicycle", "car"]


def test_mean_std_bold_and_absent_classes():
    results = {"a": _result(_scores(0.40, 0.10, 0.30), _scores(0.50, 0.20, 0.50)),
               "b": _result(_scores(0.30, 0.40, 0.20), _scores(0.30, 0.40, 0.20))}
    table = segmentation_table_markdown(results, BOXES, "val").splitlines()
    assert table[0] == ("| Method | Person Acc | Person IoU | Bicycle Acc | Bicycle IoU | Car Acc | Car IoU | mAcc | "
                        "mIoU |")
    # a: person (0.10 + 0.20) / 2 = 15.00 ± 5.00, car 40.00 ± 10.00 (best), mIoU 45.00 ± 5.00 (best); bicycle absent
    assert table[2] == ("| a | 15.00 ± 5.00 | 15.00 ± 5.00 | – | – | **40.00 ± 10.00** | **40.00 ± 10.00** | "
                        "**45.00 ± 5.00** | **45.00 ± 5.00** |")
    assert table[3].startswith("| b | **40.00 ± 0.00** |")
    assert "mean ± std over 2 seeds" in "\n".join(table) and "val split" in "\n".join(table)
    csv = segmentation_table_csv(results, BOXES).splitlines()
    assert csv[1].startswith("a,2,240,60,0.450000,0.050000,0.450000,0.050000")
