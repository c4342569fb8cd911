"""Cumulative-distribution plots as small inline SVG, for the HTML report (the paper's Fig. 3).

Unlike the matplotlib files of :mod:`semfuse.report.plots`, these carry no fonts or styles of their own: text takes
the page's font, and each curve has ``data-method`` so the page can highlight or hide a method in every plot at once.
Curves follow :func:`semfuse.report.plots.cdf_points`: a point (x, y) says a fraction x of the pairs scores <= y.
"""

import math
from collections.abc import Mapping, Sequence
from html import escape

from semfuse.report.plots import cdf_points

# Colour-blind-friendly qualitative palette (Okabe & Ito, 2008), then darker shades for more than eight methods.
METHOD_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
                  "#7f3c8d", "#11a579", "#3969ac", "#f2b701", "#e73f74", "#80ba5a")

WIDTH, HEIGHT = 360, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 24, 36  # margins around the plotting area


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """A colour per method, in order, the same in every plot and the gallery."""
    return {method: METHOD_COLOURS[index % len(METHOD_COLOURS)] for index, method in enumerate(methods)}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 × 10^k) covering [low, high].

    Example:
        >>> nice_ticks(0.13, 0.92)
        [0.2, 0.4, 0.6, 0.8]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    ratio = raw / magnitude
    step = magnitude * (1 if ratio < 1.5 else 2 if ratio < 3 else 5 if ratio < 7 else 10)
    first = math.ceil(low / step - 1e-9)
    return [round(tick * step, 12) for tick in range(first, int(math.floor(high / step + 1e-9)) + 1)]


def format_tick(value: float) -> str:
    """A short label: up to 4 significant digits, scientific notation for tiny or huge values."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.1e}"
    return f"{value:.4g}"


def cdf_svg(values_by_method: Mapping[str, Sequence[float]], metric: str, higher_is_better: bool,
            colours: Mapping[str, str]) -> str:
    """An ``<svg>`` element with one step-free CDF curve per method (sorted values against k / n).

    Args:
        values_by_method: method -> the metric's value on each pair (non-finite values are left out).
        metric: the metric name, for the title and y label.
        higher_is_better: stated in the title.
        colours: method -> CSS colour (see :func:`method_colours`).
    """
    curves = {method: cdf_points(values) for method, values in values_by_method.items()}
    curves = {method: points for method, points in curves.items() if points[1].size}
    arrow = "↑" if higher_is_better else "↓"
    title = f"{escape(metric)} {arrow} ({'higher' if higher_is_better else 'lower'} is better)"
    parts = [f'<svg class="cdf" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="CDF of {escape(metric)}" '
             f'data-metric="{escape(metric)}">',
             f'<text class="title" x="{WIDTH / 2}" y="15" text-anchor="middle">{title}</text>']
    if not curves:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no finite values</text></svg>')
        return "".join(parts)
    low = min(float(points[1][0]) for points in curves.values())
    high = max(float(points[1][-1]) for points in curves.values())
    if high == low:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    pad = 0.04 * (high - low)
    low, high = low - pad, high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(fraction: float) -> float:
        return LEFT + fraction * plot_w

    def y_of(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    parts.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>')
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        x = x_of(fraction)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{TOP + plot_h + 13}" text-anchor="middle">{fraction:g}</text>')
    for tick in nice_ticks(low, high):
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 4}" y="{y + 3.5:.1f}" text-anchor="end">'
                     f'{format_tick(tick)}</text>')
    parts.append(f'<text class="label" x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
                 'fraction of image pairs</text>'
                 f'<text class="label" transform="translate(12 {TOP + plot_h / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(metric)}</text>')
    for method, (fractions, values) in curves.items():
        points = " ".join(f"{x_of(f):.1f},{y_of(v):.1f}" for f, v in zip(fractions, values))
        colour = colours.get(method, "#444")
        parts.append(f'<g class="curve" data-method="{escape(method)}"><title>{escape(method)}</title>'
                     f'<polyline points="{points}" stroke="{colour}"/>')
        if values.size <= 40:  # markers only where they stay readable
            parts.append("".join(f'<circle cx="{x_of(f):.1f}" cy="{y_of(v):.1f}" r="2.2" fill="{colour}"/>'
                                 for f, v in zip(fractions, values)))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
