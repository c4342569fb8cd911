"""Fixtures for the fusion-method tests: real luminance pairs from the samples bundled with the package."""

from pathlib import Path

import numpy as np
import pytest
import torch

from semfuse.data.colour import luminance
from semfuse.data.io import read_image


def _grey(path: Path) -> torch.Tensor:
    """(1, 1, H, W) float32 luminance: grey files as they are, colour files by BT.601."""
    image = read_image(path)
    if image.ndim == 3:
        return luminance(torch.from_numpy(image).permute(2, 0, 1)).unsqueeze(0)
    return torch.from_numpy(np.ascontiguousarray(image))[None, None]


def _pair(paths: tuple[Path, Path]) -> tuple[torch.Tensor, torch.Tensor]:
    return _grey(paths[0]), _grey(paths[1])


@pytest.fixture(scope="session")
def tno_full(samples) -> tuple[torch.Tensor, torch.Tensor]:
    """TNO pair 37 whole (359 x 247, odd in both directions), grey PNGs stored as RGB: (1, 1, 247, 359) each."""
    return _pair((samples / "ir" / "tno_37.png", samples / "vi" / "tno_37.png"))


@pytest.fixture(scope="session")
def real_pairs(tno_pair, roadscene_pair) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Two real pairs cropped to odd sizes to keep the tests fast.

    ``tno``: TNO 05 (280 x 280) rows 40:201, columns 60:263 (161 x 203), a crop with the hot target of the infrared
    and the textured bank of the visible image, so each source is the more salient in part of it. ``roadscene``:
    FLIR_00006 (infrared 1-channel JPEG, visible RGB JPEG reduced to BT.601 luminance) rows 100:237, columns 150:335
    (137 x 185).
    """
    road_ir, road_vis = _pair(roadscene_pair)
    tno_ir, tno_vis = _pair(tno_pair)
    return {
        "tno": (tno_ir[..., 40:201, 60:263].contiguous(), tno_vis[..., 40:201, 60:263].contiguous()),
        "roadscene": (road_ir[..., 100:237, 150:335].contiguous(), road_vis[..., 100:237, 150:335].contiguous()),
    }
