"""Shared fixtures: the real image pairs of ../shared/data (beside the repository, as in CI)."""

from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA} (the shared/ folder beside the repository)")
    return DATA


@pytest.fixture(scope="session")
def roadscene_pair(shared_data) -> tuple[Path, Path]:
    """A RoadScene pair: 1-channel JPEG infrared, RGB JPEG visible (500x329)."""
    return shared_data / "roadscene/ir/FLIR_00006.jpg", shared_data / "roadscene/vi/FLIR_00006.jpg"


@pytest.fixture(scope="session")
def msrs_pair(shared_data) -> tuple[Path, Path]:
    """An MSRS pair: 1-channel PNG infrared, RGB PNG visible (640x480)."""
    return shared_data / "msrs_unlabeled/test/ir/00004N.png", shared_data / "msrs_unlabeled/test/vi/00004N.png"


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


@pytest.fixture(scope="session")
def labelled_msrs(shared_data, tmp_path_factory) -> Path:
    """An MSRS-layout folder (train/ and test/ with ir/, vi/, Label/) from the 20 real MSRS pairs, shrunk to 160x120.

    The labels are constructed by this fixture, not real annotations: the hottest 10% of infrared pixels are
    class 2 ("person"), the darkest 30% of the visible luminance class 1 ("car"), the rest class 0.
    """
    import numpy as np

    root = tmp_path_factory.mktemp("msrs")
    source = shared_data / "msrs_unlabeled/test"
    names = sorted(path.stem for path in (source / "ir").iterdir())
    for split, chosen in (("train", names[:16]), ("test", names[16:])):
        for name in chosen:
            for folder in ("ir", "vi"):
                (root / split / folder).mkdir(parents=True, exist_ok=True)
                Image.open(source / folder / f"{name}.png").resize((160, 120)).save(root / split / folder / f"{name}.png")
            ir = np.asarray(Image.open(root / split / "ir" / f"{name}.png").convert("L"))
            vis = np.asarray(Image.open(root / split / "vi" / f"{name}.png").convert("L"))
            label = np.zeros(ir.shape, np.uint8)
            label[vis <= np.percentile(vis, 30)] = 1
            label[ir >= np.percentile(ir, 90)] = 2
            (root / split / "Label").mkdir(exist_ok=True)
            Image.fromarray(label).save(root / split / "Label" / f"{name}.png")
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
