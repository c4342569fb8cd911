"""The HTML sections of the report, as strings: summary table, CDF plots, gallery shells, Table I, provenance.

Every value from a file or folder name is escaped. Tables are ``<table class="sortable">`` whose cells carry the
raw number in ``data-value``; the page's script sorts them. Galleries are filled by the script from JSON data.
"""

import json
import math
from collections.abc import Mapping, Sequence
from html import escape

from semfuse.metrics import FUSION_METRICS
from semfuse.report.inputs import EvaluationFolder, SegevalFolder, Statistic
from semfuse.report.svg import cdf_svg
from semfuse.report.tables import format_mean_std, summarise

TABLE_ORDER = ("car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump", "unlabelled")


def json_script(element_id: str, data) -> str:
    """A ``<script type="application/json">`` holding ``data`` (safe against '</script>' in names)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _number(value: float) -> str:
    return "" if not math.isfinite(value) else repr(float(value))


def _ranks(means: Sequence[float], higher_is_better: bool) -> list[int]:
    """Rank of each mean among the distinct finite means (0 = best); -1 for non-finite."""
    distinct = sorted({mean for mean in means if math.isfinite(mean)}, reverse=higher_is_better)
    return [distinct.index(mean) if math.isfinite(mean) else -1 for mean in means]


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def summary_table(evaluation: EvaluationFolder, colours: Mapping[str, str]) -> str:
    """The per-method summary: mean ± std per metric, ↑/↓, best bold, second best underlined, sortable."""
    names = evaluation.metrics
    summary = summarise(evaluation.scores, names)
    head = ['<th data-type="text" aria-sort="none">Method</th>', '<th data-type="num" aria-sort="none">n</th>']
    for name in names:
        higher = evaluation.higher_is_better[name]
        description = FUSION_METRICS[name].description if name in FUSION_METRICS else name
        head.append(f'<th data-type="num" data-higher="{int(higher)}" aria-sort="none" title="{escape(description)}; '
                    f'{"higher" if higher else "lower"} is better">{escape(name)} {"↑" if higher else "↓"}</th>')
    ranks = {name: _ranks([summary[m][name].mean for m in summary], evaluation.higher_is_better[name])
             for name in names}
    rows = []
    for row, (method, metrics) in enumerate(summary.items()):
        count = max((entry.count for entry in metrics.values()), default=0)
        cells = [f'<td data-value="{escape(method)}">{_swatch(colours[method])}{escape(method)}</td>',
                 f'<td data-value="{count}">{count}</td>']
        for name in names:
            entry, rank = metrics[name], ranks[name][row]
            if entry.count == 0:
                cells.append('<td data-value="">–</td>')
                continue
            css = ' class="best"' if rank == 0 else ' class="second"' if rank == 1 and len(summary) > 2 else ""
            cells.append(f'<td data-value="{_number(entry.mean)}"{css}>{format_mean_std(entry.mean, entry.std)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="wide"><table class="sortable" id="summary-table"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="note">Mean ± standard deviation over n image pairs; ↑ higher is better, ↓ lower is better; '
            'best <b>bold</b>, second best <u>underlined</u>. Click a header to sort (first click: best first).</p>')


def method_legend(methods: Sequence[str], colours: Mapping[str, str]) -> str:
    """Buttons that highlight (hover) or hide (click) a method's curve in every plot."""
    buttons = "".join(f'<button type="button" class="legend-item" data-method="{escape(method)}">'
                      f'{_swatch(colours[method])}{escape(method)}</button>' for method in methods)
    return f'<div class="legend" role="group" aria-label="methods">{buttons}</div>'


def cdf_section(evaluation: EvaluationFolder, colours: Mapping[str, str]) -> str:
    """Every metric's CDF over the pairs as inline SVG, with a shared legend."""
    plots = []
    for name in evaluation.metrics:
        values = {method: [row[name] for row in images.values()] for method, images in evaluation.scores.items()}
        plots.append(f'<figure>{cdf_svg(values, name, evaluation.higher_is_better[name], colours)}</figure>')
    return (method_legend(list(evaluation.scores), colours) + f'<div class="plots">{"".join(plots)}</div>'
            '<p class="note">A point (x, y): a fraction x of the image pairs scores at most y. Hover a legend '
            'entry to highlight that method, click it to hide it.</p>')


