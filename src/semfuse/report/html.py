"""The static HTML report of ``semfuse report``: one HTML file plus a ``<name>_files/`` folder of thumbnails.

The page needs no network: styles, script, CDF plots (inline SVG) and the data of the galleries are inside the HTML;
thumbnails are files beside it (see :mod:`semfuse.report.images` for why) and the full-size images are linked where
they lie, or copied into the folder with ``copy_images`` so the report can be moved. Everything is written
atomically, the HTML last, so a reader never opens a page whose thumbnails are not there yet.
"""

import datetime
import logging
import math
import shlex
import sys
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path

from semfuse.data.io import ImageReadError, list_images
from semfuse.errors import SemfuseError
from semfuse.files import atomic_write_text, refuse_existing
from semfuse.report import sections
from semfuse.report.images import ImageJob, browser_can_show, full_size_suffix, overlay_files, relative_url, run_jobs
from semfuse.report.inputs import EvaluationFolder, SegevalFolder, read_evaluation, read_segeval
from semfuse.report.provenance import git_commit, weights_info
from semfuse.report.svg import method_colours
from semfuse.segmentation import class_colour
from semfuse.version import __version__

logger = logging.getLogger("semfuse.report")


@dataclass
class ReportResult:
    """What :func:`write_report` wrote: the HTML file, the image folder and counts for the log."""

    html: Path
    files_dir: Path
    pairs: int = 0
    methods: int = 0
    images: int = 0
    missing: int = 0
    notes: list[str] = field(default_factory=list)


def files_dir_of(html: Path) -> Path:
    """The folder of a report's images: ``report.html`` -> ``report_files/``."""
    return html.with_name(f"{html.stem}_files")


def _listing(folder: str | Path | None) -> dict[str, Path]:
    if not folder:
        return {}
    try:
        return list_images(folder)
    except ImageReadError as error:
        logger.warning("report: %s; its images are left out", error)
        return {}


class _Gallery:
    """Collects the image jobs and the JSON rows of one gallery."""

    def __init__(self, key: str, html: Path, files_dir: Path, copy_images: bool):
        self.key, self.html, self.files_dir, self.copy_images = key, html, files_dir, copy_images
        self.jobs: list[ImageJob] = []
        self.rows: list[dict] = []
        self.slots: list[tuple[dict, int]] = []  # the (row, column) each job fills in

    def add_row(self, name: str, sources: list[Path | None], extra: dict, makers: list | None = None) -> None:
        """A pair's row: one image per column (None: missing); ``makers`` build images instead (overlays)."""
        row = {"name": name, "thumbs": [None] * len(sources), "full": [None] * len(sources), "size": None, **extra}
        for column, source in enumerate(sources):
            make = makers[column] if makers else None
            stem = f"{self.key}{len(self.rows):05d}-{column:02d}"
            full: Path | None
            if make is not None:
                full = self.files_dir / "full" / f"{stem}.jpg"
                shown = source or full
            elif source is not None:
                full = self._full_copy(source, stem)
                shown = source
            else:
                continue
            thumbnail = self.files_dir / "thumbs" / f"{stem}.jpg"
            self.jobs.append(ImageJob(shown, thumbnail, full, make))
            self.slots.append((row, column))
            row["thumbs"][column] = relative_url(thumbnail, self.html.parent)
            row["full"][column] = relative_url(full or shown, self.html.parent)
        self.rows.append(row)

    def _full_copy(self, source: Path, stem: str) -> Path | None:
        """Where a full-size image is copied (or converted) to, or None when the page links the file itself."""
        if self.copy_images or not browser_can_show(source):
            return self.files_dir / "full" / f"{stem}{full_size_suffix(source)}"
        return None

    def finish(self, sizes: list) -> int:
        """Put the measured image sizes into the rows and drop the images that failed; returns how many failed."""
        missing = 0
        for (row, column), size in zip(self.slots, sizes):
            if size is None:
                row["thumbs"][column] = row["full"][column] = None
                missing += 1
            elif row["size"] is None:
                row["size"] = list(size)
        return missing


