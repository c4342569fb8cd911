"""Finding infrared/visible pairs on disk, in the layouts the field uses.

* **Plain folders**: an infrared folder and a visible folder (optionally a label folder), paired by file stem;
  any of png/jpg/jpeg/bmp/tif/tiff, and the two members of a pair may have different extensions.
* **MSRS**: ``ROOT[/SPLIT]/ir``, ``ROOT[/SPLIT]/vi`` and, when present, ``ROOT[/SPLIT]/Label`` (or ``label``,
  ``labels``), with SPLIT ``train`` or ``test``.
* **MFNet**: ``ROOT/images/*.png`` (4 channels: R, G, B, thermal), ``ROOT/labels/*.png`` and the split lists
  ``ROOT/train.txt``, ``val.txt``, ``test.txt`` (one name per line, without extension).

A file with no partner is never dropped silently: it is listed in :attr:`PairListing.unpaired`.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from semfuse.data.colour import BT601_LUMA
from semfuse.data.io import ImageReadError, list_images, read_image, read_label

_VISIBLE_DIRS = ("vi", "vis", "visible")
_INFRARED_DIRS = ("ir", "infrared")
_LABEL_DIRS = ("Label", "label", "labels", "Labels")
MFNET_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Pair:
    """One infrared/visible pair. For MFNet, ``ir`` and ``vis`` are the same 4-channel file."""

    name: str
    ir: Path
    vis: Path
    label: Path | None = None
    mfnet: bool = False


@dataclass
class PairListing:
    """The pairs found, and a message for every file that could not be paired."""

    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)


def _first_existing(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def pair_folders(ir_dir: str | Path, vis_dir: str | Path, label_dir: str | Path | None = None) -> PairListing:
    """Pair the images of two folders by file stem (and attach labels from ``label_dir`` when given)."""
    irs, viss = list_images(ir_dir), list_images(vis_dir)
    labels = list_images(label_dir) if label_dir is not None else {}
    listing = PairListing()
    for stem in sorted(set(irs) | set(viss)):
        if stem not in viss:
            listing.unpaired.append(f"{irs[stem]}: no visible image named {stem}.* in {vis_dir}")
        elif stem not in irs:
            listing.unpaired.append(f"{viss[stem]}: no infrared image named {stem}.* in {ir_dir}")
        else:
            if label_dir is not None and stem not in labels:
                listing.unpaired.append(f"{irs[stem]}: no label named {stem}.* in {label_dir}")
                continue
            listing.pairs.append(Pair(stem, irs[stem], viss[stem], labels.get(stem)))
    return listing


def _mfnet_pairs(root: Path, split: str | None) -> PairListing:
    images, labels = list_images(root / "images"), list_images(root / "labels")
    if split is None:
        names = list(images)
    else:
        if split not in MFNET_SPLITS:
            raise ImageReadError(f"MFNet has splits {', '.join(MFNET_SPLITS)}; got {split!r}")
        list_file = root / f"{split}.txt"
        if not list_file.is_file():
            raise ImageReadError(f"{list_file} is missing; MFNet's split lists are train.txt, val.txt and test.txt")
        names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    listing = PairListing()
    for name in names:
        if name not in images:
            listing.unpaired.append(f"{name}: listed for MFNet but {root / 'images'} has no {name}.png")
            continue
        listing.pairs.append(Pair(name, images[name], images[name], labels.get(name), mfnet=True))
    return listing


def discover_pairs(root: str | Path, split: str | None = None) -> PairListing:
    """Find the pairs under ``root`` in the MSRS or MFNet layout (see the module docstring).

    Args:
        root: dataset folder.
        split: ``train``/``test`` (MSRS) or ``train``/``val``/``test`` (MFNet); ``None`` takes ``root`` itself
            (MSRS) or every image (MFNet).
    """
    root = Path(root)
    if not root.is_dir():
        raise ImageReadError(f"{root} is not a folder")
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return _mfnet_pairs(root, split)
    base = root / split if split is not None else root
    ir_dir, vis_dir = _first_existing(base, _INFRARED_DIRS), _first_existing(base, _VISIBLE_DIRS)
    if ir_dir is None or vis_dir is None:
        raise ImageReadError(
            f"{base} has no ir/ and vi/ folders; use the MSRS layout (ir/, vi/, Label/), MFNet's (images/, labels/, "
            "train.txt), or give --ir and --vis folders"
        )
    return pair_folders(ir_dir, vis_dir, _first_existing(base, _LABEL_DIRS))


def _read_mfnet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = Image.open(path)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 4:
        raise ImageReadError(f"{path} has shape {array.shape}; MFNet images are 4-channel PNGs (R, G, B, thermal)")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    array = array.astype(np.float32) / scale
    return np.ascontiguousarray(array[..., 3]), np.ascontiguousarray(array[..., :3])


def _as_grey(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array
    red, green, blue = BT601_LUMA
    return (red * array[..., 0] + green * array[..., 1] + blue * array[..., 2]).astype(np.float32)


def load_pair(pair: Pair) -> dict:
    """Read a pair: ``ir`` (H, W) float32, ``vis`` (H, W) or (H, W, 3) float32, ``label`` (H, W) int64 or None.

    A colour infrared file is reduced to its BT.601 luminance.

    Raises:
        ImageReadError: unreadable file, or infrared, visible and label sizes that differ.
    """
    if pair.mfnet:
        ir, vis = _read_mfnet(pair.ir)
    else:
        ir, vis = _as_grey(read_image(pair.ir)), read_image(pair.vis)
    label = read_label(pair.label) if pair.label is not None else None
    if ir.shape[:2] != vis.shape[:2]:
        raise ImageReadError(
            f"pair {pair.name}: infrared is {ir.shape[1]}x{ir.shape[0]} but visible is {vis.shape[1]}x{vis.shape[0]}; "
            "register and resize the pair to one size first"
        )
    if label is not None and label.shape != ir.shape:
        raise ImageReadError(f"pair {pair.name}: label is {label.shape[1]}x{label.shape[0]}, images are "
                             f"{ir.shape[1]}x{ir.shape[0]}")
    return {"name": pair.name, "ir": ir, "vis": vis, "label": label}
