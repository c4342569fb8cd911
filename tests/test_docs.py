"""The documentation site builds with ``mkdocs build --strict``, and its reference holds every documented name.

The reference pages are generated from the docstrings, so a docstring that mkdocstrings cannot render, a link to a
page or an anchor that does not exist, or a cross-reference to an unknown name fails the build, and so this test.
mkdocs, mkdocs-material and mkdocstrings come with the ``docs`` extra, which the ``test`` extra includes: the test
does not skip (about 4 s per build on one core).
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

# Modules without __all__ -> the names their reference must document (a module with __all__ must document all of it).
DOCUMENTED = {
    "semfuse.segmentation": ["predict", "sliding_window_logits", "score_segmenter", "class_colour", "overlay",
                             "write_label_png", "segment_images", "CLASS_COLOURS"],
    "semfuse.evaluation.fusion": ["score_methods", "write_scores", "evaluate_methods", "FusionScores",
                                  "EvaluationResult", "matlab_rgb2gray"],
    "semfuse.registry": ["Registry", "UnknownNameError", "Registry.register", "Registry.check"],
    "semfuse.names": ["METHODS", "METRIC_PANEL", "BUNDLED_WEIGHTS", "BundledWeights", "bundled_weights_of"],
}


def reference_pages() -> dict[str, tuple[str, str]]:
    """Every page of docs/ that renders a module (``::: semfuse.x``) -> (its built HTML, relative to the site; the
    module)."""
    pages = {}
    for page in sorted(DOCS.rglob("*.md")):
        for module in re.findall(r"^::: (semfuse[\w.]*)", page.read_text(encoding="utf-8"), flags=re.MULTILINE):
            relative = page.relative_to(DOCS)
            pages[f"{relative}:{module}"] = (str(relative.with_suffix(".html")), module)
    return pages


REFERENCE = reference_pages()


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
    assert "Where to read on" in home and 'href="reference/index.html"' in home  # links work opened from disk
    for page in ("method", "methods", "metrics", "report", "reliability", "reference/index"):
        assert (site / f"{page}.html").is_file(), page


def test_the_reference_covers_the_public_modules() -> None:
    modules = {module for _, module in REFERENCE.values()}
    assert {"semfuse.methods", "semfuse.metrics", *DOCUMENTED} <= modules


@pytest.mark.parametrize("page", sorted(REFERENCE))
def test_each_reference_page_documents_its_public_names(site: Path, page: str) -> None:
    html_path, module = REFERENCE[page]
    imported = importlib.import_module(module)
    names = getattr(imported, "__all__", None) or DOCUMENTED.get(module)
    assert names, f"{module} has no __all__: list the names its reference must document in DOCUMENTED"
    html = (site / html_path).read_text(encoding="utf-8")
    missing = [name for name in names if f'id="{module}.{name}"' not in html]
    assert not missing, f"{html_path} does not document {missing} of {module}"


def test_docstring_examples_render_as_python_sessions(site: Path) -> None:
    html = (site / "reference" / "names.html").read_text(encoding="utf-8")
    # semfuse.names' "Example:" section: a highlighted session with its prompt and its output line
    assert '<span class="gp">&gt;&gt;&gt; </span><span class="n">BUNDLED_WEIGHTS</span>' in html
    assert '<span class="go">\'semantic_msrs_boxes_segmenter.safetensors\'</span>' in html
    for html_path, _ in REFERENCE.values():  # not ">>>" read as three nested quotes
        assert "<blockquote>" not in (site / html_path).read_text(encoding="utf-8"), html_path


def test_sphinx_roles_in_docstrings_become_links_or_code(site: Path) -> None:
    html = (site / "reference" / "methods.html").read_text(encoding="utf-8")
    # get_method's docstring says "see :func:`available_methods`": a link to it on the same page
    assert 'href="#semfuse.methods.available_methods"><code>available_methods</code></a>' in html
    # MethodInfo's says :data:`semfuse.names.BUNDLED_WEIGHTS`: a link to the names page
    assert 'href="names.html#semfuse.names.BUNDLED_WEIGHTS"' in html
    for html_path, _ in REFERENCE.values():
        text = (site / html_path).read_text(encoding="utf-8")
        assert not re.search(r":(func|class|mod|data|meth|attr):`", text), f"a Sphinx role left as text in {html_path}"


# The body of the package the broken builds document: a function, a name exported lazily (PEP 562, as semfuse
# exports its API) that a role may name, and a private helper whose docstring the site never shows.
PACKAGE = '''
__all__ = ["present", "lazy"]


def present() -> None:
    """Here; and :func:`brokenpkg.lazy`, made on first use."""


def __getattr__(name: str) -> object:
    """:func:`lazy`, made on first use."""
    if name == "lazy":
        return present
    raise AttributeError(name)


def _helper() -> None:
    """Names :func:`not_here`, unseen."""
'''


def build_broken(tmp_path: Path, markdown: str, docstring: str) -> str:
    """Build a one-page site whose page holds ``markdown`` and documents a package whose docstring is ``docstring``,
    with the project's mkdocs.yml; assert that the strict build fails and return its output."""
    docs, src = tmp_path / "docs", tmp_path / "src" / "brokenpkg"
    docs.mkdir()
    src.mkdir(parents=True)
    (src / "__init__.py").write_text(f'"""{docstring}"""\n\n{PACKAGE}', encoding="utf-8")
    (docs / "index.md").write_text(f"# Home\n\n{markdown}\n\n::: brokenpkg\n", encoding="utf-8")
    (docs / "metrics.md").write_text("# Metrics\n\n## Agreement\n", encoding="utf-8")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"] = str(docs)
    config["nav"] = ["index.md", "metrics.md"]
    python = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(src.parent)]
    python["options"]["extensions"] = [str(REPO / extension) for extension in python["options"]["extensions"]]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    return output


@pytest.mark.parametrize(("broken", "named"), [
    ("[the method](no-such-page.md)", "no-such-page.md"),  # a page that does not exist
    ("[agreement](metrics.md#no-such-section)", "#no-such-section"),  # an anchor that does not exist
    ("[present][brokenpkg.absent]", "brokenpkg.absent"),  # a cross-reference to an unknown name
])
def test_a_broken_link_fails_the_build(tmp_path: Path, broken: str, named: str) -> None:
    output = build_broken(tmp_path, f"See {broken}.", "A package; see :func:`present`.")
    assert "WARNING" in output and named in output, output


def test_a_docstring_naming_a_missing_object_fails_the_build(tmp_path: Path) -> None:
    output = build_broken(tmp_path, "", "A package; see :func:`present` and :func:`absent`.")
    assert "WARNING" in output and ":func:`absent`" in output, output
    # a name that exists, one exported lazily and one in a docstring the site does not show are not broken
    assert ":func:`present`" not in output and "lazy`" not in output and "not_here" not in output, output