def _evaluation_gallery(evaluation: EvaluationFolder, gallery: _Gallery, inputs: dict) -> dict:
    ir, vis = _listing(inputs.get("ir")), _listing(inputs.get("vis"))
    fused = {method: _listing(folder) for method, folder in inputs["fused"].items()}
    methods = list(evaluation.scores)
    names = sorted(set(ir) | set(vis) | {name for images in evaluation.scores.values() for name in images})
    for name in names:
        sources = [ir.get(name), vis.get(name)] + [fused.get(method, {}).get(name) for method in methods]
        scores = [[_json_number(evaluation.scores[method].get(name, {}).get(metric)) for metric in evaluation.metrics]
                  for method in methods]
        gallery.add_row(name, sources, {"scores": scores})
    return {"columns": [{"label": "infrared"}, {"label": "visible"}] + [{"label": method} for method in methods],
            "methods": methods,
            "metrics": [{"name": m, "higher": evaluation.higher_is_better[m]} for m in evaluation.metrics]}


def _json_number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _segmentation_gallery(segeval: SegevalFolder, gallery: _Gallery) -> dict | None:
    methods = [method for method, entry in segeval.methods.items() if entry.predictions is not None]
    if not methods:
        return None
    predictions = {method: _listing(segeval.methods[method].predictions) for method in methods}
    record_fused = segeval.record.get("fused", {})
    bases = {method: _listing(record_fused.get(method) or segeval.path / "fused" / method) for method in methods}
    for name in sorted(set().union(*predictions.values())):
        makers = []
        for method in methods:
            prediction, base = predictions[method].get(name), bases[method].get(name)
            makers.append(None if prediction is None else (lambda p=prediction, b=base: overlay_files(p, b)))
        gallery.add_row(name, [None] * len(methods), {}, makers)
    return {"columns": [{"label": method} for method in methods], "methods": methods, "metrics": []}


def _read_asset(name: str) -> str:
    return (resources.files("semfuse.report") / "assets" / name).read_text(encoding="utf-8")


def _provenance(evaluation: EvaluationFolder | None, segeval: SegevalFolder | None, inputs: dict) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    items = [("report written", f"{escape(now)} by semfuse {escape(__version__)}, commit "
                                f"<code>{escape(git_commit() or 'unknown')}</code>"),
             ("report command", sections.command_line(shlex.join(sys.argv)))]
    blocks = [sections.definition_list(items)]
    for title, folder in (("evaluate", evaluation), ("segeval", segeval)):
        if folder is None:
            continue
        record = folder.record
        if not record:
            blocks.append(f"<h3>{title}: <code>{escape(str(folder.path))}</code></h3><p>This folder has no run.json "
                          "(written by semfuse 0.1 after this report was added): its command, version and weights are "
                          "not recorded.</p>")
            continue
        rows = [("semfuse", f"{escape(str(record.get('semfuse_version')))}, commit "
                            f"<code>{escape(str(record.get('commit') or 'unknown'))}</code>"),
                ("command", sections.command_line(record.get("command"))),
                ("run at", escape(str(record.get("created", "not recorded"))))]
        rows += [(f"input {name}", f"<code>{escape(str(path))}</code>")
                 for name, path in record.get("inputs", {}).items()]
        rows += [(f"fused: {method}", f"<code>{escape(str(path))}</code>")
                 for method, path in record.get("fused", {}).items()]
        blocks.append(f"<h3>{title}: <code>{escape(str(folder.path))}</code></h3>" + sections.definition_list(rows))
        weights = record.get("weights") or {}
        listed = "".join(sections.weights_block(method, weights_info(path)) for method, path in weights.items())
        blocks.append("<h4>Weights</h4>" + (listed
                                            or "<p>No weights recorded for this run (folders of fused images carry "
                                               "none; 'semfuse evaluate --weights NAME=FILE' records them).</p>"))
        problems = record.get("problems") or []
        if problems:
            listed = "".join(f"<li>{escape(str(problem))}</li>" for problem in problems)
            blocks.append(f"<details><summary>{len(problems)} skipped file(s) or pair(s)</summary><ul>{listed}</ul>"
                          "</details>")
    return "".join(blocks)


