"""Apply the rule of README.md to the protocol's scores and the val fusion metrics; write the results.

    python experiments/default_weights/decide.py [--runs runs/default_weights] [--out experiments/default_weights/results]

Reads ``RUNS/segeval/scores.json`` (mean ± std over seeds per method) and ``RUNS/metrics/summary.csv`` (``semfuse
evaluate`` on the full-resolution val pairs); writes ``decision.md`` / ``decision.json`` (every candidate, each
condition, the outcome) and copies the tables it decided from.
"""

import argparse
import csv
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPARED = ("average", "max", "gff", "SeAFusion")  # condition 1: every rule-based method and SeAFusion
QUALITY = ("SF", "AG", "MI", "VIF", "Qabf")  # condition 2
CANDIDATES = ("max_st", "max_st_lr01", "max_st_anchor1", "max_st_anchor10", "ave_st_anchor1", "ave_st_lr01")


def read_summary(summary: Path) -> dict[str, dict[str, str]]:
    """``semfuse evaluate``'s summary.csv: one row per method, by method name."""
    with summary.open() as handle:
        return {row["method"]: row for row in csv.DictReader(handle)}


def read_quality(summary: Path) -> dict[str, dict[str, float]]:
    return {name: {key: float(row[f"{key}_mean"]) for key in QUALITY} for name, row in read_summary(summary).items()}


def decide(scores: dict, quality: dict[str, dict[str, float]]) -> dict:
    """Each candidate's conditions and the chosen default (None: no candidate qualifies)."""
    methods = scores["methods"]
    rows = {}
    for name in CANDIDATES:
        if name not in methods:
            continue
        mean, std = methods[name]["mean"]["mIoU"], methods[name]["std"]["mIoU"]
        margins = {}
        for other in COMPARED:
            other_mean, other_std = methods[other]["mean"]["mIoU"], methods[other]["std"]["mIoU"]
            margins[other] = {"difference": mean - other_mean, "needed": 2 * max(std, other_std),
                              "ok": mean - other_mean > 2 * max(std, other_std)}
        at_least_seafusion = [key for key in QUALITY if quality[name][key] >= quality["SeAFusion"][key]]
        below_average = [key for key in QUALITY if quality[name][key] < quality["average"][key]]
        rows[name] = {
            "mIoU": {"mean": mean, "std": std},
            "segmentation": {"margins": margins, "ok": all(margin["ok"] for margin in margins.values())},
            "quality": {"values": quality[name], "at_least_seafusion": at_least_seafusion,
                        "below_average": below_average,
                        "ok": len(at_least_seafusion) >= 3 and not below_average},
        }
    qualified = [name for name, row in rows.items() if row["segmentation"]["ok"] and row["quality"]["ok"]]
    chosen = max(qualified, key=lambda name: rows[name]["mIoU"]["mean"]) if qualified else None
    return {"seeds": scores["seeds"], "candidates": rows, "qualified": qualified, "default": chosen}


def to_markdown(decision: dict, quality: dict[str, dict[str, float]]) -> str:
    lines = [f"Seeds: {', '.join(map(str, decision['seeds']))}. Condition 1: mIoU above each of "
             f"{', '.join(COMPARED)} by more than 2 × the larger std; condition 2: at least SeAFusion on 3 of "
             f"{', '.join(QUALITY)} and at least `average` on all five (full-resolution val).", "",
             "| candidate | mIoU (%) | margin over average / max / gff / SeAFusion (needed) | 1 | "
             + " | ".join(QUALITY) + " | ≥ SeAFusion | < average | 2 |",
             "|---|---:|---|:-:|" + "---:|" * len(QUALITY) + "---|---|:-:|"]
    for name, row in decision["candidates"].items():
        margins = " / ".join(f"{m['difference'] * 100:+.2f} ({m['needed'] * 100:.2f})"
                             for m in row["segmentation"]["margins"].values())
        values = " | ".join(f"{row['quality']['values'][key]:.3f}" for key in QUALITY)
        lines.append(f"| {name} | {row['mIoU']['mean'] * 100:.2f} ± {row['mIoU']['std'] * 100:.2f} | {margins} | "
                     f"{'yes' if row['segmentation']['ok'] else 'no'} | {values} | "
                     f"{', '.join(row['quality']['at_least_seafusion']) or '–'} | "
                     f"{', '.join(row['quality']['below_average']) or '–'} | {'yes' if row['quality']['ok'] else 'no'} |")
    for reference in ("SeAFusion", "average"):
        values = " | ".join(f"{quality[reference][key]:.3f}" for key in QUALITY)
        lines.append(f"| *{reference}* | | | | {values} | | | |")
    outcome = (f"**Decision: `{decision['default']}` becomes the default** (qualified: "
               f"{', '.join(decision['qualified'])})." if decision["default"] else
               "**Decision: no candidate qualifies; the default stays `warm-start`.**")
    return "\n".join(lines + ["", outcome, ""])


