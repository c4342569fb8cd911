"""The rows of the proxy Table II and what ``results/`` holds: the table in the paper's layout (Markdown + CSV), the
fusion metrics of each row, the Fig. 7-style images, each row's logs and configs, and the compute used."""

import csv
import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from semfuse.report.segmentation import aggregate_seeds

METRICS = ("SF", "AG", "MI", "VIF", "Qabf")


@dataclass(frozen=True)
class RowSpec:
    label: str
    group: str  # Table II's Structure / Strategy, Fig. 7's semantic loss, or a reference
    ablation: str | None  # configs/ablations/NAME.yaml, None: the full method as it is
    paper: tuple[float, float, float] | None = None  # Table II: Car IoU, Person IoU, mIoU (MFNet, %)
    trained: bool = True  # False: the bundled warm start, no joint phase
    overrides: tuple[str, ...] = ()  # KEY=VALUE added to the row's joint phase (the training-seed rows)


# The order in which the driver runs them: the full method, the rows that need no warm start of their own (16-33
# minutes each on the 2-core CPU, results/compute.md), the warm start alone (a reference, about 13), the rows that
# train their own warm start (41-59), then Ours with two more training seeds (about 25 each).
ROWS = {
    "ours": RowSpec("Ours (Ave-ST)", "", None, (85.30, 71.65, 54.61)),
    "wo_ws": RowSpec("w/o WS", "Strategy", "wo_ws", (84.43, 70.91, 51.02)),
    "max_st": RowSpec("Max-ST", "Strategy", "max_st", (85.66, 71.90, 53.70)),
    "wo_reg": RowSpec("w/o L_reg", "Strategy", "wo_reg", (85.05, 71.28, 53.40)),
    "wo_sem": RowSpec("w/o L_sem", "Fig. 7", "wo_sem"),
    "wo_person": RowSpec("w/o Person", "Fig. 7", "wo_person"),
    "wo_car": RowSpec("w/o Car", "Fig. 7", "wo_car"),
    "wo_car_person": RowSpec("w/o Car & Person", "Fig. 7", "wo_car_person"),
    "ave": RowSpec("Ave (warm start alone)", "reference", None, trained=False),
    "wo_sla": RowSpec("w/o SLA", "Structure", "wo_sla", (85.11, 71.25, 53.21)),
    "cha": RowSpec("CHA", "Structure", "cha", (84.37, 71.53, 53.48)),
    "spa": RowSpec("SPA", "Structure", "spa", (84.90, 71.30, 53.78)),
    "official_attention": RowSpec("official attention", "Structure (not in the paper)", "official_attention"),
    # Ours again with another seed for the joint phase (segmenter initialisation, crops, order; the same bundled warm
    # start): the spread of fusion training itself, which the protocol seeds of one row do not see.
    "ours_seed1": RowSpec("Ours, training seed 1", "reference", None, overrides=("seed=1",)),
    "ours_seed2": RowSpec("Ours, training seed 2", "reference", None, overrides=("seed=2",)),
}
TRAINING_SEEDS = {"ours": 0, "ours_seed1": 1, "ours_seed2": 2}  # the rows of Ours by the seed of their joint phase


def row_scores(out: Path, name: str) -> dict | None:
    """{"seeds", "mean", "std"} of a row's protocol runs (population std over seeds, as the proxy Table I), or None."""
    runs = {}
    for path in sorted((out / "segeval" / name).glob("seed*/scores.json")):
        result = json.loads(path.read_text())["methods"][name]
        runs |= {int(seed): scores for seed, scores in result["seeds"].items()}
    if not runs:
        return None
    mean, std = aggregate_seeds([runs[seed] for seed in sorted(runs)])
    return {"seeds": sorted(runs), "mean": mean, "std": std}


