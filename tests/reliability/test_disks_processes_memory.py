"""Full and read-only disks, two processes writing one folder, and images too large for the device's memory
(issue 11, cases 3, 6 and 7; docs/reliability.md)."""

import errno
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import semfuse.commands.fuse as fuse_command
import semfuse.inference as inference
from semfuse.cli import main
from semfuse.data.io import write_image
from semfuse.files import OutputExistsError, OutputWriteError, atomic_write, atomic_write_text


def _failing_write(code: int):
    def write(temporary):
        with open(temporary, "wb") as handle:
            handle.write(b"half an image")  # something reaches the disk before the failure
        raise OSError(code, os.strerror(code))

    return write


@pytest.mark.parametrize(
    "code, advice",
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only"),
     (errno.EACCES, "no permission")],
    ids=["ENOSPC", "EROFS", "EACCES"],
)
def test_a_failed_write_names_path_and_cause_and_leaves_nothing(tmp_path, code, advice):
    target = tmp_path / "out" / "a.png"
    with pytest.raises(OutputWriteError) as error:
        atomic_write(target, _failing_write(code))
    message = str(error.value)
    assert message.startswith(f"cannot write {target}: {os.strerror(code)} [{errno.errorcode[code]}]; {advice}")
    assert error.value.stops_batch and "\n" not in message
    assert list(target.parent.iterdir()) == []  # no partial file, no temporary


@pytest.fixture
def pairs(tmp_path, make):
    ir, vis = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vis.mkdir()
    for name in ("a", "b", "c"):
        make.sample("ir", make.TNO).save(ir / f"{name}.png")
        make.sample("vi", make.MSRS).save(vis / f"{name}.png")
    return ir, vis


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["ENOSPC", "EROFS", "EACCES"])
def test_fuse_stops_at_a_disk_failure_with_one_line(pairs, tmp_path, monkeypatch, capsys, code):
    ir, vis = pairs
    out = tmp_path / "out"
    written = []

    def save_then_fail(path, array, overwrite=False):
        if written:  # the first pair is written; the disk fails on the second
            return atomic_write(path, _failing_write(code), overwrite)
        written.append(path)
        return write_image(path, array, overwrite)

    monkeypatch.setattr(inference, "write_image", save_then_fail)
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--method", "average",
                 "--no-progress", "--workers", "1"]) == 2  # one writing thread: the writes in order
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"semfuse fuse: error: cannot write {out / 'b.png'}: {os.strerror(code)}")
    assert "stopped after 1 of 3 pairs; run again with --skip-existing to finish" in err
    assert sorted(path.name for path in out.iterdir()) == ["a.png"]  # c was not tried, b left nothing


def test_evaluate_stops_at_a_disk_failure_with_one_line(pairs, tmp_path, monkeypatch, capsys):
    import semfuse.evaluation.fusion as fusion

    ir, vis = pairs

    def full_disk(path, text, overwrite=False):
        return atomic_write(path, _failing_write(errno.ENOSPC), overwrite)

    monkeypatch.setattr(fusion, "atomic_write_text", full_disk)
    out = tmp_path / "eval"
    assert main(["evaluate", "--ir", str(ir), "--vis", str(vis), "--fused", f"ir={ir}", "--out", str(out),
                 "--metrics", "EN", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"semfuse evaluate: error: cannot write {out / 'metrics.csv'}: No space left on device [ENOSPC]; "
                   "the disk is full; free some space or choose another output folder")
    assert not out.exists() or not any(out.rglob("*.*"))


def test_a_real_full_disk(tmp_path):
    """A 1 MiB tmpfs filled up for real (skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        with pytest.raises(OutputWriteError, match=r"No space left on device \[ENOSPC\]; the disk is full"):
            atomic_write_text(mount / "big.txt", "x" * 2_000_000)
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_two_processes_never_replace_each_others_files(tmp_path):
    """Without --overwrite, a file created by another process while this one was writing is not replaced."""
    target = tmp_path / "a.png"

    def racing_write(temporary):
        Image.new("L", (4, 4), 200).save(temporary, format="PNG")
        Image.new("L", (4, 4), 7).save(target)  # the other process finishes first

    with pytest.raises(OutputExistsError, match="created by another process meanwhile"):
        atomic_write(target, racing_write)
    assert Image.open(target).getpixel((0, 0)) == 7 and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_two_fuse_runs_into_one_folder(tmp_path, make):
    """Two 'semfuse fuse --skip-existing' processes into the same --out: every file is complete and valid."""
    ir, vis = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vis.mkdir()
    for index in range(12):
        with Image.open(make.SAMPLES / "ir" / "msrs_00004N.png") as image:
            image.crop((index, 0, index + 200, 150)).save(ir / f"p{index:02d}.png")
        with Image.open(make.SAMPLES / "vi" / "msrs_00004N.png") as image:
            image.crop((index, 0, index + 200, 150)).save(vis / f"p{index:02d}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "semfuse", "fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out),
               "--method", "laplacian", "--skip-existing", "--no-progress", "--threads", "1"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    assert sorted(path.name for path in out.iterdir()) == [f"p{index:02d}.png" for index in range(12)]
    for path in out.iterdir():
        with Image.open(path) as image:
            image.load()
            assert image.size == (200, 150) and image.mode == "RGB"


@pytest.mark.parametrize(
    "error, expected",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
         "does not fit in the GPU's memory; fuse it with --device cpu (main memory), fuse it in tiles with --tile "
         "1024 (semfuse network), or skip images this large with --max-pixels 3071"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to "
                      "allocate 85899345920 bytes"),
         "does not fit in memory; free memory or downscale the pair, fuse it in tiles with --tile 1024 (semfuse "
         "network), or skip images this large with --max-pixels 3071"),
    ],
    ids=["cuda", "cpu"],
)
def test_out_of_memory_names_the_size_and_what_helps(pairs, tmp_path, monkeypatch, caplog, error, expected):
    ir, vis = pairs
    calls = []

    def fuse(ir_batch, vis_batch):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return ir_batch

    monkeypatch.setattr(fuse_command, "_build_method", lambda args: fuse)
    out = tmp_path / "out"
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--method", "average",
                 "--no-progress"]) == 1
    assert sorted(path.name for path in out.iterdir()) == ["a.png", "c.png"]  # the batch went on
    failure = [line for line in caplog.messages if line.startswith("failed, skipped: b: ")]
    assert failure == [f"failed, skipped: b: the 64x48 image (3,072 pixels) {expected}"]
    assert "Traceback" not in caplog.text
