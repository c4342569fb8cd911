"""The documentation site builds with ``mkdocs build --strict``, and its reference holds every documented name.

The reference pages are generated from the docstrings, so a docstring that mkdocstrings cannot render, a link to a
page or an anchor that does not exist, or a cross-reference to an unknown name fails the build, and so this test.
mkdocs, mkdocs-material and mkdocstrings come with the ``docs`` extra, which the ``test`` extra includes: the test
does not skip (about 4 s per build on one core).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import semfuse.methods
import semfuse.metrics

REPO = Path(__file__).resolve().parents[1]

# Reference page -> names it must document (anchors "module.name"); packages with __all__ must document all of it.
REFERENCE = {
    "methods": ("semfuse.methods", semfuse.methods.__all__),
    "metrics": ("semfuse.metrics", semfuse.metrics.__all__),
    "segmentation": ("semfuse.segmentation", ["predict", "sliding_window_logits", "score_segmenter", "class_colour",
                                              "overlay", "write_label_png", "segment_images", "CLASS_COLOURS"]),
    "evaluation": ("semfuse.evaluation.fusion", ["score_methods", "write_scores", "evaluate_methods", "FusionScores",
                                                 "EvaluationResult", "matlab_rgb2gray"]),
    "registry": ("semfuse.registry", ["Registry", "UnknownNameError", "Registry.register", "Registry.check"]),
    "names": ("semfuse.names", ["METHODS", "METRIC_PANEL", "BUNDLED_WEIGHTS", "BundledWeights", "bundled_weights_of"]),
}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site``, in a subprocess of this Python."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("docs") / "site"
    result = build(REPO / "mkdocs.yml", site)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return site


def test_the_site_builds_with_a_home_page_and_every_page_of_the_nav(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Where to read on" in home and 'href="reference/"' in home
    for page in ("method", "methods", "metrics", "report", "reliability", "reference"):
        assert (site / page / "index.html").is_file(), page


@pytest.mark.parametrize("page", sorted(REFERENCE))
def test_each_reference_page_documents_its_public_names(site: Path, page: str) -> None:
    module, names = REFERENCE[page]
    html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
    missing = [name for name in names if f'id="{module}.{name}"' not in html]
    assert not missing, f"reference/{page} does not document {missing}"


def test_a_docstring_example_is_rendered(site: Path) -> None:
    html = (site / "reference" / "names" / "index.html").read_text(encoding="utf-8")
    assert "semantic_msrs_boxes_segmenter.safetensors" in html  # the output line of semfuse.names' Example


@pytest.mark.parametrize(("broken", "named"), [
    ("[the method](no-such-page.md)", "no-such-page.md"),  # a page that does not exist
    ("[agreement](metrics.md#no-such-section)", "#no-such-section"),  # an anchor that does not exist
    ("[get_method][semfuse.methods.no_such_function]", "semfuse.methods.no_such_function"),  # an unknown name
])
def test_a_broken_reference_fails_the_build(tmp_path: Path, broken: str, named: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# Home\n\nSee {broken}.\n\n::: semfuse.names\n", encoding="utf-8")
    (docs / "metrics.md").write_text("# Metrics\n\n## Agreement\n", encoding="utf-8")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"] = str(docs)
    config["nav"] = ["index.md", "metrics.md"]
    config["plugins"][1]["mkdocstrings"]["handlers"]["python"]["paths"] = [str(REPO / "src")]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "WARNING" in output and named in output, output