def compare(row: dict, ours: dict | None) -> tuple[float | None, str]:
    """(mIoU difference to the full method in points, whether it exceeds 2 x the larger of the two stds)."""
    if ours is None or row is ours:
        return None, ""
    delta = 100 * (row["mean"]["mIoU"] - ours["mean"]["mIoU"])
    needed = 200 * max(row["std"]["mIoU"], ours["std"]["mIoU"])
    if len(row["seeds"]) < 2 or len(ours["seeds"]) < 2:
        return delta, "one seed"
    return delta, (("yes, lower" if delta < 0 else "yes, higher") if abs(delta) > needed else "no")


def _pm(scores: dict, *keys: str) -> str:
    mean, std = scores["mean"], scores["std"]
    for key in keys:
        mean, std = mean[key], std[key]
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def table_rows(out: Path) -> list[dict]:
    """One record per row of ROWS, done or not, with everything the Markdown and CSV tables show."""
    scores = {name: row_scores(out, name) for name in ROWS}
    records = []
    for name, spec in ROWS.items():
        result = scores[name]
        delta, exceeds = compare(result, scores["ours"]) if result else (None, "")
        paper_delta = round(spec.paper[2] - ROWS["ours"].paper[2], 2) if spec.paper and name != "ours" else None
        record = {"row": name, "label": spec.label, "group": spec.group, "seeds": len(result["seeds"]) if result else 0,
                  "paper_car": spec.paper[0] if spec.paper else None,
                  "paper_person": spec.paper[1] if spec.paper else None,
                  "paper_miou": spec.paper[2] if spec.paper else None, "paper_delta": paper_delta,
                  "delta_miou": None if delta is None else round(delta, 2), "exceeds_2std": exceeds}
        for key, path in (("car", ("IoU", "car")), ("person", ("IoU", "person")), ("miou", ("mIoU",))):
            for stat in ("mean", "std"):
                value = result[stat] if result else None
                for part in path:
                    value = value[part] if value is not None else None
                record[f"{key}_{stat}"] = None if value is None else round(100 * value, 2)
        record["text"] = {key: _pm(result, *path) if result else "not run yet"
                          for key, path in (("person", ("IoU", "person")), ("car", ("IoU", "car")),
                                            ("miou", ("mIoU",)))}
        records.append(record)
    return records


def training_spread(records: list[dict]) -> str | None:
    """A sentence on Ours' mIoU over the seeds of its joint phase (each the mean over the protocol seeds), with their
    mean and population std, or None while fewer than two of them are measured."""
    mious = {TRAINING_SEEDS[r["row"]]: r["miou_mean"] for r in records
             if r["row"] in TRAINING_SEEDS and r["miou_mean"] is not None}
    if len(mious) < 2:
        return None
    values = [mious[seed] for seed in sorted(mious)]
    mean, std = statistics.fmean(values), statistics.pstdev(values)
    return (f"Ours over training seeds {', '.join(map(str, sorted(mious)))} (the joint phase's `seed`; each the mean "
            f"over the protocol seeds): mIoU {', '.join(f'{v:.2f}' for v in values)}, that is {mean:.2f} ± {std:.2f}. "
            "The protocol seeds of one row do not see this spread.")


