"""Every file path that the README, the docs and the commands' help name exists in the repository."""

import re
from pathlib import Path

import pytest

from semfuse.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PATH = re.compile(r"(?<![\w./-])((?:configs|docs|benchmarks|experiments|src/semfuse)/[\w./-]+"
                  r"\.(?:yaml|md|py|png|json))")


def _help_texts() -> str:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:
        texts += [sub.format_help() for sub in action.choices.values()]
    return "\n".join(texts)


def _named(text: str) -> set[str]:
    return {match.rstrip(".") for match in PATH.findall(text)}


@pytest.mark.parametrize("source", ["help", "README.md", "docs"])
def test_named_paths_exist(source):
    if source == "help":
        text = _help_texts()
    elif source == "docs":
        text = "\n".join(path.read_text() for path in (REPO / "docs").glob("*.md"))
    else:
        text = (REPO / source).read_text()
    named = _named(text)
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"{source} names files that do not exist: {missing}"


def test_the_help_names_config_files():
    assert "configs/ablations/wo_reg.yaml" in _named(_help_texts())


def test_flags_come_before_overrides(tmp_path):
    from semfuse.commands.train import option_values
    from semfuse.config import load_config

    args = build_parser().parse_args(["train", "--phase", "semantic", "--run-dir", str(tmp_path / "a b"),
                                      "phase=warm-start"])
    config = load_config(args.config, args.overrides, option_values(args))
    assert config.phase == "warm-start" and config.run_dir == str(tmp_path / "a b")
    args = build_parser().parse_args(["train", "--ir", "x: y/ir", "--vis", "v", "--exclude-classes", "1", "2"])
    config = load_config(None, None, option_values(args))
    assert config.data.sources[0].ir == "x: y/ir" and config.semantic.excluded_classes == [1, 2]
