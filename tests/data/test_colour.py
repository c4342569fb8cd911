"""BT.601 full-range colour conversion: exact round trip on real images, grey stays grey."""

import numpy as np
import torch
from PIL import Image

from semfuse.data.colour import luminance, restore_colour, rgb_to_ycbcr, ycbcr_to_rgb


def _rgb(path) -> torch.Tensor:
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None]  # (1, 3, H, W)


def test_round_trip_is_exact_to_one_grey_level(roadscene_pair, msrs_pair):
    for _, vis in (roadscene_pair, msrs_pair):
        rgb = _rgb(vis)
        back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
        assert torch.equal(torch.round(back * 255), torch.round(rgb * 255))
        assert (back - rgb).abs().max() < 1 / 255 / 100


def test_known_values():
    # white: Y = 1, Cb = Cr = 0.5; pure red: Y = 0.299, Cb = 0.5 - 0.168736, Cr = 1.0
    white = rgb_to_ycbcr(torch.ones(1, 3, 1, 1)).flatten()
    red = rgb_to_ycbcr(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([1.0, 0.5, 0.5]), atol=1e-6)
    assert torch.allclose(red, torch.tensor([0.299, 0.331264, 1.0]), atol=1e-6)


def test_grey_in_gives_grey_out():
    grey = torch.rand(1, 1, 4, 5).expand(1, 3, 4, 5)
    assert torch.allclose(luminance(grey), grey[:, :1], atol=1e-6)
    out = restore_colour(torch.rand(1, 1, 4, 5), grey)
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-6) and torch.allclose(out[:, 1], out[:, 2], atol=1e-6)


def test_restore_colour_keeps_visible_chroma(roadscene_pair):
    rgb = _rgb(roadscene_pair[1])[..., :64, :64]
    fused_y = torch.rand(1, 1, 64, 64) * 0.5 + 0.25
    out = restore_colour(fused_y, rgb)
    ycbcr = rgb_to_ycbcr(out)
    assert torch.allclose(ycbcr[:, :1], fused_y, atol=2e-2)  # exact unless RGB clipping bites
    unclipped = (out > 0.01).all(dim=1, keepdim=True) & (out < 0.99).all(dim=1, keepdim=True)
    assert torch.allclose(ycbcr[:, 1:][unclipped.expand(-1, 2, -1, -1)],
                          rgb_to_ycbcr(rgb)[:, 1:][unclipped.expand(-1, 2, -1, -1)], atol=1e-5)


def test_luminance_is_the_y_of_the_full_conversion_to_the_last_bit(roadscene_pair, msrs_pair):
    """Equal up to the rounding of the sum: one row of the matrix may take another BLAS kernel than three, which
    adds the three products in another order on some CPUs (equal on an AMD EPYC, 1 ulp apart on an Intel Xeon)."""
    generator = torch.Generator().manual_seed(0)
    images = [_rgb(vis) for _, vis in (roadscene_pair, msrs_pair)]
    images += [torch.rand(4, 3, 17, 23, generator=generator), torch.rand(3, 9, 5, generator=generator).double()]
    for rgb in images:
        y = luminance(rgb)
        assert y.shape == (*rgb.shape[:-3], 1, *rgb.shape[-2:]) and y.dtype == rgb.dtype
        torch.testing.assert_close(y, rgb_to_ycbcr(rgb)[..., :1, :, :], rtol=0, atol=torch.finfo(rgb.dtype).eps)