def _fmt(value, pattern: str = "{:+.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def to_markdown(records: list[dict], seeds: list[int]) -> str:
    lines = [
        f"Proxy Table II: SegFormer-b0 from scratch on each row's fused half-resolution MSRS-boxes `train` images, "
        f"scored on `val` (60 pairs); IoU in %, mean ± std over seeds {', '.join(map(str, seeds))}. "
        "Δ: mIoU minus Ours; **> 2σ**: whether |Δ| exceeds twice the larger std of the two. Paper: Table II on MFNet "
        "(9-class label maps, 160k iterations), for reference; its Δ is to its Ours (54.61).",
        "",
        "| group | row | Car IoU | Person IoU | mIoU | Δ | > 2σ | paper Car | paper Person | paper mIoU | paper Δ |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in records:
        text = r["text"]
        lines.append(f"| {r['group']} | {r['label']} | {text['car']} | {text['person']} | {text['miou']} | "
                     f"{_fmt(r['delta_miou'])} | {r['exceeds_2std'] or '–'} | {_fmt(r['paper_car'], '{:.2f}')} | "
                     f"{_fmt(r['paper_person'], '{:.2f}')} | {_fmt(r['paper_miou'], '{:.2f}')} | "
                     f"{_fmt(r['paper_delta'])} |")
    spread = training_spread(records)
    return "\n".join(lines + (["", spread] if spread else [])) + "\n"


def write_csv(path: Path, records: list[dict]) -> None:
    fields = [key for key in records[0] if key != "text"]
    with open(path, "w", newline="") as sink:
        writer = csv.DictWriter(sink, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def fusion_metrics(out: Path) -> list[dict]:
    """Mean of SF, AG, MI, VIF, Qabf over the 60 full-resolution val pairs, for each row that has them."""
    records = []
    for name, spec in ROWS.items():
        summary = out / "metrics" / name / "summary.csv"
        if not summary.exists():
            continue
        with open(summary, newline="") as source:
            row = next(r for r in csv.DictReader(source) if r["method"] == name)
        records.append({"row": name, "label": spec.label, "n": int(row["n"]),
                        **{metric: round(float(row[f"{metric}_mean"]), 4) for metric in METRICS}})
    return records


def metrics_markdown(records: list[dict]) -> str:
    lines = ["Fusion metrics of each row on the 60 full-resolution MSRS-boxes `val` pairs (mean; `semfuse evaluate`, "
             "MATLAB-matched definitions).", "",
             f"| row | {' | '.join(METRICS)} |", f"|---|{'---:|' * len(METRICS)}"]
    for r in records:
        lines.append(f"| {r['label']} | " + " | ".join(f"{r[m]:.3f}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(records: list[dict], quality: list[dict]) -> str:
    """The measured rows only, segmentation beside image quality: the table the README shows."""
    metrics = {record["row"]: record for record in quality}
    lines = ["| row | Car IoU | Person IoU | mIoU | Δ | > 2σ | paper Δ | SF | AG | MI | VIF | Qabf |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if not r["seeds"]:
            continue
        values = " | ".join(f"{metrics[r['row']][m]:.3f}" if r["row"] in metrics else "–" for m in METRICS)
        lines.append(f"| {r['label']} | {r['text']['car']} | {r['text']['person']} | {r['text']['miou']} | "
                     f"{_fmt(r['delta_miou'])} | {r['exceeds_2std'] or '–'} | {_fmt(r['paper_delta'])} | {values} |")
    spread = training_spread(records)
    return "\n".join(lines + (["", spread] if spread else [])) + "\n"


def figure_pair(data: Path) -> str:
    """The val pair with the most person and car boxes (ties: the first by name): Fig. 7's example."""
    from semfuse.data.boxes import read_class_list

    classes = read_class_list(data / "classes.txt")
    wanted = {str(i) for i, name in enumerate(classes) if name in ("person", "car")}
    counts = {}
    for path in sorted((data / "val" / "boxes").glob("*.txt")):
        counts[path.stem] = sum(1 for line in path.read_text().splitlines() if line.split()[:1]
                                and line.split()[0] in wanted)
    return max(counts, key=lambda stem: (counts[stem], -sorted(counts).index(stem)))


TILE = (320, 240)


def write_tile(out: Path, data: Path, results: Path, name: str) -> None:
    """``results/rows/ROW/fig7_tile.png``: the row's fused image of Fig. 7's pair at 320x240, kept with the results
    so that the figure can be redrawn on a machine without the row's fused images."""
    from PIL import Image

    fused = out / "val_full" / name / f"{figure_pair(data)}.png"
    target = results / "rows" / name / "fig7_tile.png"
    if fused.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(fused) as image:
            image.convert("RGB").resize(TILE, Image.Resampling.BOX).save(target)


def write_figure(data: Path, results: Path) -> bool:
    """Fig. 7-style grid (``results/fig7.png``): the sources of one val pair, then each measured row's fused image
    (its tile), labelled."""
    from PIL import Image, ImageDraw

    stem = figure_pair(data)
    tiles = {"infrared": next((data / "val" / "ir").glob(f"{stem}.*")),
             "visible": next((data / "val" / "vi").glob(f"{stem}.*"))}
    tiles |= {ROWS[name].label: results / "rows" / name / "fig7_tile.png" for name in ROWS
              if (results / "rows" / name / "fig7_tile.png").exists()}
    if len(tiles) == 2:
        return False
    columns, caption = 4, 22
    canvas = Image.new("RGB", (columns * TILE[0], -(-len(tiles) // columns) * (TILE[1] + caption)), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (label, path) in enumerate(tiles.items()):
        x, y = index % columns * TILE[0], index // columns * (TILE[1] + caption)
        with Image.open(path) as image:
            canvas.paste(image.convert("RGB").resize(TILE, Image.Resampling.BOX), (x, y + caption))
        draw.text((x + 6, y + 5), label, fill="black")
    target = results / "fig7.png"
    partial = target.with_suffix(".part.png")
    canvas.save(partial)
    partial.replace(target)
    (results / "fig7.md").write_text(f"Fig. 7-style comparison on the val pair `{stem}` (the one with the most person "
                                     "and car boxes), fused at full resolution, shown at 320×240.\n")
    return True


def read_compute(out: Path) -> dict:
    """``compute.json`` of the working folder: wall seconds of each step of each row, summed over sessions."""
    path = out / "compute.json"
    return json.loads(path.read_text()) if path.exists() else {}


def restore(out: Path, results: Path, name: str) -> None:
    """Put a row's committed results back where the driver looks for them (each seed's ``scores.json``, the
    metrics' ``summary.csv``, its wall times in ``compute.json``), so that a row measured on another machine or in
    another session is not redone and keeps its place in the tables."""
    kept = results / "rows" / name
    for scores in kept.glob("segeval_seed*_scores.json"):
        seed = scores.name.removeprefix("segeval_").removesuffix("_scores.json")
        target = out / "segeval" / name / seed / "scores.json"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(scores, target)
    target = out / "metrics" / name / "summary.csv"
    if (kept / "metrics_summary.csv").exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept / "metrics_summary.csv", target)
    compute = read_compute(out)
    if (kept / "compute.json").exists() and name not in compute:  # the wall times of the session that measured it
        compute[name] = json.loads((kept / "compute.json").read_text())
        out.mkdir(parents=True, exist_ok=True)
        (out / "compute.json").write_text(json.dumps(compute, indent=1))


# Each training run of a row: the prefix of its files in results/rows/ROW/, its folder under the working folder, and
# the config keys of its schedule.
RUN_FILES = {
    "warm_start_": ("warm_start/{name}", ("warm_start",)),
    "segmenter_warmup_": ("train/{name}/segmenter-warmup", ("semantic", "segmenter_warmup")),
    "train_": ("train/{name}", ("semantic",)),
}


def run_file(out: Path, results: Path, name: str, prefix: str, file: str) -> Path:
    """A training run's ``config.yaml`` or ``log.jsonl``: in the working folder while the row runs there, else the
    copy kept in ``results/rows/ROW/`` (a row measured in another session)."""
    live = out / RUN_FILES[prefix][0].format(name=name) / file
    return live if live.exists() else results / "rows" / name / f"{prefix}{file}"


def copy_run_files(out: Path, results: Path) -> None:
    """Each row's configs, logs, per-seed scores, metrics summary and wall times (no weights or images) under
    ``results/rows/ROW/``."""
    compute = read_compute(out)
    for name in ROWS:
        if row_scores(out, name) is None:  # a row in progress: its files come with its first protocol result
            continue
        target = results / "rows" / name
        sources = {}
        for prefix in RUN_FILES:
            for file in ("config.yaml", "log.jsonl"):
                sources[f"{prefix}{file}"] = run_file(out, results, name, prefix, file)
        sources["metrics_summary.csv"] = out / "metrics" / name / "summary.csv"
        for seed_dir in sorted((out / "segeval" / name).glob("seed*")):
            sources[f"segeval_{seed_dir.name}_scores.json"] = seed_dir / "scores.json"
            for file in ("config.yaml", "log.jsonl"):
                sources[f"segeval_{seed_dir.name}_{file}"] = seed_dir / "runs" / name / seed_dir.name / file
        for file, source in sources.items():
            if source.exists() and source != target / file:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / file)
        if name in compute:
            target.mkdir(parents=True, exist_ok=True)
            (target / "compute.json").write_text(json.dumps(compute[name], indent=1) + "\n")


def logged_minutes(config_path: Path, log_path: Path, stage: tuple[str, ...]) -> float:
    """Minutes of a training stage at its typical speed: iterations done x batch / the median logged crops/s (robust
    to the intervals when the run was paused or shared the machine). 0 when it has no log."""
    if not log_path.exists() or not config_path.exists():
        return 0.0
    config = yaml.safe_load(config_path.read_text())
    for key in stage:
        config = config[key]
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    rates = sorted(entry["crops_per_s"] for entry in entries if entry.get("crops_per_s"))
    if not rates:
        return 0.0
    return max(entry["iteration"] for entry in entries) * config["batch_size"] / rates[len(rates) // 2] / 60


def compute_markdown(out: Path, results: Path) -> str:
    """Minutes of each step of each row on this machine: training from its median logged crops/s, the protocol and
    the metrics as wall time (``compute.json``, summed over sessions; a row measured in another session from the
    copies in ``results/rows/``)."""
    compute = read_compute(out)
    lines = ["Minutes per row and step on the 2-core CPU: training (the row's own warm start; the segmenter warm-up "
             "and the joint phase) as iterations x batch / the median logged crops/s, the protocol (fusing the "
             "half-resolution pairs, three segeval runs) and the metrics (fusing and scoring the full-resolution val "
             "pairs) as wall time.", "",
             "| row | warm start | train | protocol | metrics | total |", "|---|---:|---:|---:|---:|---:|"]
    for name, spec in ROWS.items():
        logged = {prefix: logged_minutes(run_file(out, results, name, prefix, "config.yaml"),
                                         run_file(out, results, name, prefix, "log.jsonl"), stage)
                  for prefix, (_, stage) in RUN_FILES.items()}
        minutes = [logged["warm_start_"], logged["segmenter_warmup_"] + logged["train_"],
                   compute.get(name, {}).get("protocol", 0.0) / 60, compute.get(name, {}).get("metrics", 0.0) / 60]
        if row_scores(out, name) is not None:
            lines.append(f"| {spec.label} | " + " | ".join(f"{m:.1f}" for m in minutes) + f" | {sum(minutes):.1f} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: Path, data: Path, seeds: list[int]) -> None:
    """Everything under ``results/`` from what ``out`` holds now."""
    results.mkdir(parents=True, exist_ok=True)
    records = table_rows(out)
    (results / "table.md").write_text(to_markdown(records, seeds))
    write_csv(results / "table.csv", records)
    quality = fusion_metrics(out)
    if quality:
        (results / "fusion_metrics.md").write_text(metrics_markdown(quality))
        write_csv(results / "fusion_metrics.csv", quality)
    (results / "summary.md").write_text(summary_markdown(records, quality))
    copy_run_files(out, results)
    for name in ROWS:
        write_tile(out, data, results, name)
    write_figure(data, results)
    (results / "compute.md").write_text(compute_markdown(out, results))
    if (out / "compute.json").exists():
        shutil.copyfile(out / "compute.json", results / "compute.json")
