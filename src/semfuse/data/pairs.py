"""Finding infrared/visible pairs on disk, in the layouts the field uses.

* **Plain folders**: an infrared folder and a visible folder (optionally a label folder), paired by file stem;
  any of png/jpg/jpeg/bmp/tif/tiff, and the two members of a pair may have different extensions.
* **MSRS**: ``ROOT[/SPLIT]/ir``, ``ROOT[/SPLIT]/vi`` and, when present, ``ROOT[/SPLIT]/Label`` (or ``label``,
  ``labels``), with SPLIT ``train`` or ``test``. Label maps hold MFNet's 9 class ids.
* **Boxes**: the same layout with ``ROOT[/SPLIT]/boxes`` (or ``Annotations``) of YOLO ``.txt`` or VOC ``.xml`` files
  instead of label maps, and a ``classes.txt`` in that folder or a parent up to ROOT; boxes become label maps
  (:mod:`semfuse.data.boxes`): background 0 and the box classes 1..N, or the ids of a class map.
* **MFNet**: ``ROOT/images/*.png`` (4 channels: R, G, B, thermal), ``ROOT/labels/*.png`` and the split lists
  ``ROOT/train.txt``, ``val.txt``, ``test.txt`` (one name per line, without extension).

A file with no partner is never dropped silently: it is listed in :attr:`PairListing.unpaired`.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from semfuse.data.boxes import BOX_EXTENSIONS, BoxClasses, find_class_list, read_box_label, read_class_list
from semfuse.data.classes import MFNET_CLASSES
from semfuse.data.convert import infrared_luminance
from semfuse.data.io import ImageReadError, list_images, open_image, read_image, read_label

_VISIBLE_DIRS = ("vi", "vis", "visible")
_INFRARED_DIRS = ("ir", "infrared")
_LABEL_DIRS = ("Label", "label", "labels", "Labels")
_BOX_DIRS = ("boxes", "Boxes", "Annotations", "annotations")
MFNET_SPLITS = ("train", "val", "test")
LABEL_KINDS = ("auto", "masks", "boxes", "none")  # auto: label maps if present, else boxes if present


@dataclass(frozen=True)
class Pair:
    """One infrared/visible pair. For MFNet, ``ir`` and ``vis`` are the same 4-channel file. ``label`` is a label
    map, or a box file when ``box_classes`` is set."""

    name: str
    ir: Path
    vis: Path
    label: Path | None = None
    mfnet: bool = False
    box_classes: BoxClasses | None = None


@dataclass
class PairListing:
    """The pairs found, a message for every file that could not be paired, and the names of the label classes
    (``classes[i]`` names label id i; None when the pairs carry no labels)."""

    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    classes: tuple[str, ...] | None = None


def _first_existing(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def list_box_files(folder: str | Path) -> dict[str, Path]:
    """Map file stem -> path for every YOLO ``.txt`` / VOC ``.xml`` file in ``folder`` (class lists excluded)."""
    found: dict[str, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() in BOX_EXTENSIONS and path.is_file() and path.name not in ("classes.txt",):
            if path.stem in found:
                raise ImageReadError(f"{found[path.stem].name} and {path.name} in {folder} share the name "
                                     f"{path.stem!r}; keep only one")
            found[path.stem] = path
    return found


def pair_folders(ir_dir: str | Path, vis_dir: str | Path, label_dir: str | Path | None = None,
                 box_classes: BoxClasses | None = None) -> PairListing:
    """Pair the images of two folders by file stem (and attach labels from ``label_dir`` when given: label maps, or
    box files when ``box_classes`` is given)."""
    irs, viss = list_images(ir_dir), list_images(vis_dir)
    if label_dir is None:
        labels = {}
    else:
        labels = list_box_files(label_dir) if box_classes is not None else list_images(label_dir)
    listing = PairListing(classes=None if label_dir is None else box_classes.names if box_classes else MFNET_CLASSES)
    for stem in sorted(set(irs) | set(viss)):
        if stem not in viss:
            listing.unpaired.append(f"{irs[stem]}: no visible image named {stem}.* in {vis_dir}")
        elif stem not in irs:
            listing.unpaired.append(f"{viss[stem]}: no infrared image named {stem}.* in {ir_dir}")
        else:
            if label_dir is not None and stem not in labels:
                listing.unpaired.append(f"{irs[stem]}: no label named {stem}.* in {label_dir}")
                continue
            listing.pairs.append(Pair(stem, irs[stem], viss[stem], labels.get(stem), box_classes=box_classes))
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
    listing = PairListing(classes=MFNET_CLASSES)
    for name in names:
        if name not in images:
            listing.unpaired.append(f"{name}: listed for MFNet but {root / 'images'} has no {name}.png")
            continue
        listing.pairs.append(Pair(name, images[name], images[name], labels.get(name), mfnet=True))
    return listing


def discover_pairs(root: str | Path, split: str | None = None, labels: str = "auto",
                   class_map: str | None = None) -> PairListing:
    """Find the pairs under ``root`` in the MSRS, box or MFNet layout (see the module docstring).

    Args:
        root: dataset folder.
        split: ``train``/``test``/``val`` (MSRS or box layout) or ``train``/``val``/``test`` (MFNet); ``None`` takes
            ``root`` itself (MSRS) or every image (MFNet).
        labels: ``auto`` (label maps if a label folder exists, else boxes if a box folder exists), ``masks``,
            ``boxes`` or ``none``.
        class_map: for boxes, ``NAME=ID,...`` label ids by class name (default: 1..N in the class list's order).
    """
    if labels not in LABEL_KINDS:
        raise ImageReadError(f"labels must be one of {', '.join(LABEL_KINDS)}, not {labels!r}")
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
    mask_dir = _first_existing(base, _LABEL_DIRS) if labels in ("auto", "masks") else None
    box_dir = _first_existing(base, _BOX_DIRS) if labels == "boxes" or (labels == "auto" and mask_dir is None) else None
    if labels == "masks" and mask_dir is None:
        raise ImageReadError(f"{base} has no label folder ({', '.join(_LABEL_DIRS)}) although labels=masks")
    if labels == "boxes" and box_dir is None:
        raise ImageReadError(f"{base} has no box folder ({', '.join(_BOX_DIRS)}) although labels=boxes")
    if box_dir is None:
        return pair_folders(ir_dir, vis_dir, mask_dir)
    class_list = find_class_list(box_dir, stop=root)
    if class_list is None:
        raise ImageReadError(f"{box_dir} has no classes.txt (in it or a parent up to {root}); write one class name "
                             "a line, in the order of the YOLO class ids")
    return pair_folders(ir_dir, vis_dir, box_dir, BoxClasses.from_names(read_class_list(class_list), class_map))


def _read_mfnet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = open_image(path)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 4:
        raise ImageReadError(f"{path} has shape {array.shape}; MFNet images are 4-channel PNGs (R, G, B, thermal)")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    array = array.astype(np.float32) / scale
    return np.ascontiguousarray(array[..., 3]), np.ascontiguousarray(array[..., :3])



def load_pair(pair: Pair) -> dict:
    """Read a pair: ``ir`` (H, W) float32, ``vis`` (H, W) or (H, W, 3) float32, ``label`` (H, W) int64 or None.

    A colour infrared file is reduced to its BT.601 luminance.

    Raises:
        ImageReadError: unreadable file, or infrared, visible and label sizes that differ.
    """
    if pair.mfnet:
        ir, vis = _read_mfnet(pair.ir)
    else:
        ir, vis = infrared_luminance(read_image(pair.ir)), read_image(pair.vis)
    label = read_pair_label(pair, ir.shape[0], ir.shape[1])
    if ir.shape[:2] != vis.shape[:2]:
        raise ImageReadError(
            f"pair {pair.name}: infrared is {ir.shape[1]}x{ir.shape[0]} but visible is {vis.shape[1]}x{vis.shape[0]}; "
            "register and resize the pair to one size first"
        )
    if label is not None and label.shape != ir.shape:
        raise ImageReadError(f"pair {pair.name}: label is {label.shape[1]}x{label.shape[0]}, images are "
                             f"{ir.shape[1]}x{ir.shape[0]}")
    return {"name": pair.name, "ir": ir, "vis": vis, "label": label}


def read_pair_label(pair: Pair, height: int | None = None, width: int | None = None) -> np.ndarray | None:
    """The label map (H, W) int64 of a pair (None if unlabelled): a label image, or its boxes rasterised at
    ``height`` x ``width`` (default: the infrared image's size, read from the file header)."""
    if pair.label is None:
        return None
    if pair.box_classes is None:
        return read_label(pair.label)
    if height is None or width is None:
        try:
            with Image.open(pair.ir) as image:
                width, height = image.size
        except (OSError, ValueError) as error:
            raise ImageReadError(f"{pair.ir} is not a readable image ({error})") from None
    return read_box_label(pair.label, height, width, pair.box_classes)
