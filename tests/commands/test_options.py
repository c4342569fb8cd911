"""The options the commands share: NAME=PATH lists and --report."""

import argparse
import ast
from pathlib import Path

import pytest

import semfuse.commands
from semfuse.commands.options import add_report_option, parse_named_paths, planned_report
from semfuse.errors import SemfuseError


def test_named_paths_keep_their_order():
    assert parse_named_paths(["b=x/b", " a = y "]) == {"b": Path("x/b"), "a": Path("y")}


@pytest.mark.parametrize("values, option, message", [
    (["ours"], "--fused", "--fused 'ours' is not NAME=DIR; write e.g. --fused ours=results/ours"),
    (["=w.safetensors"], "--weights", "--weights '=w.safetensors' is not NAME=FILE; write e.g. --weights "
                                      "ours=w.safetensors"),
    (["a=x", "a=y"], "--fused", "method name 'a' is given twice in --fused; give each method its own name"),
])
def test_bad_named_paths_say_what_to_write(values, option, message):
    with pytest.raises(SemfuseError) as error:
        parse_named_paths(values, option)
    assert str(error.value) == message


def _args(argv: list[str], out: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_option(parser, "also write OUT/report.html")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv + ["--out", str(out)])


def test_the_report_is_planned_and_refused_up_front(tmp_path):
    assert planned_report(_args([], tmp_path)) is None
    assert planned_report(_args(["--report"], tmp_path)) == tmp_path / "report.html"
    (tmp_path / "report_files").mkdir()
    with pytest.raises(SemfuseError, match="report_files"):
        planned_report(_args(["--report"], tmp_path))
    assert planned_report(_args(["--report", "--overwrite"], tmp_path)) == tmp_path / "report.html"


def test_no_command_module_imports_another():
    folder = Path(semfuse.commands.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("semfuse.commands."):
                assert node.module == "semfuse.commands.options", f"{path.name} imports {node.module}"
