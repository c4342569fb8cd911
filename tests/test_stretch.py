"""``semfuse fuse --stretch``: the authors' per-image min–max stretch, exact, and off unless asked for."""

import numpy as np
import pytest
from PIL import Image

from semfuse.cli import main
from semfuse.data.io import read_image
from semfuse.inference import fuse_arrays, stretch_range
from semfuse.methods import get_method


def test_stretch_is_exact_on_a_small_array():
    # min 0.2, max 0.6: (x - 0.2) / 0.4 maps 0.2 -> 0, 0.3 -> 0.25, 0.5 -> 0.75, 0.6 -> 1
    image = np.array([[0.2, 0.3], [0.5, 0.6]], dtype=np.float64)
    assert stretch_range(image).ravel().tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0], abs=1e-15)
    assert stretch_range(image).dtype == np.float64


def test_colour_channels_share_one_range_and_a_constant_image_is_kept():
    rgb = np.zeros((2, 2, 3), dtype=np.float32)
    rgb[..., 0], rgb[..., 2] = 0.5, 0.25  # red 0.5 everywhere, blue 0.25, green 0: range [0, 0.5]
    stretched = stretch_range(rgb)
    assert stretched[0, 0].tolist() == [1.0, 0.0, 0.5]
    flat = np.full((3, 3), 0.4, dtype=np.float32)
    assert np.array_equal(stretch_range(flat), flat)


def _pair(tmp_path, samples):
    files = []
    for folder in ("ir", "vi"):
        target = tmp_path / folder / "msrs.png"
        target.parent.mkdir()
        Image.open(samples / folder / "msrs_00004N.png").crop((0, 0, 96, 64)).save(target)
        files.append(str(target))
    return files


def test_fuse_writes_stretched_images_only_with_the_flag(tmp_path, samples):
    ir, vis = _pair(tmp_path, samples)
    plain, stretched = tmp_path / "plain.png", tmp_path / "stretched.png"
    for out, extra in ((plain, []), (stretched, ["--stretch"])):
        assert main(["fuse", "--ir", ir, "--vis", vis, "--out", str(out), "--method", "average", "--no-progress",
                     *extra]) == 0
    plain_pixels, stretched_pixels = read_image(plain), read_image(stretched)
    assert plain_pixels.min() > 0.0 or plain_pixels.max() < 1.0  # the average does not span the range by itself
    assert stretched_pixels.min() == 0.0 and stretched_pixels.max() == 1.0
    fused = fuse_arrays(get_method("average"), read_image(ir), read_image(vis))
    assert np.abs(plain_pixels * 255 - fused * 255).max() <= 0.5 + 1e-4  # the plain file: the fusion, rounded
    assert np.abs(stretched_pixels * 255 - stretch_range(fused) * 255).max() <= 0.5 + 1e-4  # stretched, rounded
