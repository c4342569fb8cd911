"""Paired datasets yielding ``(ir, vis, label, name)`` samples as dictionaries of tensors."""

import torch
from torch.utils.data import Dataset, Sampler

from semfuse.data.pairs import (
    Pair,
    PairListing,
    discover_pairs,
    load_pair,
    pair_folders,
)
from semfuse.data.transforms import (
    as_tensors,
    random_photometric,
    random_scale_crop_flip,
)
from semfuse.errors import SemfuseError


def collect_pairs(sources) -> PairListing:
    """Concatenate the pairs of several :class:`semfuse.config.Source` entries (roots or ir/vis folders)."""
    listing = PairListing()
    for source in sources:
        if source.root is not None:
            found = discover_pairs(source.root, source.split)
        elif source.ir is not None and source.vis is not None:
            found = pair_folders(source.ir, source.vis)
        else:
            raise SemfuseError("each data source needs either root (MSRS/MFNet folder) or both ir and vis folders")
        listing.pairs.extend(found.pairs)
        listing.unpaired.extend(found.unpaired)
    return listing


class PairedDataset(Dataset):
    """Whole pairs: item ``i`` is ``{"name", "ir" (1, H, W), "vis" (3, H, W) RGB, "label" (H, W) int64}``.

    Unlabelled pairs get a label of 255 (ignore) everywhere.
    """

    def __init__(self, pairs: list[Pair]):
        if not pairs:
            raise SemfuseError("no image pairs found; check the data folders")
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        return as_tensors(load_pair(self.pairs[index]))


class RandomCropDataset(Dataset):
    """Training crops: item ``(index, seed)`` is pair ``index`` rescaled, cropped and flipped with RNG ``seed``.

    Seeding each item explicitly makes the crops a pure function of (seed, iteration), so a resumed run sees
    exactly the crops an uninterrupted run would.
    """

    def __init__(self, pairs: PairedDataset, crop: tuple[int, int], scale: tuple[float, float], hflip: bool,
                 photometric: bool = False):
        self.pairs, self.crop, self.scale, self.hflip = pairs, tuple(crop), tuple(scale), hflip
        self.photometric = photometric

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, seed = item
        generator = torch.Generator().manual_seed(seed)
        sample = random_scale_crop_flip(self.pairs[index], self.crop, self.scale, self.hflip, generator)
        return random_photometric(sample, generator) if self.photometric else sample


class IterationBatchSampler(Sampler):
    """Yields, for iterations ``start, start + 1, ... total - 1``, a batch of ``(index, seed)`` items.

    Batch ``i`` depends only on ``(seed, i)``: indices are drawn with replacement from a generator seeded by both.
    Under data parallelism process ``rank`` of ``world_size`` takes ``batch[rank::world_size]`` of each global batch.
    """

    def __init__(self, size: int, batch_size: int, total: int, seed: int, start: int = 0, rank: int = 0,
                 world_size: int = 1):
        self.size, self.batch_size, self.total, self.seed, self.start = size, batch_size, total, seed, start
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(self.total - self.start, 0)

    def __iter__(self):
        for iteration in range(self.start, self.total):
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + iteration)
            indices = torch.randint(0, self.size, (self.batch_size,), generator=generator).tolist()
            seeds = torch.randint(0, 2**62, (self.batch_size,), generator=generator).tolist()
            yield list(zip(indices, seeds))[self.rank :: self.world_size]
