"""The Python API (semfuse.load, Fuser, fuse, segment, evaluate, list_*) and hubconf.py.

The API and ``semfuse fuse`` share one code path, so the API's uint8 results must equal the command's PNG files bit
for bit, in every input type; the command's files are made once per module from crops of the bundled samples.
"""

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import semfuse
from semfuse.cli import main
from semfuse.data.io import to_uint8
from semfuse.errors import InputError, InputTypeError, SemfuseError
from semfuse.models.weights import segmenter_classes, segmenter_for
from semfuse.registry import UnknownNameError

REPO = Path(__file__).resolve().parents[1]
# name -> (infrared sample, visible sample, crop box): grey-as-RGB TNO, colour MSRS and RoadScene (JPEG sources),
# and a colour "infrared" (a visible image) with a grey "visible" one, which the CLI reduces to luminance
PAIRS = {
    "tno": ("ir/tno_05.png", "vi/tno_05.png", (40, 40, 136, 120)),
    "msrs": ("ir/msrs_00004N.png", "vi/msrs_00004N.png", (200, 150, 328, 246)),
    "road": ("ir/roadscene_FLIR_00006.jpg", "vi/roadscene_FLIR_00006.jpg", (100, 100, 212, 180)),
    "swapped": ("vi/msrs_00055D.png", "ir/msrs_00055D.png", (300, 200, 396, 280)),
}
EVALUATED = ("EN", "SD", "SF", "AG", "MI", "SSIM", "Qabf", "CC")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, samples) -> Path:
    """ir/NAME.png and vi/NAME.png crops of the bundled samples (see PAIRS)."""
    root = tmp_path_factory.mktemp("api_pairs")
    for name, (ir, vis, box) in PAIRS.items():
        for folder, source in (("ir", ir), ("vi", vis)):
            (root / folder).mkdir(exist_ok=True)
            Image.open(samples / source).crop(box).save(root / folder / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def cli_fused(pairs, tmp_path_factory) -> Path:
    """The folder ``semfuse fuse`` writes for ``pairs`` with the default method and weights, on the CPU."""
    out = tmp_path_factory.mktemp("api_cli") / "fused"
    assert main(["fuse", "--ir", str(pairs / "ir"), "--vis", str(pairs / "vi"), "--out", str(out),
                 "--device", "cpu", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def fuser() -> semfuse.Fuser:
    return semfuse.load(device="cpu")


@pytest.fixture(scope="module")
def average() -> semfuse.Fuser:
    return semfuse.load(method="average", device="cpu")


def _as_uint8_hwc(image) -> np.ndarray:
    """Any result as uint8 (H, W[, C]) numpy, for comparing with a PNG."""
    if isinstance(image, Image.Image):
        return np.asarray(image)
    if isinstance(image, torch.Tensor):
        image = image.cpu()
        image = image[0] if image.dim() == 4 else image
        array = image.permute(1, 2, 0).float().numpy() if image.dtype != torch.uint8 else image.permute(1, 2, 0).numpy()
        array = array[..., 0] if array.shape[2] == 1 else array
        return array if array.dtype == np.uint8 else to_uint8(array)
    return image if image.dtype == np.uint8 else to_uint8(image)


def _tensor(array: np.ndarray, batched: bool = True) -> torch.Tensor:
    tensor = torch.from_numpy(np.array(array))  # a writable copy
    tensor = tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)  # (C, H, W)
    return tensor[None] if batched else tensor


FORMS = {
    "numpy-uint8": lambda path: np.asarray(Image.open(path)),
    "pil": lambda path: Image.open(path),
    "numpy-float32": lambda path: np.asarray(Image.open(path), dtype=np.float32) / 255.0,
    "numpy-float64": lambda path: np.asarray(Image.open(path), dtype=np.float64) / 255.0,
    "tensor-uint8": lambda path: _tensor(np.asarray(Image.open(path))),
    "tensor-float32-unbatched": lambda path: _tensor(np.asarray(Image.open(path), dtype=np.float32) / 255.0, False),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_input_type_equals_the_cli_png_bit_for_bit(form, pairs, cli_fused, fuser):
    for name in PAIRS:
        ir, vis = (FORMS[form](pairs / folder / f"{name}.png") for folder in ("ir", "vi"))
        fused = fuser(ir, vis)
        assert isinstance(fused, Image.Image if isinstance(vis, Image.Image) else type(vis))
        expected = np.asarray(Image.open(cli_fused / f"{name}.png"))
        got = _as_uint8_hwc(fused)
        if got.ndim == 3 and expected.ndim == 2:  # a grey image stored as RGB: fused as grey, given back as RGB
            assert np.array_equal(got[..., 0], got[..., 2])
            got = got[..., 0]
        assert np.array_equal(got, expected), f"{form}, {name}: differs from semfuse fuse"


def test_semfuse_fuse_builds_its_method_with_semfuse_load(pairs, tmp_path, monkeypatch):
    built = []

    def spy(*args, **kwargs):
        built.append(kwargs["method"])
        return load(*args, **kwargs)

    load = semfuse.api.load
    monkeypatch.setattr(semfuse.api, "load", spy)
    assert main(["fuse", "--ir", str(pairs / "ir"), "--vis", str(pairs / "vi"), "--out", str(tmp_path / "avg"),
                 "--method", "average", "--no-progress"]) == 0
    assert built == ["average"] and len(list((tmp_path / "avg").glob("*.png"))) == len(PAIRS)


def test_stretch_equals_the_cli_stretch(pairs, tmp_path):
    out = tmp_path / "stretched.png"
    assert main(["fuse", "--ir", str(pairs / "ir" / "msrs.png"), "--vis", str(pairs / "vi" / "msrs.png"), "--out",
                 str(out), "--method", "gff", "--stretch", "--no-progress"]) == 0
    fused = semfuse.fuse(Image.open(pairs / "ir" / "msrs.png"), Image.open(pairs / "vi" / "msrs.png"), method="gff",
                         stretch=True, device="cpu")
    assert np.array_equal(np.asarray(fused), np.asarray(Image.open(out)))


@pytest.mark.parametrize(("vis", "shape", "dtype"), [
    (np.full((6, 8), 200, np.uint8), (6, 8), np.uint8),
    (np.dstack([np.full((6, 8), v, np.uint8) for v in (100, 120, 140)]), (6, 8, 3), np.uint8),
    (np.full((6, 8), 40000, np.uint16), (6, 8), np.uint16),
    (np.full((6, 8, 3), 0.5, np.float32), (6, 8, 3), np.float32),
    (np.full((6, 8), 0.5, np.float64), (6, 8), np.float64),
    (np.full((6, 8), 0.5, np.float16), (6, 8), np.float16),
])
def test_numpy_round_trips_dtype_shape_and_colour(average, vis, shape, dtype):
    fused = average(np.zeros((6, 8), np.uint8), vis)
    assert fused.shape == shape and fused.dtype == dtype
    scale = {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)
    luma = np.array([0.299, 0.587, 0.114])  # the average of 0 and the visible luminance, chroma restored
    fused_y, vis_y = ((image.astype(np.float64) / scale) @ luma if image.ndim == 3 else image / scale
                      for image in (fused, vis))
    assert np.allclose(fused_y, vis_y / 2, atol=1.5 / scale)


@pytest.mark.parametrize(("mode", "out_mode"), [("L", "L"), ("RGB", "RGB"), ("I;16", "I;16"), ("RGBA", "RGB"),
                                                ("P", "RGB"), ("LA", "L")])
def test_pil_round_trips_to_the_same_mode_family(average, mode, out_mode, samples):
    vis = Image.open(samples / "vi" / "msrs_00004N.png").crop((0, 0, 32, 24))
    vis = vis.convert("I").point(lambda v: v * 257).convert("I;16") if mode == "I;16" else vis.convert(mode)
    fused = average(Image.new("L", (32, 24)), vis)
    assert fused.mode == out_mode and fused.size == (32, 24)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(2, 1, 8, 10), (2, 3, 8, 10), (3, 8, 10)])
def test_tensors_round_trip_dtype_shape_and_device(average, dtype, shape):
    vis = torch.rand(shape).to(dtype) if dtype != torch.uint8 else torch.randint(0, 256, shape, dtype=torch.uint8)
    ir = torch.zeros(shape[:-3] + (1,) + shape[-2:], dtype=dtype)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        fused = average(ir.to(device), vis.to(device))
        assert fused.shape == vis.shape and fused.dtype == dtype and fused.device.type == device


def test_a_colour_visible_image_gives_colour_and_grey_gives_grey(average, samples):
    vis = np.asarray(Image.open(samples / "vi" / "msrs_00004N.png").crop((0, 0, 32, 24)))
    colour = average(np.zeros((24, 32), np.uint8), vis)
    assert colour.shape == (24, 32, 3) and not np.array_equal(colour[..., 0], colour[..., 1])


def test_a_batch_equals_single_calls(fuser, samples):
    irs = [np.asarray(Image.open(samples / "ir" / f"msrs_{n}.png").crop((0, 0, 96, 64))) for n in ("00004N", "00055D")]
    viss = [np.asarray(Image.open(samples / "vi" / f"msrs_{n}.png").crop((0, 0, 96, 64))) for n in ("00004N", "00055D")]
    viss[1] = viss[1].mean(axis=2).astype(np.uint8)  # one colour pair and one grey pair in one batch
    batch = fuser(irs, viss)
    assert isinstance(batch, list) and len(batch) == 2
    for ir, vis, fused in zip(irs, viss, batch):
        assert np.array_equal(fused, fuser(ir, vis))
    ir_t = torch.stack([_tensor(ir, False) for ir in irs])  # (2, 1, H, W)
    vis_t = torch.stack([_tensor(viss[0], False)] * 2) / 255.0  # (2, 3, H, W)
    together = fuser(ir_t, vis_t)
    # Float out: a batch of 2 may take other convolution kernels than a batch of 1, whose sums round differently in
    # the last bits on some CPUs (equal on an AMD EPYC, not on an Intel Xeon).
    torch.testing.assert_close(together[1:], fuser(ir_t[1:], vis_t[1:]), rtol=0, atol=1e-6)


def test_stream_equals_calls_and_is_lazy(average, samples):
    frames = [(np.full((8, 8), k * 20, np.uint8), np.full((8, 8, 3), 100, np.uint8)) for k in range(4)]
    consumed = []

    def camera():
        for frame in frames:
            consumed.append(frame)
            yield frame

    stream = average.stream(camera())
    first = next(stream)
    assert len(consumed) == 1 and np.array_equal(first, average(*frames[0]))
    assert all(np.array_equal(fused, average(*frame)) for fused, frame in zip(stream, frames[1:]))


def test_evaluate_equals_the_metrics_semfuse_evaluate_writes(pairs, cli_fused, tmp_path):
    out = tmp_path / "scores"
    assert main(["evaluate", "--ir", str(pairs / "ir"), "--vis", str(pairs / "vi"), "--fused",
                 f"semfuse={cli_fused}", "--out", str(out), "--metrics", ",".join(EVALUATED), "--no-progress"]) == 0
    rows = {row["image"]: row for row in csv.DictReader((out / "metrics.csv").open())}
    assert set(rows) == set(PAIRS)
    for name, row in rows.items():
        ir, vis, fused = (Image.open(folder / f"{name}.png") for folder in (pairs / "ir", pairs / "vi", cli_fused))
        scores = semfuse.evaluate(ir, vis, fused, metrics=list(EVALUATED))
        assert list(scores) == list(EVALUATED)
        for metric, value in scores.items():
            assert math.isclose(value, float(row[metric]), rel_tol=1e-9, abs_tol=1e-12), (name, metric)


def test_segment_gives_the_labels_fuse_segment_writes(pairs, tmp_path):
    out = tmp_path / "segmented"
    ir_path, vis_path = pairs / "ir" / "msrs.png", pairs / "vi" / "msrs.png"
    assert main(["fuse", "--ir", str(ir_path), "--vis", str(vis_path), "--out", str(out), "--weights",
                 "semantic-msrs-boxes", "--segment", "--device", "cpu", "--no-progress"]) == 0
    written = np.asarray(Image.open(out / "labels" / "msrs.png"))
    fuser = semfuse.load("semantic-msrs-boxes", device="cpu")
    labels = fuser.segment(np.asarray(Image.open(ir_path)), np.asarray(Image.open(vis_path)))
    assert labels.dtype == np.uint8 and np.array_equal(labels, written)
    as_tensor = fuser.segment(_tensor(np.asarray(Image.open(ir_path))), _tensor(np.asarray(Image.open(vis_path))))
    assert as_tensor.shape == (1, *written.shape) and torch.equal(as_tensor[0], torch.tensor(written).long())
    assert fuser.classes == segmenter_classes(segmenter_for("semantic-msrs-boxes"))


def _one_line(error: BaseException, *fragments: str) -> None:
    text = str(error)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text


GREY = np.zeros((8, 8), np.uint8)
BAD_INPUTS = {
    "four channels": (lambda f: f(GREY, np.zeros((8, 8, 4), np.uint8)), InputError, "shape (8, 8, 4)"),
    "a stack of grey images": (lambda f: f(GREY, np.zeros((2, 8, 8), np.uint8)), InputError, "(H, W, 3)"),
    "int32 pixels": (lambda f: f(GREY, np.zeros((8, 8), np.int32)), InputTypeError, "int32"),
    "float beyond 1": (lambda f: f(GREY, np.full((8, 8), 200.0)), InputError, "[0, 1]"),
    "NaN pixels": (lambda f: f(GREY, np.full((8, 8), np.nan)), InputError, "[0, 1]"),
    "sizes differ": (lambda f: f(GREY, np.zeros((8, 9), np.uint8)), InputError, "8x8 but the visible image is 9x8"),
    "batch sizes differ": (lambda f: f([GREY, np.zeros((4, 4), np.uint8)], [GREY, np.zeros((4, 4), np.uint8)]),
                           InputError, "pair 1 is 4x4 but pair 0 is 8x8"),
    "batch lengths differ": (lambda f: f([GREY, GREY], [GREY]), InputError, "ir holds 2 images but vis 1"),
    "list and single": (lambda f: f([GREY], GREY), InputError, "both as lists"),
    "a file name": (lambda f: f("ir.png", "vis.png"), InputTypeError, "str"),
    "tensor and numpy": (lambda f: f(torch.zeros(1, 1, 8, 8), GREY), InputTypeError, "both as torch tensors"),
    "two channels": (lambda f: f(torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 8)), InputError, "(1, 2, 8, 8)"),
    "int64 tensor": (lambda f: f(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.long)),
                     InputTypeError, "torch.int64"),
    "batch counts differ": (lambda f: f(torch.zeros(2, 1, 8, 8), torch.zeros(3, 1, 8, 8)), InputError,
                            "ir holds 2 images but vis 3"),
    "segment without a segmenter": (lambda f: f.segment(GREY, GREY), InputError, "semantic-msrs-boxes"),
    "unknown metric": (lambda f: semfuse.evaluate(GREY, GREY, GREY, metrics="EN,PSNRR"), UnknownNameError, "PSNR"),
    "evaluate sizes differ": (lambda f: semfuse.evaluate(GREY, GREY, np.zeros((4, 4))), InputError, "fused 4x4"),
    "evaluate a batch": (lambda f: semfuse.evaluate(*[torch.zeros(2, 1, 8, 8)] * 3), InputError, "one triplet"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_line(average, case):
    call, kind, fragment = BAD_INPUTS[case]
    with pytest.raises(kind) as caught:
        call(average)
    _one_line(caught.value, fragment)


@pytest.mark.parametrize(("call", "kind", "fragments"), [
    (lambda: semfuse.load(method="avg", device="cpu"), UnknownNameError, ("'avg'", "average, densefuse-add")),
    (lambda: semfuse.load("warm-begin", device="cpu"), SemfuseError, ("'warm-begin'", "warm-start, warm-start-max")),
    (lambda: semfuse.load(tile=4, device="cpu"), InputError, ("tile", ">= 8")),
    (lambda: semfuse.load(method="average", tile=64, device="cpu"), SemfuseError, ("no option 'tile'",)),
    (lambda: semfuse.list_weights("dwtt"), UnknownNameError, ("'dwtt'", "dwt, gff")),
    (lambda: semfuse.load(device="cpu").segment(GREY, GREY), InputError, ("warm-start", "semantic-msrs-boxes")),
])
def test_bad_names_and_options_give_one_line(call, kind, fragments):
    with pytest.raises(kind) as caught:
        call()
    _one_line(caught.value, *fragments)


def test_the_lists_name_what_load_accepts():
    assert "semfuse" in semfuse.list_methods() and "average" in semfuse.list_methods()
    assert semfuse.list_weights("densefuse-add") == ["densefuse"]
    assert "semantic-msrs-boxes" in semfuse.list_weights()
    assert semfuse.list_weights("dwt") == []


def test_import_semfuse_loads_no_torch_until_the_api_is_used():
    code = ("import sys, semfuse; before = 'torch' in sys.modules; semfuse.list_methods(); "
            "print(before, 'torch' in sys.modules, sorted(semfuse.__all__) == sorted(semfuse.api.__all__ + "
            "['__version__']))")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["False", "True", "True"]


def test_hubconf_gives_the_fusion_network_in_eval_mode():
    from semfuse.models import FusionNet

    net = torch.hub.load(str(REPO), "semfuse", source="local")
    assert isinstance(net, FusionNet) and not net.training
    semantic = torch.hub.load(str(REPO), "semfuse", source="local", weights="semantic-msrs-boxes")
    ir, vis = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert net(ir, vis).shape == (1, 1, 32, 32)
        assert not torch.equal(net(ir, vis), semantic(ir, vis))


def test_hubconf_works_from_a_plain_checkout():
    code = ("import importlib.util, sys\n"
            "sys.path = [p for p in sys.path if not p.rstrip('/').endswith('src')]\n"  # hide semfuse's installation
            "if importlib.util.find_spec('semfuse') is not None:\n"
            "    print('installed'); sys.exit()\n"
            "import torch\n"
            f"net = torch.hub.load({str(REPO)!r}, 'semfuse', source='local')\n"
            "import semfuse\n"
            "print(type(net).__name__, semfuse.__file__)\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO.parent)
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() == "installed":
        pytest.skip("semfuse is installed somewhere other than a src/ folder")
    assert result.stdout.split() == ["FusionNet", str(REPO / "src" / "semfuse" / "__init__.py")]


def test_the_readme_python_section_runs(pairs, tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    for folder, name in (("ir", "ir.png"), ("vi", "vis.png")):
        Image.open(pairs / folder / "road.png").save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code, namespace)
    assert Image.open("fused.png").mode == "RGB" and set(namespace["scores"]) == {"EN", "SD", "SSIM", "Qabf"}
