"""Interrupted runs: Ctrl-C, SIGTERM and kill -9 leave only complete, valid files; --skip-existing finishes the
batch without redoing done pairs; a killed training run resumes exactly (issue 11, case 2; docs/reliability.md)."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from semfuse.cli import main
from semfuse.data.io import list_images

PAIRS = 24


@pytest.fixture
def batch(tmp_path, make):
    """ir/ and vi/ with PAIRS real 160 x 120 pairs (crops of the bundled MSRS and TNO samples)."""
    ir, vis = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vis.mkdir()
    for index in range(PAIRS):
        name, (left, top) = ("msrs_00004N.png", "tno_05.png")[index % 2], (index * 3, index * 2)
        for kind, folder in (("ir", ir), ("vi", vis)):
            with Image.open(make.SAMPLES / kind / name) as image:
                image.crop((left, top, left + 160, top + 120)).save(folder / f"pair{index:02d}.png")
    return ir, vis


def _fuse_command(ir: Path, vis: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "semfuse", "fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out),
            "--device", "cpu", "--no-progress", "--threads", "1", *extra]


def _interrupt_after_first_output(command: list[str], out: Path, send) -> subprocess.CompletedProcess:
    """Start ``command``, wait until it has written its first output, then call ``send(process)``."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out.is_dir() and list_images(out)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the batch ended before it could be interrupted: {process.communicate()}"
    send(process)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _assert_only_complete_images(out: Path) -> dict[str, int]:
    """Every visible file in ``out`` is a complete, decodable 160 x 120 image; returns name -> inode."""
    inodes = {}
    for path in out.iterdir():
        if path.name.startswith("."):
            continue
        with Image.open(path) as image:
            image.load()  # raises on a truncated file
            assert image.size == (160, 120)
        inodes[path.name] = path.stat().st_ino
    return inodes


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_prints_done_and_left_and_skip_existing_finishes(batch, tmp_path, signum, caplog, capsys):
    ir, vis = batch
    out = tmp_path / "out"
    result = _interrupt_after_first_output(_fuse_command(ir, vis, out), out, lambda p: p.send_signal(signum))
    assert result.returncode == 130, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    last = lines[-1]
    assert last.startswith("semfuse fuse: interrupted: ") and f"of {PAIRS} pairs done" in last
    assert "left; run again with --skip-existing to finish" in last
    done = int(last.split("interrupted: ")[1].split(" of ")[0])
    before = _assert_only_complete_images(out)
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # temporaries removed on the way out
    assert 1 <= len(before) <= done < PAIRS

    again = _fuse_command(ir, vis, out)[3:]  # the same command line, run in this process
    assert main(again) == 2 and "exists; pass --overwrite" in capsys.readouterr().err  # nothing redone silently
    caplog.set_level(logging.INFO)
    assert main([*again, "--skip-existing"]) == 0
    assert f"({len(before)} fused before, kept)" in caplog.text
    after = _assert_only_complete_images(out)
    assert len(after) == PAIRS
    assert all(after[name] == inode for name, inode in before.items())  # done pairs were not rewritten


@pytest.mark.slow
def test_kill_9_leaves_complete_files_and_skip_existing_finishes(batch, tmp_path):
    ir, vis = batch
    out = tmp_path / "out"
    result = _interrupt_after_first_output(_fuse_command(ir, vis, out), out, lambda p: p.kill())
    assert result.returncode == -signal.SIGKILL
    before = _assert_only_complete_images(out)
    leftovers = [path.name for path in out.iterdir() if path.name.startswith(".")]
    assert len(leftovers) <= 1  # at most the temporary file of the pair being written, hidden
    assert set(list_images(out)) == {name.removesuffix(".png") for name in before}  # never taken for an image
    finished = subprocess.run(_fuse_command(ir, vis, out, "--skip-existing"), capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr
    after = _assert_only_complete_images(out)
    assert len(after) == PAIRS and all(after[name] == inode for name, inode in before.items())


def test_ctrl_c_in_evaluate_writes_nothing_and_says_how_far_it_got(batch, tmp_path, monkeypatch, capsys):
    import semfuse.evaluation.fusion as fusion

    ir, vis = batch
    calls = []
    real = fusion.score_triplet

    def interrupted_on_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fusion, "score_triplet", interrupted_on_the_fourth)
    out = tmp_path / "eval"
    code = main(["evaluate", "--ir", str(ir), "--vis", str(vis), "--fused", f"ir={ir}", "--out", str(out),
                 "--metrics", "EN,SD", "--no-progress"])
    assert code == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"semfuse evaluate: interrupted: 3 of {PAIRS} images done, {PAIRS - 3} left; nothing was written; "
                   "run again to score them all")
    assert not out.exists() or not any(out.rglob("*"))


def test_fuse_skip_existing_and_overwrite_together_are_refused(batch, tmp_path, capsys):
    ir, vis = batch
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o"), "--method", "average",
                 "--skip-existing", "--overwrite", "--no-progress"]) == 2
    assert "not both" in capsys.readouterr().err


def _train(run_dir: Path, *extra: str) -> list[str]:
    samples = Path(__file__).resolve().parents[2] / "src" / "semfuse" / "samples"
    return ["train", "--ir", str(samples / "ir"), "--vis", str(samples / "vi"), "--run-dir", str(run_dir),
            "--device", "cpu", "--no-progress", "warm_start.iters=4", "warm_start.batch_size=1", "data.crop=[32,32]",
            "model.widths=[8,8,8,8]", "model.heads=[2,2,2,2]", "model.stem_channels=8", "checkpoint_every=2",
            "log_every=1", *extra]


def test_interrupted_training_resumes_exactly(tmp_path, monkeypatch, capsys):
    """Ctrl-C at iteration 3 of 4 (checkpoint at 2), then --resume: the same weights as an uninterrupted run."""
    import semfuse.engine.loop as loop

    assert main(_train(tmp_path / "whole")) == 0
    real, calls = loop.train_one_iteration, []

    def interrupted_at_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_iteration", interrupted_at_three)
    assert main(_train(tmp_path / "cut")) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "cut" / "fusion_net.safetensors").exists()
    monkeypatch.setattr(loop, "train_one_iteration", real)
    assert main(_train(tmp_path / "cut", "--resume")) == 0
    whole = load_file(str(tmp_path / "whole" / "fusion_net.safetensors"))
    resumed = load_file(str(tmp_path / "cut" / "fusion_net.safetensors"))
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


@pytest.mark.slow
def test_kill_9_during_training_resumes_exactly(tmp_path):
    """The training process is killed with SIGKILL after its first checkpoint; --resume ends where an
    uninterrupted run ends, bit for bit."""
    command = [sys.executable, "-m", "semfuse"]
    whole = subprocess.run(command + _train(tmp_path / "whole", "warm_start.iters=12", "--threads", "1"),
                           capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen(command + _train(tmp_path / "cut", "warm_start.iters=12", "--threads", "1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / "cut" / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert not (tmp_path / "cut" / "fusion_net.safetensors").exists()
    resumed = subprocess.run(command + _train(tmp_path / "cut", "warm_start.iters=12", "--threads", "1", "--resume"),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "whole" / "fusion_net.safetensors"))
    b = load_file(str(tmp_path / "cut" / "fusion_net.safetensors"))
    assert all(torch.equal(a[name], b[name]) for name in a)
