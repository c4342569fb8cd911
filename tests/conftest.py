"""Shared fixtures: real image pairs.

Most tests read the six pairs bundled with the package (``src/semfuse/samples``: two MSRS, two TNO, two RoadScene,
byte-identical to the files of the same names in ../shared/data), so they run in any clone. Only tests that need the
large data sets use ``shared_data``, which skips when ../shared/data (the folder beside the repository, as in CI)
is absent.
"""

import os
import shutil
from importlib.resources import files
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: with spinning waits, tests that start a second process (DDP, CLI
# subprocesses) or run beside other jobs slow down 10-30x on a 2-core machine (benchmarks/results/shared_machine.json).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"

# Bundled sample name -> (data set folder as in ../shared/data, original file name).
BUNDLED = {
    "msrs_00004N.png": ("msrs_unlabeled/test", "00004N.png"),
    "msrs_00055D.png": ("msrs_unlabeled/test", "00055D.png"),
    "tno_05.png": ("tno", "05.png"),
    "tno_37.png": ("tno", "37.png"),
    "roadscene_FLIR_00006.jpg": ("roadscene", "FLIR_00006.jpg"),
    "roadscene_FLIR_00211.jpg": ("roadscene", "FLIR_00211.jpg"),
}


def _samples() -> Path:
    """The installed package's sample folder (a plain folder for a source or editable install)."""
    path = Path(str(files("semfuse").joinpath("samples")))
    assert (path / "ir").is_dir() and (path / "vi").is_dir(), f"bundled samples not found at {path}"
    return path


def _sample_pair(name: str) -> tuple[Path, Path]:
    samples = _samples()
    return samples / "ir" / name, samples / "vi" / name


@pytest.fixture(scope="session")
def samples() -> Path:
    """The bundled sample folder: ``ir/NAME`` and ``vi/NAME`` form a pair (six pairs; see its ATTRIBUTION.md)."""
    return _samples()


@pytest.fixture(scope="session")
def bundled_data(tmp_path_factory) -> Path:
    """A folder laid out like ../shared/data holding only the six bundled pairs, under their original names.

    ``roadscene/{ir,vi}/FLIR_00006.jpg, FLIR_00211.jpg``; ``tno/{ir,vi}/05.png, 37.png``;
    ``msrs_unlabeled/test/{ir,vi}/00004N.png, 00055D.png``. Use it where a test needs a data-set folder layout.
    """
    root = tmp_path_factory.mktemp("bundled_data")
    samples = _samples()
    for name, (folder, original) in BUNDLED.items():
        for modality in ("ir", "vi"):
            target = root / folder / modality / original
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(samples / modality / name, target)
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, for the tests that need the large data sets; skips when it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA} (the shared/ folder beside the repository)")
    return DATA


@pytest.fixture(scope="session")
def roadscene_pair() -> tuple[Path, Path]:
    """A RoadScene pair (FLIR_00006): 1-channel JPEG infrared, RGB JPEG visible (500x329)."""
    return _sample_pair("roadscene_FLIR_00006.jpg")


@pytest.fixture(scope="session")
def msrs_pair() -> tuple[Path, Path]:
    """An MSRS pair (00004N, night): 1-channel PNG infrared, RGB PNG visible (640x480)."""
    return _sample_pair("msrs_00004N.png")


@pytest.fixture(scope="session")
def tno_pair() -> tuple[Path, Path]:
    """A TNO pair (05): grey PNGs stored as RGB with R = G = B (280x280)."""
    return _sample_pair("tno_05.png")


def _crop_to(src: Path, dst: Path, box: tuple[int, int, int, int], mode: str | None = None) -> Path:
    image = Image.open(src).crop(box)
    if mode is not None:
        image = image.convert(mode)
    dst.parent.mkdir(parents=True, exist_ok=True)
    image.save(dst)
    return dst


@pytest.fixture
def crop_to():
    """``crop_to(src, dst, (left, top, right, bottom), mode=None)`` saves a crop of a real image and returns dst."""
    return _crop_to


