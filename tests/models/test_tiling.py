"""Tiled fusion: tiles partition the image, whole-image attention contexts make it exact given enough halo."""

import itertools

import pytest
import torch

from semfuse.export import bundled_sample_pairs
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net
from semfuse.models.tiling import fuse_tiled, tile_grid

TINY = dict(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


@pytest.mark.parametrize("height,width,tile,halo", [(100, 130, 32, 16), (64, 64, 64, 8), (17, 50, 9, 3)])
def test_tile_cores_partition_the_image(height, width, tile, halo):
    covered = torch.zeros(height, width, dtype=torch.int64)
    for rows, columns, ext_rows, ext_columns in tile_grid(height, width, tile, halo):
        covered[rows, columns] += 1
        assert rows.start % 8 == 0 and columns.start % 8 == 0 and ext_rows.start % 8 == 0
        assert ext_rows.start <= rows.start and ext_rows.stop >= rows.stop
        assert ext_columns.start <= columns.start and ext_columns.stop >= columns.stop
    assert torch.equal(covered, torch.ones_like(covered))


@pytest.mark.parametrize("kind", ["efficient", "none", "spatial"])
@pytest.mark.parametrize("size", [(72, 104), (61, 83)])
def test_tiles_with_a_halo_covering_the_image_equal_whole_image_fusion(kind, size):
    # every tile then sees the whole image, so only the attention's context sums are split over the tiles
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(attention=kind, **TINY)).eval()
    ir, vis = torch.rand(2, 1, *size), torch.rand(2, 1, *size)
    with torch.inference_mode():
        torch.testing.assert_close(fuse_tiled(net, ir, vis, tile=40, halo=128), net(ir, vis), rtol=0, atol=1e-5)


def test_tiles_on_a_real_pair_stay_far_inside_one_grey_level(samples):
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(**TINY)).eval()
    ir, vis = (image[..., 100:196, 200:328] for image in bundled_sample_pairs()["msrs_00004N"])
    with torch.inference_mode():
        difference = (fuse_tiled(net, ir, vis, tile=40, halo=32) - net(ir, vis)).abs().max().item()
    assert difference < 0.1 / 255


def test_channels_last_tiles_match(samples):
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(**TINY)).eval()
    ir, vis = torch.rand(1, 1, 70, 90), torch.rand(1, 1, 70, 90)
    with torch.inference_mode():
        reference = fuse_tiled(net, ir, vis, tile=32, halo=16)
        net.use_channels_last()
        torch.testing.assert_close(fuse_tiled(net, ir, vis, tile=32, halo=16), reference, rtol=0, atol=1e-5)


def test_one_tile_is_the_whole_image():
    torch.manual_seed(0)
    net = build_fusion_net(FusionNetConfig(**TINY)).eval()
    ir, vis = torch.rand(1, 1, 30, 40), torch.rand(1, 1, 30, 40)
    with torch.inference_mode():
        assert torch.equal(fuse_tiled(net, ir, vis, tile=64), net(ir, vis))


@pytest.mark.parametrize("kind", ["official", "channel"])
def test_global_kinds_other_than_efficient_are_refused(kind):
    net = build_fusion_net(FusionNetConfig(attention=kind, **TINY)).eval()
    with pytest.raises(ValueError, match="whole image"):
        fuse_tiled(net, torch.rand(1, 1, 40, 40), torch.rand(1, 1, 40, 40), tile=16)


def test_mismatched_shapes_are_refused():
    net = build_fusion_net(FusionNetConfig(**TINY)).eval()
    with pytest.raises(ValueError, match="one shape"):
        fuse_tiled(net, torch.rand(1, 1, 40, 40), torch.rand(1, 1, 40, 41))


def test_every_grid_position_is_in_exactly_one_core():
    for height, width in itertools.product((8, 9, 33), (8, 15, 40)):
        cores = [(r, c) for r, c, _, _ in tile_grid(height, width, 8, 8)]
        assert sum((r.stop - r.start) * (c.stop - c.start) for r, c in cores) == height * width
