"""The default weights of ``semfuse fuse``: the name resolves, and the committed decision is what the committed rule
gives on the committed results of experiments/default_weights (figures copied by hand would drift)."""

import json
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from semfuse.models.weights import BUNDLED_WEIGHTS, DEFAULT_WEIGHTS, read_metadata, resolve_weights

REPO = Path(__file__).parents[1]
RESULTS = REPO / "experiments" / "default_weights" / "results"
WEIGHTS = REPO / "src" / "semfuse" / "weights"


def _decide_module():
    spec = spec_from_file_location("decide", REPO / "experiments" / "default_weights" / "decide.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_name_resolves_to_bundled_fusion_weights():
    assert DEFAULT_WEIGHTS in BUNDLED_WEIGHTS
    path = resolve_weights(None)
    assert path == resolve_weights(DEFAULT_WEIGHTS) and path.is_file()
    assert "semfuse_fusion_net" in read_metadata(path)


def test_every_bundled_name_resolves_and_has_a_card():
    for name, bundled in BUNDLED_WEIGHTS.items():
        assert resolve_weights(name).is_file(), name
        assert (WEIGHTS / bundled.file).with_suffix(".md").is_file(), f"{name} has no card"


def test_the_committed_decision_is_the_rule_applied_to_the_committed_results():
    decide = _decide_module()
    scores = json.loads((RESULTS / "protocol_scores.json").read_text())
    quality = decide.read_quality(RESULTS / "fusion_metrics_val.csv")
    decision = decide.decide(scores, quality)
    assert decision == json.loads((RESULTS / "decision.json").read_text())
    assert (RESULTS / "decision.md").read_text() == decide.to_markdown(decision, quality)
    assert len(decision["seeds"]) >= 3 and sorted(decision["candidates"]) == sorted(decide.CANDIDATES)


def test_the_default_is_what_the_rule_chose():
    decision = json.loads((RESULTS / "decision.json").read_text())
    if decision["default"] is None:
        assert DEFAULT_WEIGHTS == "warm-start"
    else:
        assert read_metadata(resolve_weights(None)).get("candidate") == decision["default"]


def test_the_readme_shows_the_committed_protocol_figures():
    readme = (REPO / "README.md").read_text()
    scores = json.loads((RESULTS / "protocol_scores.json").read_text())["methods"]
    for name, result in scores.items():
        miou = f"{result['mean']['mIoU'] * 100:.2f} ± {result['std']['mIoU'] * 100:.2f}"
        assert miou in readme, f"the README lacks {name}'s mIoU {miou}"
