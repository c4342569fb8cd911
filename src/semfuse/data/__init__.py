"""Image reading and writing, colour conversion, pair discovery and paired datasets."""

from semfuse.data.colour import rgb_to_ycbcr, ycbcr_to_rgb
from semfuse.data.io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    list_images,
    read_image,
    write_image,
)
from semfuse.data.pairs import (
    Pair,
    PairListing,
    discover_pairs,
    load_pair,
    pair_folders,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "Pair",
    "PairListing",
    "discover_pairs",
    "list_images",
    "load_pair",
    "pair_folders",
    "read_image",
    "rgb_to_ycbcr",
    "write_image",
    "ycbcr_to_rgb",
]
