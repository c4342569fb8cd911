"""Fixtures for the fusion-method tests: real luminance pairs from ../shared/data beside the repository."""

from pathlib import Path

import numpy as np
import pytest
import torch

from semfuse.data.colour import luminance
from semfuse.data.io import read_image

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _grey(path: Path) -> torch.Tensor:
    """(1, 1, H, W) float32 luminance: grey files as they are, colour files by BT.601."""
    image = read_image(path)
    if image.ndim == 3:
        return luminance(torch.from_numpy(image).permute(2, 0, 1)).unsqueeze(0)
    return torch.from_numpy(np.ascontiguousarray(image))[None, None]


def _pair(ir_path: Path, vis_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if not ir_path.is_file() or not vis_path.is_file():
        where = SHARED_DATA.resolve()
        pytest.skip(f"real pair {ir_path.name} not found under {where} (the shared/ folder beside the repository)")
    return _grey(ir_path), _grey(vis_path)


@pytest.fixture(scope="session")
def tno_full() -> tuple[torch.Tensor, torch.Tensor]:
    """TNO pair 09, the largest (945 x 709), grey PNGs stored as RGB: (1, 1, 709, 945) each."""
    return _pair(SHARED_DATA / "tno" / "ir" / "09.png", SHARED_DATA / "tno" / "vi" / "09.png")


@pytest.fixture(scope="session")
def real_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Two real pairs cropped to odd sizes to keep the tests fast.

    ``tno``: TNO 17 (620 x 450) rows 100:261, columns 150:353 (161 x 203), a crop where each source is the more
    salient in part of the image. ``roadscene``: FLIR_00006 (infrared 1-channel JPEG, visible RGB JPEG reduced to
    BT.601 luminance) rows 100:237, columns 150:335 (137 x 185).
    """
    road_ir, road_vis = _pair(
        SHARED_DATA / "roadscene" / "ir" / "FLIR_00006.jpg", SHARED_DATA / "roadscene" / "vi" / "FLIR_00006.jpg"
    )
    tno_ir, tno_vis = _pair(SHARED_DATA / "tno" / "ir" / "17.png", SHARED_DATA / "tno" / "vi" / "17.png")
    return {
        "tno": (tno_ir[..., 100:261, 150:353].contiguous(), tno_vis[..., 100:261, 150:353].contiguous()),
        "roadscene": (road_ir[..., 100:237, 150:335].contiguous(), road_vis[..., 100:237, 150:335].contiguous()),
    }