LABELS = {"infrared": "infrared only", "visible": "visible only", "SeAFusion": "SeAFusion (published results)",
          "semfuse-warm-start": "semfuse `warm-start` (default)", "semfuse-semantic": "semfuse `semantic-msrs-boxes`"}
SHOWN = {"SD": 1, "SF": 2, "AG": 2, "MI": 2, "VIF": 3, "Qabf": 3}  # metric: decimals shown


def results_table(scores: dict, summary: Path) -> str:
    """One row a method: person / car IoU and mIoU (mean ± std over seeds), and the val fusion metrics."""
    metrics = read_summary(summary)
    lines = ["| method | Person IoU | Car IoU | mIoU | " + " | ".join(f"{key} ↑" for key in SHOWN) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(SHOWN)]
    for name, result in scores["methods"].items():
        mean, std = result["mean"], result["std"]
        cells = [f"{mean['IoU'][cls] * 100:.2f} ± {std['IoU'][cls] * 100:.2f}" for cls in ("person", "car")]
        cells.append(f"{mean['mIoU'] * 100:.2f} ± {std['mIoU'] * 100:.2f}")
        row = metrics.get(name)
        cells += [f"{float(row[f'{key}_mean']):.{digits}f}" if row else "–" for key, digits in SHOWN.items()]
        label = LABELS.get(name, f"candidate `{name}`" if name in CANDIDATES else name)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def stretch_table(summary: Path) -> str:
    """Each method's fusion metrics as written and min–max stretched per image (``fuse --stretch``)."""
    metrics = read_summary(summary)
    keys = ("EN", *SHOWN)
    lines = ["| method | " + " | ".join(f"{key} plain → stretched" for key in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for name, row in metrics.items():
        stretched = metrics.get(f"{name}+stretch")
        if stretched is None:
            continue
        cells = [f"{float(row[f'{key}_mean']):.{SHOWN.get(key, 2)}f} → {float(stretched[f'{key}_mean']):.{SHOWN.get(key, 2)}f}"
                 for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "default_weights")
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "default_weights" / "results")
    args = parser.parse_args()
    scores = json.loads((args.runs / "segeval" / "scores.json").read_text())
    quality = read_quality(args.runs / "metrics" / "summary.csv")
    decision = decide(scores, quality)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decision.json").write_text(json.dumps(decision, indent=2) + "\n")
    (args.out / "decision.md").write_text(to_markdown(decision, quality))
    (args.out / "table.md").write_text(results_table(scores, args.runs / "metrics" / "summary.csv"))
    (args.out / "stretch.md").write_text(stretch_table(args.runs / "metrics" / "summary.csv"))
    for source, target in ((args.runs / "segeval" / "table.md", "protocol_table.md"),
                           (args.runs / "segeval" / "table.csv", "protocol_table.csv"),
                           (args.runs / "segeval" / "scores.json", "protocol_scores.json"),
                           (args.runs / "metrics" / "summary.csv", "fusion_metrics_val.csv"),
                           (args.runs / "metrics" / "summary.md", "fusion_metrics_val.md")):
        shutil.copyfile(source, args.out / target)
    print(to_markdown(decision, quality))


if __name__ == "__main__":
    main()
