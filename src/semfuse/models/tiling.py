"""Fusing an image larger than memory allows: overlapping tiles, with the attention still seeing the whole image.

The network's convolutions are local, but its ``efficient`` attention is global: every position is weighted by
``Softmax(Kᵀ V / N)``, a sum over all N positions of the image. Tiled fusion keeps that exact by running twice:

1. each tile (with ``halo`` pixels of context on each side) goes through the two encoders, and each attention
   module adds up ``Kᵀ V`` over the tile's own core only; the cores partition the image, so the sums are the whole
   image's sums (up to how the halo changes the features near the tile border);
2. each tile goes through the encoders again, the attention uses the whole image's context, the decoder runs, and
   the tile's core is written into the output.

Only the convolutions' view of the image is cut off at the halo, so the result differs from whole-image fusion
only where a position's receptive field reaches past its tile's halo; ``benchmarks/fuse_memory.py`` measures the
difference (it is reported in the README). Memory is that of one tile, whatever the image size. Tiles start at
multiples of the network's largest stride (8), so every tile pools on the whole image's grid.
"""

import itertools

import torch
from torch import Tensor

from semfuse.errors import InputError
from semfuse.layers.attention import EfficientSelfAttention, NoAttention, SpatialAttention
from semfuse.models.fusion_net import FusionNet

LOCAL_KINDS = (NoAttention, SpatialAttention)  # attention computed per position: tiles need nothing else


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _check_tileable(net: FusionNet) -> None:
    for block in net.fusion_blocks:
        for module in (block.attend_ir, block.attend_vis):
            if not isinstance(module, (EfficientSelfAttention, *LOCAL_KINDS)):
                raise InputError(
                    f"tiled fusion supports the efficient, none and spatial attention kinds, not "
                    f"{type(module).__name__}, whose global statistics are not split over tiles; fuse the whole image"
                )


def tile_grid(
    height: int, width: int, tile: int, halo: int, stride: int = 8
) -> list[tuple[slice, slice, slice, slice]]:
    """(core rows, core columns, extended rows, extended columns) of every tile, as slices of the image.

    Cores are ``tile`` x ``tile`` (smaller at the bottom and right edges) and partition the image; the extended
    region adds ``halo`` pixels on each side, clipped at the image border. ``tile`` and ``halo`` are rounded up to
    multiples of ``stride``.
    """
    tile, halo = _round_up(max(tile, stride), stride), _round_up(halo, stride)
    tiles = []
    for top, left in itertools.product(range(0, height, tile), range(0, width, tile)):
        bottom, right = min(top + tile, height), min(left + tile, width)
        tiles.append((slice(top, bottom), slice(left, right),
                      slice(max(0, top - halo), min(height, bottom + halo)),
                      slice(max(0, left - halo), min(width, right + halo))))
    return tiles


def _core_at_scale(core: slice, extended: slice, scale: int) -> slice:
    """The core's positions inside the extended tile's feature map at stride 2^scale (ceil pooling)."""
    factor = 2**scale
    return slice((core.start - extended.start) // factor, -(-(core.stop - extended.start) // factor))


def fuse_tiled(net: FusionNet, ir: Tensor, vis: Tensor, tile: int = 1024, halo: int = 64) -> Tensor:
    """Fuse (B, 1, H, W) ``ir`` and ``vis`` tile by tile with whole-image attention contexts (see the module doc).

    Args:
        net: the fusion network (attention kind efficient, none or spatial), in eval mode.
        ir: infrared luminance, (B, 1, H, W) in [0, 1].
        vis: visible luminance, same shape.
        tile: side of each tile's core in pixels (rounded up to a multiple of 8).
        halo: context pixels around each core (rounded up to a multiple of 8).

    Returns:
        The fused luminance, (B, 1, H, W) float32 in [0, 1]; ``net(ir, vis)`` itself when one tile covers the image.

    Raises:
        InputError: (a ValueError) for an attention kind with other global statistics (official, channel),
            or bad shapes.
    """
    if ir.dim() != 4 or ir.shape[1] != 1 or ir.shape != vis.shape:
        raise InputError(f"fuse_tiled expects ir and vis of one shape (B, 1, H, W); got {tuple(ir.shape)} and "
                         f"{tuple(vis.shape)}")
    _check_tileable(net)
    height, width = ir.shape[-2:]
    tiles = tile_grid(height, width, tile, halo)
    if len(tiles) == 1:
        return net(ir, vis)
    global_attention = any(isinstance(module, EfficientSelfAttention) for module in net.modules())
    mixings = _whole_image_mixings(net, ir, vis, tiles) if global_attention else {}
    fused = torch.empty(ir.shape, dtype=torch.float32, device=ir.device)
    for rows, columns, ext_rows, ext_columns in tiles:  # pass 2: fuse each tile with the whole image's contexts
        out = net.decode(net.fuse(*net.encode(ir[..., ext_rows, ext_columns], vis[..., ext_rows, ext_columns]),
                                  mixings))
        top, left = rows.start - ext_rows.start, columns.start - ext_columns.start
        core = out[..., top : top + rows.stop - rows.start, left : left + columns.stop - columns.start]
        fused[..., rows, columns] = core
    return fused


def _whole_image_mixings(net: FusionNet, ir: Tensor, vis: Tensor, tiles: list[tuple[slice, slice, slice, slice]]
                         ) -> dict[int, tuple[Tensor, Tensor]]:
    """Pass 1: each efficient attention module's whole-image mixing, from ``Kᵀ V`` summed over the tiles' cores."""
    scales = range(len(net.fusion_blocks))
    sums: dict[tuple[int, int], Tensor] = {}
    counts = [0 for _ in scales]
    for rows, columns, ext_rows, ext_columns in tiles:
        features = net.encode(ir[..., ext_rows, ext_columns], vis[..., ext_rows, ext_columns])
        for scale in scales:
            core_rows = _core_at_scale(rows, ext_rows, scale)
            core_columns = _core_at_scale(columns, ext_columns, scale)
            block = net.fusion_blocks[scale]
            for side, module in enumerate((block.attend_ir, block.attend_vis)):
                if isinstance(module, EfficientSelfAttention):
                    part = module.context_sum(features[side][scale], core_rows, core_columns)
                    sums[scale, side] = part if (scale, side) not in sums else sums[scale, side] + part
            counts[scale] += (core_rows.stop - core_rows.start) * (core_columns.stop - core_columns.start)
    mixings = {}
    for scale in scales:
        block = net.fusion_blocks[scale]
        attend_ir, attend_vis = block.attend_ir, block.attend_vis
        if isinstance(attend_ir, EfficientSelfAttention) and isinstance(attend_vis, EfficientSelfAttention):
            mixings[scale] = (attend_ir.mixing(sums[scale, 0], counts[scale]),
                              attend_vis.mixing(sums[scale, 1], counts[scale]))
    return mixings
