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
