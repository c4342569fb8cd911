"""Every registered method through the same colour pipeline: size kept, range, determinism, visible chroma restored."""

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.data.colour import rgb_to_ycbcr
from semfuse.inference import fuse_arrays
from semfuse.methods import available_methods, get_method

NAMES = [info.name for info in available_methods()]


@pytest.fixture(scope="module")
def colour_pair(bundled_data):
    box = (200, 90, 295, 161)  # a 95x71 crop (odd sizes) of the trees in a colourful MSRS day pair
    folder = bundled_data / "msrs_unlabeled/test"
    ir = np.asarray(Image.open(folder / "ir/00055D.png").convert("L").crop(box), np.float32) / 255
    vis = np.asarray(Image.open(folder / "vi/00055D.png").convert("RGB").crop(box), np.float32) / 255
    return ir, vis


@pytest.mark.parametrize("name", NAMES)
def test_method_in_the_colour_pipeline(name, colour_pair):
    ir, vis = colour_pair
    fuse = get_method(name, device="cpu")
    fused = fuse_arrays(fuse, ir, vis)
    assert fused.shape == vis.shape and fused.dtype == np.float32
    assert 0.0 <= fused.min() and fused.max() <= 1.0
    assert np.array_equal(fused, fuse_arrays(fuse, ir, vis))
    to_ycbcr = lambda rgb: rgb_to_ycbcr(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0]  # noqa: E731
    chroma_out, chroma_vis = to_ycbcr(fused)[1:], to_ycbcr(vis)[1:]
    unclipped = torch.from_numpy(((fused > 0.02) & (fused < 0.98)).all(axis=2))
    assert unclipped.float().mean() > 0.5
    assert (chroma_out[:, unclipped] - chroma_vis[:, unclipped]).abs().max() < 1e-4  # the visible Cb/Cr, kept


@pytest.mark.parametrize("name", NAMES)
def test_method_keeps_grey_grey(name, colour_pair):
    ir, vis = colour_pair
    fuse = get_method(name, device="cpu")
    fused = fuse_arrays(fuse, ir, vis.mean(axis=2))
    assert fused.shape == ir.shape
