"""Many processes through torchrun: two gloo processes on the CPU fuse and evaluate the bundled samples.

Each command runs under ``python -m torch.distributed.run --standalone --nproc_per_node 2`` as torchrun users run
it, and its outputs are compared byte for byte with one process's (``python -m semfuse``).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semfuse.errors import InputError
from semfuse.inference import FuseSummary
from semfuse.sharding import merge_fuse_summaries, shard

PAIRS = 6  # the bundled samples


def _semfuse(*args: str | Path, processes: int = 0) -> subprocess.CompletedProcess:
    """``semfuse ARGS`` in one plain process (processes=0) or under torchrun with ``processes`` processes."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes else []
    argv = [sys.executable, *launcher, "-m", "semfuse", *map(str, args), "--no-progress", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def _fuse(samples: Path, out: Path, *options: str, processes: int = 0) -> subprocess.CompletedProcess:
    return _semfuse("fuse", "--ir", samples / "ir", "--vis", samples / "vi", "--out", out, "--method", "average",
                    "--device", "cpu", *options, processes=processes)


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def one_process(samples, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "fused"
    result = _fuse(samples, out)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_shares_hold_every_item_once():
    items = list(range(11))
    for world_size in (1, 2, 3, 4, 16):
        shares = [shard(items, rank, world_size) for rank in range(world_size)]
        assert sorted(item for share in shares for item in share) == items
    with pytest.raises(InputError, match="rank 2 of 2"):
        shard(items, 2, 2)


def test_merged_summary_keeps_every_rank_outcome():
    merged = merge_fuse_summaries([FuseSummary([Path("b.png")], ["x: bad"], [Path("d.png")]),
                                   FuseSummary([Path("a.png")], ["y: bad"], [Path("c.png")])])
    assert merged.written == [Path("a.png"), Path("b.png")]
    assert merged.failed == ["x: bad", "y: bad"]
    assert merged.skipped == [Path("c.png"), Path("d.png")]


def test_two_processes_fuse_every_pair_once_into_the_same_bytes(samples, one_process, tmp_path):
    out = tmp_path / "fused"
    result = _fuse(samples, out, processes=2)
    assert result.returncode == 0, result.stderr[-2000:]
    # one summary line, by rank 0; a pair fused by both ranks would fail its second write (no --overwrite)
    assert result.stderr.count(f"fused {PAIRS} of {PAIRS} pair(s)") == 1, result.stderr[-2000:]
    assert "by 2 processes" in result.stderr and "failed" not in result.stderr
    assert _files(out) == _files(one_process)


def test_two_processes_finish_a_partial_run_with_skip_existing(samples, one_process, tmp_path):
    out = tmp_path / "fused"
    shutil.copytree(one_process, out)
    removed = sorted(out.iterdir())[::2]
    for path in removed:
        path.unlink()
    kept = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    result = _fuse(samples, out, "--skip-existing", processes=2)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count(f"fused {len(removed)} of {PAIRS} pair(s)") == 1, result.stderr[-2000:]
    assert f"({PAIRS - len(removed)} fused before, kept)" in result.stderr
    assert _files(out) == _files(one_process)
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # the kept files were not rewritten


def test_two_processes_refuse_existing_outputs_once_and_touch_nothing(samples, one_process, tmp_path):
    out = tmp_path / "fused"
    shutil.copytree(one_process, out)
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    result = _fuse(samples, out, processes=2)
    assert result.returncode != 0
    assert result.stderr.count("semfuse fuse: error:") == 1, result.stderr[-2000:]
    assert "exists; pass --overwrite" in result.stderr
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before


def test_a_pair_failing_on_one_rank_is_reported_once_and_the_rest_fused(samples, tmp_path):
    inputs = tmp_path / "inputs"
    shutil.copytree(samples, inputs, ignore=shutil.ignore_patterns("*.md"))
    (inputs / "vi" / "tno_05.png").write_bytes(b"not an image")
    result = _semfuse("fuse", "--ir", inputs / "ir", "--vis", inputs / "vi", "--out", tmp_path / "fused",
                      "--method", "average", "--device", "cpu", processes=2)
    assert result.returncode == 1  # exit status of every rank: one pair was not fused
    assert result.stderr.count("1 pair(s) not fused:") == 1, result.stderr[-2000:]
    assert result.stderr.count(f"fused {PAIRS - 1} of {PAIRS} pair(s)") == 1
    assert sorted(path.stem for path in (tmp_path / "fused").iterdir()) == sorted(
        path.stem for path in (samples / "ir").iterdir() if path.stem != "tno_05")


def test_a_video_is_refused_under_torchrun_once(tmp_path):
    result = _semfuse("fuse", "--ir", tmp_path / "ir.mp4", "--vis", tmp_path / "vis.mp4", "--out",
                      tmp_path / "fused.mp4", "--method", "average", "--device", "cpu", processes=2)
    assert result.returncode != 0
    assert result.stderr.count("cannot be shared between torchrun's processes") == 1, result.stderr[-2000:]


def test_two_processes_evaluate_into_the_same_tables(samples, one_process, tmp_path):
    def evaluate(out: Path, processes: int) -> None:
        result = _semfuse("evaluate", "--ir", samples / "ir", "--vis", samples / "vi", "--fused",
                          f"average={one_process}", "--fused", f"missing={tmp_path / 'partial'}", "--out", out,
                          "--metrics", "EN,SF,AG,CC", processes=processes)
        assert result.returncode == 1, result.stderr[-2000:]  # the partial method misses images: reported, status 1
        assert result.stderr.count("scored 9 fused images of 2 methods") == 1

    shutil.copytree(one_process, tmp_path / "partial", ignore=shutil.ignore_patterns("tno_*", "msrs_00004N*"))
    evaluate(tmp_path / "one", 0)
    evaluate(tmp_path / "two", 2)
    for name in ("metrics.csv", "summary.csv", "summary.md", "notes.csv"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert (tmp_path / "two" / "cdf" / "EN.png").read_bytes() == (tmp_path / "one" / "cdf" / "EN.png").read_bytes()
    problems = [json.loads((tmp_path / run / "run.json").read_text())["problems"] for run in ("one", "two")]
    assert len(problems[0]) == 3 and problems[1] == problems[0]  # the same problems, in the same order


_HANGING_RANK = """
import sys
import time
from datetime import timedelta

from semfuse.errors import SemfuseError
from semfuse.sharding import all_gather, torchrun_group

with torchrun_group("cpu", timeout=timedelta(seconds=2)) as context:
    if context.rank == 1:
        time.sleep(120)  # a stuck process
    try:
        all_gather(context, context.rank)
    except SemfuseError as error:
        print(error, flush=True)
        sys.exit(2)
"""


def test_a_hanging_rank_fails_the_others_after_the_timeout_instead_of_waiting_forever(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text(_HANGING_RANK)
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    start = time.monotonic()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=100, env=env)
    assert result.returncode != 0
    assert "process 0 of 2: the other torchrun processes did not answer" in result.stdout, result.stderr[-2000:]
    assert time.monotonic() - start < 60  # rank 0 gave up after 2 s and torchrun stopped the sleeping rank 1


def test_two_processes_report_a_missing_folder_once(samples, tmp_path):
    result = _semfuse("evaluate", "--ir", samples / "ir", "--vis", samples / "vi", "--fused",
                      f"gone={tmp_path / 'gone'}", "--out", tmp_path / "scores", processes=2)
    assert result.returncode != 0  # torchrun exits 1 when a process fails, whatever its status
    assert result.stderr.count("semfuse evaluate: error:") == 1, result.stderr[-2000:]
    assert not (tmp_path / "scores").exists()


@pytest.mark.slow  # about 20 s on 2 cores: the network twice over six pairs
def test_two_processes_fuse_with_the_network_into_the_same_bytes(samples, tmp_path):
    # one torch thread in every process: the network's float sums depend on the thread count (1 grey level at most)
    one, two = _semfuse_network(samples, tmp_path / "one", 0), _semfuse_network(samples, tmp_path / "two", 2)
    assert len(_files(two)) == PAIRS and _files(two) == _files(one)


def _semfuse_network(samples: Path, out: Path, processes: int) -> Path:
    result = _semfuse("fuse", "--ir", samples / "ir", "--vis", samples / "vi", "--out", out, "--device", "cpu",
                      processes=processes)
    assert result.returncode == 0, result.stderr[-2000:]
    return out
