"""Reporting of evaluation results: CSV and Markdown tables, cumulative-distribution plots."""

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
    "cdf_points",
    "metrics_csv",
    "plot_cdf",
    "summarise",
    "summary_csv",
    "summary_markdown",
]
