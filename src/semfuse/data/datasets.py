"""Paired datasets yielding ``(ir, vis, label, name)`` samples as dictionaries of tensors, and the fused-image
dataset of the segmentation protocol."""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from semfuse.data.io import read_image
from semfuse.data.pairs import (
    Pair,
    PairListing,
    discover_pairs,
    load_pair,
    pair_folders,
    read_pair_label,
)
from semfuse.data.transforms import (
    as_tensors,
    random_photometric,
    random_scale_crop_flip,
)
from semfuse.errors import SemfuseError


def collect_pairs(sources, labels: str = "auto", class_map: str | None = None) -> PairListing:
    """Concatenate the pairs of several :class:`semfuse.config.Source` entries (roots or ir/vis folders).

    ``labels`` and ``class_map`` go to :func:`semfuse.data.pairs.discover_pairs`. The listing's ``classes`` are
    those of the labelled sources, which must agree.
    """
    listing = PairListing()
    for source in sources:
        if source.root is not None:
            found = discover_pairs(source.root, source.split, labels, class_map)
        elif source.ir is not None and source.vis is not None:
            found = pair_folders(source.ir, source.vis)
        else:
            raise SemfuseError("each data source needs either root (MSRS/MFNet folder) or both ir and vis folders")
        if found.classes is not None:
            if listing.classes is not None and listing.classes != found.classes:
                raise SemfuseError(f"the data sources label different classes: {', '.join(listing.classes)} and "
                                   f"{', '.join(found.classes)}; train on sources with one class list")
            listing.classes = found.classes
        listing.pairs.extend(found.pairs)
        listing.unpaired.extend(found.unpaired)
    return listing


def label_pixel_counts(pairs: list[Pair], num_classes: int) -> torch.Tensor:
    """(num_classes,) pixel count of each class over the labels of ``pairs`` (unlabelled pairs and 255 ignored)."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for pair in pairs:
        label = read_pair_label(pair)
        if label is None:
            continue
        valid = label[(label >= 0) & (label < num_classes)]
        counts += np.bincount(valid.ravel(), minlength=num_classes)[:num_classes]
    return torch.from_numpy(counts)


class PairedDataset(Dataset):
    """Whole pairs: item ``i`` is ``{"name", "ir" (1, H, W), "vis" (3, H, W) RGB, "label" (H, W) int64}``.

    Unlabelled pairs get a label of 255 (ignore) everywhere. ``classes`` names the label ids (None: unlabelled).
    """

    def __init__(self, pairs: list[Pair], classes: tuple[str, ...] | None = None, cache: bool = False):
        if not pairs:
            raise SemfuseError("no image pairs found; check the data folders")
        self.pairs, self.classes = list(pairs), classes
        self._cache = [self._load(index) for index in range(len(self.pairs))] if cache else None

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> dict:
        return as_tensors(load_pair(self.pairs[index]))

    def __getitem__(self, index: int) -> dict:
        return self._cache[index] if self._cache is not None else self._load(index)


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


class FusedImageDataset(Dataset):
    """One method's fused images with the labels of their pairs, for the segmentation protocol.

    Item ``i`` of ``[(fused image file, pair), ...]`` is ``{"name", "image" (3, H, W) RGB, "label" (H, W) int64}``;
    a grey fused image is repeated over the three channels.
    """

    def __init__(self, items: list[tuple[Path, Pair]], classes: tuple[str, ...] | None = None, cache: bool = False):
        if not items:
            raise SemfuseError("no fused image has a label; check that the fused files are named like the pairs")
        self.items, self.classes = items, classes
        self._cache = [self._load(index) for index in range(len(self.items))] if cache else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self._cache[index] if self._cache is not None else self._load(index)

    def _load(self, index: int) -> dict:
        image_path, pair = self.items[index]
        image = torch.from_numpy(read_image(image_path))
        image = image[None].expand(3, -1, -1).clone() if image.dim() == 2 else image.permute(2, 0, 1).contiguous()
        label = torch.from_numpy(read_pair_label(pair, image.shape[1], image.shape[2]))
        if label.shape != image.shape[-2:]:
            raise SemfuseError(f"{image_path} is {image.shape[2]}x{image.shape[1]} but its label is "
                               f"{label.shape[1]}x{label.shape[0]}; fused images must keep the source size")
        return {"name": pair.name, "image": image, "label": label}
