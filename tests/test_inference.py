"""The pipelined folder run (semfuse.inference.fuse_pairs, issue 22): the same bytes as one pair after the other,
batches of consecutive pairs of equal size, a failing batch retried pair by pair, --skip-existing and Ctrl-C."""

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from semfuse.cli import main
from semfuse.data.pairs import pair_folders
from semfuse.errors import SemfuseError
from semfuse.inference import fuse_pairs
from semfuse.methods import get_method

# (name, bundled sample, crop box): colour MSRS and RoadScene, grey TNO (stored as R = G = B, read as grey), in an
# order where equal sizes run in groups of 3, 1, 2 and 1 so that --batch 2 and 3 make full and partial batches.
CROPS = [
    ("a1", "msrs_00004N.png", (0, 0, 96, 64)),
    ("a2", "msrs_00055D.png", (40, 30, 136, 94)),
    ("a3", "roadscene_FLIR_00006.jpg", (10, 10, 106, 74)),
    ("b1", "tno_05.png", (60, 40, 124, 88)),
    ("c1", "roadscene_FLIR_00211.jpg", (0, 0, 80, 72)),
    ("c2", "tno_37.png", (20, 20, 100, 92)),
    ("d1", "msrs_00004N.png", (100, 100, 196, 164)),
]
SIZES = {"a": (64, 96), "b": (48, 64), "c": (72, 80), "d": (64, 96)}  # (H, W) of each group


@pytest.fixture
def mixed(tmp_path, samples):
    """ir/ and vi/ with the pairs of CROPS: real crops of the bundled samples, of mixed sizes, grey and colour."""
    ir, vis = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vis.mkdir()
    for name, sample, box in CROPS:
        for kind, folder in (("ir", ir), ("vi", vis)):
            with Image.open(samples / kind / sample) as image:
                image.crop(box).save(folder / f"{name}.png")
    return pair_folders(ir, vis).pairs


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.png"))}


class Recording:
    """A fusion method that records the batch shape of every call; fails for batches with an all-black infrared
    image."""

    def __init__(self, method: str = "average") -> None:
        self.fuse, self.shapes = get_method(method), []

    def __call__(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(ir.shape))
        if (ir.flatten(1).amax(dim=1) == 0).any():
            raise ValueError("an all-black infrared image")
        return self.fuse(ir, vis)


@pytest.mark.parametrize("method", ["average", "semfuse"])
def test_pipeline_writes_the_bytes_of_the_sequential_run(mixed, tmp_path, method):
    fuse = get_method(method)
    sequential = fuse_pairs(fuse, mixed, tmp_path / "sequential", progress=False, workers=0)
    piped = fuse_pairs(fuse, mixed, tmp_path / "piped", progress=False, workers=3)
    assert sorted(piped.written) == sorted(tmp_path / "piped" / f"{name}.png" for name, _, _ in CROPS)
    assert not sequential.failed and not piped.failed
    assert _digests(tmp_path / "piped") == _digests(tmp_path / "sequential")
    with Image.open(tmp_path / "piped" / "b1.png") as grey, Image.open(tmp_path / "piped" / "a1.png") as colour:
        assert (grey.mode, grey.size, colour.mode, colour.size) == ("L", (64, 48), "RGB", (96, 64))


def test_batches_hold_consecutive_pairs_of_equal_size_and_change_no_byte(mixed, tmp_path):
    fuse_pairs(get_method("average"), mixed, tmp_path / "single", progress=False, workers=0)
    recording = Recording()
    summary = fuse_pairs(recording, mixed, tmp_path / "batched", progress=False, batch=2, workers=2)
    assert recording.shapes == [(2, 1, *SIZES["a"]), (1, 1, *SIZES["a"]), (1, 1, *SIZES["b"]),
                                (2, 1, *SIZES["c"]), (1, 1, *SIZES["d"])]  # d is a's size, but not next to it
    assert len(summary.written) == len(CROPS)
    assert _digests(tmp_path / "batched") == _digests(tmp_path / "single")


def test_a_failing_batch_is_retried_pair_by_pair_and_the_rest_go_on(mixed, tmp_path, caplog):
    Image.new("L", (96, 64)).save(mixed[1].ir)  # a2: an all-black infrared image, which the method refuses
    mixed[4].vis.write_bytes(b"not an image")  # c1: a file that cannot be read
    recording = Recording()
    summary = fuse_pairs(recording, mixed, tmp_path / "out", progress=False, batch=3, workers=2)
    assert recording.shapes[:4] == [(3, 1, *SIZES["a"])] + [(1, 1, *SIZES["a"])] * 3  # a's batch, then one by one
    assert sorted(message.split(":")[0] for message in summary.failed) == ["a2", "c1"]
    assert "a2: an all-black infrared image" in summary.failed
    assert sorted(path.name for path in (tmp_path / "out").glob("*.png")) == ["a1.png", "a3.png", "b1.png", "c2.png",
                                                                          "d1.png"]
    assert "failed, skipped: a2: an all-black infrared image" in caplog.text


def test_skip_existing_keeps_finished_pairs_and_fuses_the_rest(mixed, tmp_path):
    out = tmp_path / "out"
    fuse_pairs(get_method("average"), mixed[:3], out, progress=False)
    before = {path.name: (path.stat().st_mtime_ns, path.stat().st_ino) for path in out.glob("*.png")}
    summary = fuse_pairs(get_method("average"), mixed, out, progress=False, skip_existing=True, batch=2, workers=2)
    assert sorted(path.name for path in summary.skipped) == sorted(before)
    assert sorted(path.name for path in summary.written) == [f"{name}.png" for name, _, _ in CROPS[3:]]
    assert {name: (out / name).stat().st_mtime_ns for name in before} == {n: t for n, (t, _) in before.items()}
    with pytest.raises(SemfuseError, match="exist"):
        fuse_pairs(get_method("average"), mixed, out, progress=False)


def test_interrupt_says_done_and_left_and_leaves_only_complete_files(mixed, tmp_path):
    calls = []

    def interrupted(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return (ir + vis) / 2

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt) as interruption:
        fuse_pairs(interrupted, mixed, out, progress=False, workers=2)
    done = int(str(interruption.value).split(" of ")[0])
    assert str(interruption.value) == (f"{done} of {len(CROPS)} pairs done, {len(CROPS) - done} left; run again "
                                       "with --skip-existing to finish")
    files = list(out.iterdir())
    assert len(files) == done <= 3  # every pair counted is on disk, no temporary file is left
    for path in files:
        with Image.open(path) as image:
            image.load()


@pytest.mark.parametrize("options, message", [({"batch": 0}, "--batch needs N >= 1"),
                                              ({"workers": -1}, "--workers N >= 0")])
def test_bad_batch_or_workers_are_refused(mixed, tmp_path, options, message):
    with pytest.raises(SemfuseError, match=message):
        fuse_pairs(get_method("average"), mixed, tmp_path / "out", progress=False, **options)


def test_cli_batch_and_workers_write_the_same_files(mixed, tmp_path):
    ir, vis = mixed[0].ir.parent, mixed[0].vis.parent
    command = ["fuse", "--ir", str(ir), "--vis", str(vis), "--method", "average", "--device", "cpu", "--no-progress"]
    assert main([*command, "--out", str(tmp_path / "default")]) == 0
    assert main([*command, "--out", str(tmp_path / "tuned"), "--batch", "3", "--workers", "2"]) == 0
    assert _digests(tmp_path / "tuned") == _digests(tmp_path / "default") and len(_digests(tmp_path / "tuned")) == 7