@dataclass
class _Page:
    """The report being assembled: its sections (with their links) and the galleries whose images are pending."""

    html: Path
    files_dir: Path
    copy_images: bool
    colours: dict[str, str]
    nav: list[tuple[str, str]] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    galleries: list[tuple[str, _Gallery, dict]] = field(default_factory=list)

    def section(self, anchor: str, label: str, content: str) -> None:
        """Add ``<section id=anchor>`` with ``content`` and its link ``label`` in the navigation bar."""
        self.nav.append((anchor, label))
        self.body.append(f'<section id="{anchor}">{content}</section>')

    def gallery(self, key: str) -> _Gallery:
        return _Gallery(key, self.html, self.files_dir, self.copy_images)


def _target(out: str | Path, evaluation, segeval, overwrite: bool) -> tuple[Path, Path]:
    """The report's HTML file and image folder, checked: something to report, an .html name, nothing in the way."""
    if evaluation is None and segeval is None:
        raise SemfuseError("nothing to report; give an evaluate folder, a segeval folder or both")
    html = Path(out)
    if html.suffix.lower() not in (".html", ".htm"):
        raise SemfuseError(f"{html} does not end in .html; name the report file e.g. report.html")
    files_dir = files_dir_of(html)
    refuse_existing([html, files_dir], overwrite)
    return html, files_dir


def _source_folders(evaluated: EvaluationFolder | None, folders: dict | None) -> dict:
    """``{"ir": DIR, "vis": DIR, "fused": {method: DIR}}``: as recorded in run.json, overridden by ``folders``."""
    record = evaluated.record if evaluated else {}
    inputs = {"ir": record.get("inputs", {}).get("ir"), "vis": record.get("inputs", {}).get("vis"),
              "fused": dict(record.get("fused", {}))}
    for key, value in (folders or {}).items():
        inputs[key] = {**inputs["fused"], **value} if key == "fused" else value
    return inputs


def _add_evaluation(page: _Page, evaluated: EvaluationFolder, inputs: dict) -> None:
    """The summary table, the CDF plots and the gallery of pairs."""
    page.section("summary", "Summary", f"<h2>Summary</h2>{sections.summary_table(evaluated, page.colours)}")
    page.section("cdf", "CDF plots", f"<h2>Distributions over the image pairs</h2>"
                                     f"{sections.cdf_section(evaluated, page.colours)}")
    gallery = page.gallery("g")
    page.galleries.append(("gallery-data", gallery, _evaluation_gallery(evaluated, gallery, inputs)))
    missing_folders = [name for name in ("ir", "vis") if not inputs.get(name)]
    note = ("" if not missing_folders else f'<p class="warning">The {" and ".join(missing_folders)} folder is not '
            "recorded (no run.json); pass --ir/--vis to 'semfuse report' to show those images.</p>")
    page.section("gallery", "Gallery", f'<h2>Gallery</h2>{note}{sections.gallery_shell("pairs", "gallery-data", True)}')


def _add_segmentation(page: _Page, segmented: SegevalFolder) -> None:
    """Table I, the prediction overlays (where the runs saved predictions) and the runs' problems."""
    parts = [f"<h2>Segmentation (Table I)</h2>{sections.table_one(segmented, page.colours)}"]
    gallery = page.gallery("s")
    meta = _segmentation_gallery(segmented, gallery)
    if meta is None:
        parts.append('<p class="warning">The segeval runs did not save predictions (no runs/NAME/predictions/ '
                     "folder), so there are no overlays to show.</p>")
    else:
        classes = segmented.classes or []
        legend = "".join(f'<span class="class-item"><span class="swatch" style="background:rgb{class_colour(i)}">'
                         f"</span>{escape(name)}</span>" for i, name in enumerate(classes) if i)
        parts.append(f"<h3>Predictions over each method's fused image</h3><div class=\"legend\">{legend}</div>"
                     + sections.gallery_shell("overlays", "overlay-data", False))
        page.galleries.append(("overlay-data", gallery, meta))
    problems = [f"{m}: {p}" for m, entry in segmented.methods.items() for p in entry.problems]
    if problems:
        listed = "".join(f"<li>{escape(problem)}</li>" for problem in problems)
        parts.append(f"<details><summary>{len(problems)} problem(s)</summary><ul>{listed}</ul></details>")
    page.section("segmentation", "Segmentation", "".join(parts))