# Views of each bundled 640x480 MSRS pair for ``labelled_msrs``: a box (left, top, right, bottom), mirrored or not.
_CORNERS = ((0, 0), (160, 0), (0, 120), (160, 120))
_TRAIN_VIEWS = [((x, y, x + 480, y + 360), flip) for x, y in _CORNERS for flip in (False, True)]
_TEST_VIEWS = [((0, 0, 640, 480), False), ((0, 0, 640, 480), True)]


@pytest.fixture(scope="session")
def labelled_msrs(tmp_path_factory) -> Path:
    """An MSRS-layout folder (train/ and test/ with ir/, vi/, Label/) of 20 views of the two bundled MSRS pairs.

    Each pair (00004N night, 00055D day) gives 10 views, all resized to 160x120: the four 480x360 corner crops,
    each as is and mirrored, go to train/ (16 images); the whole frame, as is and mirrored, goes to test/ (4 images).
    The test views show the same scenes as the training views (at another scale), so scores on test/ show that the
    pipeline runs, not how well it generalises.

    The labels are constructed by this fixture, not real annotations: the hottest 10% of infrared pixels are
    class 2 ("person"), the darkest 30% of the visible luminance class 1 ("car"), the rest class 0.
    """
    root = tmp_path_factory.mktemp("msrs")
    for sample in ("msrs_00004N.png", "msrs_00055D.png"):
        stem = sample.removeprefix("msrs_").removesuffix(".png")
        sources = {folder: Image.open(path) for folder, path in zip(("ir", "vi"), _sample_pair(sample))}
        for split, views in (("train", _TRAIN_VIEWS), ("test", _TEST_VIEWS)):
            for box, flip in views:
                name = f"{stem}_{box[0]:03d}_{box[1]:03d}_{box[2] - box[0]}{'_m' if flip else ''}.png"
                for folder, source in sources.items():
                    view = source.crop(box).resize((160, 120))
                    if flip:
                        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                    (root / split / folder).mkdir(parents=True, exist_ok=True)
                    view.save(root / split / folder / name)
                ir = np.asarray(Image.open(root / split / "ir" / name).convert("L"))
                vis = np.asarray(Image.open(root / split / "vi" / name).convert("L"))
                label = np.zeros(ir.shape, np.uint8)
                label[vis <= np.percentile(vis, 30)] = 1
                label[ir >= np.percentile(ir, 90)] = 2
                (root / split / "Label").mkdir(exist_ok=True)
                Image.fromarray(label).save(root / split / "Label" / name)
    return root


def _unit_columns(rows: int, columns: int, seed: int):
    import numpy as np
    import torch

    atoms = torch.from_numpy(np.random.default_rng(seed).normal(size=(rows, columns)))
    return atoms / atoms.norm(dim=0)


def _sparse_signals(dictionary, count: int, sparsity: int, seed: int):
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    supports = np.stack([rng.choice(dictionary.shape[1], sparsity, replace=False) for _ in range(count)])
    magnitudes = rng.uniform(0.5, 1.5, size=(count, sparsity))
    values = torch.from_numpy(rng.choice([-1.0, 1.0], size=(count, sparsity)) * magnitudes)
    supports = torch.from_numpy(supports)
    codes = torch.zeros(count, dictionary.shape[1], dtype=torch.float64).scatter_(1, supports, values)
    return codes @ dictionary.T, codes


@pytest.fixture(scope="session")
def sparse_synthesis():
    """Planted sparse codes for OMP and K-SVD tests: ``unit_columns(rows, columns, seed)`` is a random dictionary
    with unit-norm float64 columns; ``sparse_signals(dictionary, count, sparsity, seed)`` gives ``count`` signals of
    ``sparsity`` random atoms with coefficients of magnitude 0.5..1.5, and their codes."""
    from types import SimpleNamespace

    return SimpleNamespace(unit_columns=_unit_columns, sparse_signals=_sparse_signals)
