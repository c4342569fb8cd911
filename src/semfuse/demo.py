"""The demo: fuse the bundled sample pairs with the bundled weights and score them beside the pixel average."""

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from semfuse.data.pairs import pair_folders
from semfuse.evaluation.fusion import EvaluationResult, evaluate_methods
from semfuse.inference import fuse_pairs
from semfuse.methods import get_method
from semfuse.models.weights import resolve_weights
from semfuse.report.html import write_report

logger = logging.getLogger("semfuse.demo")

DEMO_METHODS = ("semfuse", "average")  # the network with its default weights, and the plainest baseline


@dataclass
class DemoResult:
    """What :func:`run_demo` wrote: the fused folders, the evaluation, the problems and the HTML report."""

    fused_dirs: dict[str, Path]
    evaluation: EvaluationResult
    failed: list[str]
    report: Path  # the HTML comparison report


def samples_dir() -> Path:
    """The folder of bundled sample pairs (``ir/`` and ``vi/``; see its ATTRIBUTION.md)."""
    return Path(str(resources.files("semfuse") / "samples"))


def run_demo(out_dir: str | Path, device: str = "cpu", overwrite: bool = False, progress: bool = True) -> DemoResult:
    """Fuse the samples into ``out_dir/fused/<method>/``, write metrics tables and plots to ``out_dir/metrics/`` and
    the HTML report to ``out_dir/report.html`` (images copied into ``out_dir/report_files/``)."""
    out_dir, samples = Path(out_dir), samples_dir()
    listing = pair_folders(samples / "ir", samples / "vi")
    fused_dirs, failed = {}, list(listing.unpaired)
    for method in DEMO_METHODS:
        fuse = get_method(method, device=device)
        fused_dirs[method] = out_dir / "fused" / method
        summary = fuse_pairs(fuse, listing.pairs, fused_dirs[method], overwrite=overwrite, progress=progress)
        failed += summary.failed
        logger.info("%s: fused %d sample pair(s) into %s", method, len(summary.written), fused_dirs[method])
    evaluation = evaluate_methods(samples / "ir", samples / "vi", fused_dirs, out_dir / "metrics",
                                  overwrite=overwrite, progress=progress, weights={"semfuse": resolve_weights(None)})
    report = write_report(out_dir / "report.html", out_dir / "metrics", overwrite=overwrite, copy_images=True,
                          title="semfuse demo: the bundled sample pairs").html
    return DemoResult(fused_dirs, evaluation, failed + evaluation.problems, report)