def _make_images(page: _Page, result: ReportResult) -> tuple[list[str], list[ImageJob]]:
    """Write every gallery's thumbnails (and copies), count the pairs and the missing images into ``result``;
    returns the galleries' JSON blocks and the image jobs."""
    jobs = [job for _, gallery, _ in page.galleries for job in gallery.jobs]
    sizes = run_jobs(jobs, overwrite=True)
    data_blocks, offset = [], 0
    for data_id, gallery, meta in page.galleries:
        result.missing += gallery.finish(sizes[offset:offset + len(gallery.jobs)])
        offset += len(gallery.jobs)
        for column in meta["columns"]:
            column["colour"] = page.colours.get(column["label"])
        data_blocks.append(sections.json_script(data_id, {**meta, "rows": gallery.rows}))
        if data_id == "gallery-data":
            result.pairs = len(gallery.rows)
    result.images = len(jobs) - result.missing
    return data_blocks, jobs


def _render(title: str, page: _Page, data_blocks: list[str]) -> str:
    """The whole HTML document: styles, navigation, sections, gallery data and script inline."""
    links = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label in page.nav)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<style>{_read_asset("report.css")}</style></head><body><header><h1>{escape(title)}</h1>'
            f'<nav>{links}</nav></header><main>{"".join(page.body)}</main>{"".join(data_blocks)}'
            f'<script>{_read_asset("report.js")}</script></body></html>\n')


def write_report(
    out: str | Path,
    evaluation: str | Path | None = None,
    segeval: str | Path | None = None,
    overwrite: bool = False,
    copy_images: bool = False,
    folders: dict | None = None,
    title: str | None = None,
) -> ReportResult:
    """Write the HTML report of an ``evaluate`` folder and/or a ``segeval`` folder to ``out``.

    Args:
        out: the HTML file; its images go to ``<out stem>_files/`` beside it.
        evaluation: an ``evaluate`` output folder (metrics.csv, run.json).
        segeval: a ``segeval`` output folder (scores.json or table.md, run.json, runs/NAME/predictions/).
        overwrite: replace an existing report and its image folder.
        copy_images: copy the full-size images into the image folder (a movable report) instead of linking them.
        folders: ``{"ir": DIR, "vis": DIR, "fused": {method: DIR}}`` overriding the folders in run.json (for
            evaluate folders without one, or moved images).
        title: the page title (default: from the folder names).

    Raises:
        SemfuseError: no input folder, an unreadable one, or an existing report without ``overwrite``.
    """
    html, files_dir = _target(out, evaluation, segeval, overwrite)
    evaluated = read_evaluation(evaluation) if evaluation is not None else None
    segmented = read_segeval(segeval) if segeval is not None else None
    methods = list(evaluated.scores) if evaluated else []
    methods += [method for method in (segmented.methods if segmented else {}) if method not in methods]
    page = _Page(html, files_dir, copy_images, method_colours(methods))
    inputs = _source_folders(evaluated, folders)
    if evaluated:
        _add_evaluation(page, evaluated, inputs)
    if segmented:
        _add_segmentation(page, segmented)
    page.section("provenance", "Provenance", f"<h2>Provenance</h2>{_provenance(evaluated, segmented, inputs)}")
    result = ReportResult(html, files_dir, methods=len(methods))
    data_blocks, jobs = _make_images(page, result)
    title = title or "semfuse report: " + ", ".join(str(Path(p).name) for p in (evaluation, segeval) if p)
    atomic_write_text(html, _render(title, page, data_blocks), overwrite)
    _remove_stale(files_dir, {job.thumbnail for job in jobs} | {job.full for job in jobs if job.full})
    return result


def _remove_stale(files_dir: Path, written: set[Path]) -> None:
    """Delete images of an earlier report in ``files_dir`` that this one does not use (only our own two folders)."""
    for sub in ("thumbs", "full"):
        folder = files_dir / sub
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file() and path not in written:
                    path.unlink()