def gallery_shell(element_id: str, data_id: str, sortable: bool) -> str:
    """Controls and container of a gallery the page script fills from the JSON ``data_id``."""
    sort = ('<label>Order by <select class="g-sort"></select></label><label>of <select class="g-method"></select>'
            '</label><select class="g-dir" aria-label="direction"></select>' if sortable else "")
    return (f'<div class="gallery" id="{element_id}" data-source="{data_id}"><div class="controls">'
            '<label>Filter <input class="g-filter" type="search" placeholder="pair name" aria-label="filter"></label>'
            f'{sort}<label>Per page <select class="g-size"><option>5</option><option selected>10</option>'
            '<option>25</option><option>50</option></select></label>'
            '<span class="pager"><button type="button" class="g-prev">‹ previous</button> '
            '<span class="g-page"></span> '
            '<button type="button" class="g-next">next ›</button></span></div>'
            '<p class="note">Click an image to zoom in there (all images of the pair follow), drag to pan, scroll to '
            'zoom, shift-click to zoom out, double-click or Esc to reset. Zooming loads the full-size images.</p>'
            '<div class="g-rows"></div></div>')


def _stat_cell(value: Statistic, css: str) -> str:
    if not math.isfinite(value.mean):
        return '<td data-value="">–</td>'
    spread = f" ± {100 * value.std:.2f}" if value.std is not None else ""
    return f'<td data-value="{_number(value.mean)}"{css}>{100 * value.mean:.2f}{spread}</td>'


def table_one(segeval: SegevalFolder, colours: Mapping[str, str]) -> str:
    """Table I: per-class Acc and IoU (%) and mAcc, mIoU per method (± std over seeds when stored), sortable."""
    if not segeval.methods:
        return f"<pre>{escape(segeval.table_markdown or '')}</pre>"
    classes = [cls for cls in TABLE_ORDER if cls in segeval.classes]
    classes += [cls for cls in segeval.classes if cls not in classes]
    columns = [(kind, cls) for cls in classes for kind in ("Acc", "IoU")] + [("mAcc", None), ("mIoU", None)]

    def value(method, kind, cls) -> Statistic:
        entry = segeval.methods[method]
        return entry.classes.get(kind, {}).get(cls, Statistic(math.nan)) if cls else entry.overall[kind]

    head = ['<th data-type="text" aria-sort="none">Method</th>']
    head += [f'<th data-type="num" data-higher="1" aria-sort="none">{escape(cls.replace("_", " ").title() + " ")}'
             f'{kind}</th>' if cls else f'<th data-type="num" data-higher="1" aria-sort="none">{kind}</th>'
             for kind, cls in columns]
    ranks = [_ranks([value(m, kind, cls).mean for m in segeval.methods], True) for kind, cls in columns]
    rows = []
    for row, method in enumerate(segeval.methods):
        cells = [f'<td data-value="{escape(method)}">{_swatch(colours.get(method, "#444"))}{escape(method)}</td>']
        for column, (kind, cls) in enumerate(columns):
            best = ranks[column][row] == 0 and len(segeval.methods) > 1
            cells.append(_stat_cell(value(method, kind, cls), ' class="best"' if best else ""))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="wide"><table class="sortable" id="segmentation-table"><thead><tr>{"".join(head)}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="note">SegFormer-b0 trained from scratch on each method\'s fused images; Acc and IoU in %, '
            '± standard deviation over seeds where the run has several; best in bold.</p>')


def definition_list(items: Sequence[tuple[str, str]]) -> str:
    """``<dl>`` of (term, HTML) pairs; the HTML must already be escaped."""
    return "<dl>" + "".join(f"<dt>{escape(term)}</dt><dd>{html}</dd>" for term, html in items) + "</dl>"


def command_line(command) -> str:
    """A recorded command line as escaped HTML code."""
    if isinstance(command, list):
        import shlex

        command = shlex.join(str(part) for part in command)
    return f"<code>{escape(str(command))}</code>" if command else "not recorded"


def weights_block(method: str, info: Mapping) -> str:
    """One weights file of the provenance section: path, size, SHA-256, stored config and its card."""
    if not info.get("exists"):
        return f"<p><b>{escape(method)}</b>: <code>{escape(info['path'])}</code> (file not found)</p>"
    metadata = info.get("metadata") or {}
    parts = [f"<p><b>{escape(method)}</b>: <code>{escape(info['path'])}</code>, {info['bytes']:,} bytes, "
             f"SHA-256 <code>{escape(info['sha256'])}</code></p>"]
    if metadata:
        shown = json.dumps(metadata, indent=1, sort_keys=True)
        parts.append(f"<details><summary>stored metadata</summary><pre>{escape(shown)}</pre></details>")
    if info.get("card"):
        parts.append(f"<details><summary>card</summary><pre class=\"card\">{escape(info['card'])}</pre></details>")
    else:
        parts.append("<p class=\"note\">no card beside the weights file</p>")
    return "".join(parts)
