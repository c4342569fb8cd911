"""The command line end to end on real pairs, and every bad-input case of 'semfuse fuse'."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from semfuse.cli import COMMANDS, main
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.weights import save_network

TINY = FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


@pytest.fixture
def tiny_weights(tmp_path):
    return save_network(build_fusion_net(TINY), tmp_path / "tiny.safetensors")


@pytest.fixture
def folders(tmp_path, bundled_data, crop_to):
    """ir/ and vi/ with two real pairs: RoadScene (colour visible, odd-sized crop) and TNO (grey)."""
    crop_to(bundled_data / "roadscene/ir/FLIR_00006.jpg", tmp_path / "ir/road.png", (10, 20, 131, 97))
    crop_to(bundled_data / "roadscene/vi/FLIR_00006.jpg", tmp_path / "vi/road.jpg", (10, 20, 131, 97))
    crop_to(bundled_data / "tno/ir/05.png", tmp_path / "ir/tno.png", (0, 0, 100, 90))
    crop_to(bundled_data / "tno/vi/05.png", tmp_path / "vi/tno.png", (0, 0, 100, 90))
    return tmp_path / "ir", tmp_path / "vi"


def test_every_command_explains_itself(capsys):
    for argv in (["--help"], *([name, "--help"] for name in COMMANDS)):
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        assert exit_info.value.code == 0
        assert "usage: semfuse" in capsys.readouterr().out


def test_console_script_is_installed():
    script = shutil.which("semfuse") or str(__import__("pathlib").Path(sys.executable).parent / "semfuse")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("semfuse ")


def test_fuse_folders_with_bundled_weights(folders, tmp_path):
    ir, vis = folders
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    road, tno = Image.open(tmp_path / "out/road.png"), Image.open(tmp_path / "out/tno.png")
    assert road.size == (121, 77) and road.mode == "RGB"  # colour in, colour out, odd size kept
    assert tno.size == (100, 90) and tno.mode == "L"  # grey in, grey out
    fused = np.asarray(tno, dtype=np.float64)
    a = np.asarray(Image.open(ir / "tno.png").convert("L"), float)
    b = np.asarray(Image.open(vis / "tno.png").convert("L"), float)
    # the warm-start network approximates the average of the sources
    assert np.abs(fused - (a + b) / 2).mean() < np.abs(fused - a).mean()
    assert np.abs(fused - (a + b) / 2).mean() < np.abs(fused - b).mean()


def test_fuse_single_files_to_a_named_output(folders, tmp_path, tiny_weights):
    ir, vis = folders
    out = tmp_path / "single/result.png"
    argv = ["fuse", "--ir", str(ir / "road.png"), "--vis", str(vis / "road.jpg"), "--out", str(out),
            "--weights", str(tiny_weights), "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    assert Image.open(out).size == (121, 77)


def test_existing_output_is_kept_unless_overwrite(folders, tmp_path, tiny_weights, capsys):
    ir, vis = folders
    out = tmp_path / "out"
    out.mkdir()
    (out / "road.png").write_bytes(b"precious")
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--weights", str(tiny_weights),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "road.png exists" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "road.png").read_bytes() == b"precious" and not (out / "tno.png").exists()
    assert main(argv + ["--overwrite"]) == 0
    assert Image.open(out / "road.png").size == (121, 77)


def test_bad_pairs_are_reported_and_the_rest_fused(folders, tmp_path, tiny_weights, crop_to, bundled_data, caplog):
    ir, vis = folders
    (ir / "broken.png").write_bytes(b"not an image")
    crop_to(bundled_data / "tno/vi/05.png", vis / "broken.png", (0, 0, 10, 10))
    crop_to(bundled_data / "tno/ir/05.png", ir / "sizes.png", (0, 0, 40, 30))
    crop_to(bundled_data / "tno/vi/05.png", vis / "sizes.png", (0, 0, 41, 30))
    crop_to(bundled_data / "tno/ir/05.png", ir / "lonely.png", (0, 0, 10, 10))
    out = tmp_path / "out"
    argv = ["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(out), "--weights", str(tiny_weights),
            "--no-progress"]
    assert main(argv) == 1
    assert sorted(p.name for p in out.iterdir()) == ["road.png", "tno.png"]
    log = caplog.text
    assert "3 pair(s) not fused" in log
    assert "broken: " in log and "not a readable image" in log
    assert "sizes: " in log and "40x30 but visible is 41x30" in log
    assert "lonely" in log and "no visible image" in log


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "nonsense"], "unknown fusion method 'nonsense'"),
        (["--weights", "missing.safetensors"], "neither a file nor a bundled name"),
        (["--device", "cuda:0"] if not __import__("torch").cuda.is_available() else ["--method", "nope"],
         "not available" if not __import__("torch").cuda.is_available() else "unknown fusion method"),
    ],
)
def test_wrong_arguments_give_one_line_errors(folders, tmp_path, capsys, extra, message):
    ir, vis = folders
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_input_errors(folders, tmp_path, capsys):
    ir, vis = folders
    cases = [
        (["--ir", str(tmp_path / "nowhere"), "--vis", str(vis)], "is not a folder"),
        (["--ir", str(ir / "road.png"), "--vis", str(vis)], "both be files or both be folders"),
        (["--ir", str(ir)], "give --ir and --vis"),
        (["--ir", str(ir), "--vis", str(vis), "--data", str(tmp_path)], "not both"),
    ]
    for argv, message in cases:
        assert main(["fuse", *argv, "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err


def test_not_a_weights_file(folders, tmp_path, capsys):
    ir, vis = folders
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x00" * 64)
    assert main(["fuse", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o"), "--weights", str(fake)]) == 2
    assert "not a readable .safetensors" in capsys.readouterr().err


def test_train_command_runs_a_smoke_schedule(tmp_path, bundled_data, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "--ir", str(bundled_data / "roadscene/ir"), "--vis", str(bundled_data / "roadscene/vi"),
            "--run-dir", str(run_dir), "--device", "cpu", "--no-progress", "warm_start.iters=3",
            "warm_start.batch_size=1", "data.crop=[32,32]", "model.widths=[8,8,8,8]", "model.heads=[2,2,2,2]"]
    assert main(argv) == 0
    assert {"config.yaml", "log.jsonl", "last.pt", "fusion_net.safetensors"} <= {p.name for p in run_dir.iterdir()}
    assert main(argv) == 2 and "--resume" in capsys.readouterr().err
    assert main(["train", "--ir", "x", "--vis", "y", "warm_start.rule=median", "--run-dir", str(tmp_path / "r2")]) == 2
    assert "warm_start.rule" in capsys.readouterr().err
    assert main(["train", "--ir", "x", "--vis", "y", "nonsense.key=1"]) == 2
    assert "unknown config key nonsense" in capsys.readouterr().err


def test_the_parser_loads_no_torch_so_thread_settings_come_first():
    """OpenMP reads OMP_WAIT_POLICY and OMP_NUM_THREADS once, when torch loads it: building the parser (and --help)
    must not import torch, so that apply_threads sets them before it does."""
    import subprocess
    import sys

    script = ("import sys\nfrom semfuse.cli import build_parser\nbuild_parser()\n"
              "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
