"""Reporting of evaluation results: CSV and Markdown tables, cumulative-distribution plots, atomic file writes."""

from semfuse.report.files import atomic_write, atomic_write_text, refuse_existing
from semfuse.report.plots import cdf_points, plot_cdf
from semfuse.report.tables import (
    MetricSummary,
    metrics_csv,
    summarise,
    summary_csv,
    summary_markdown,
)

__all__ = [
    "MetricSummary",
    "atomic_write",
    "atomic_write_text",
    "cdf_points",
    "metrics_csv",
    "plot_cdf",
    "refuse_existing",
    "summarise",
    "summary_csv",
    "summary_markdown",
]
