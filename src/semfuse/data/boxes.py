"""Detection boxes as segmentation labels: YOLO text and Pascal VOC XML, rasterised to label maps.

Many infrared/visible data sets carry boxes (LLVIP, M3FD, MSRS detection) rather than label maps. A box file
becomes a label map of the image's size: background 0 and, by default, box class ``k`` (0-based in the class list)
as ``k + 1``; or, with a class map such as ``person=2,car=1,bicycle=3``, each class name as the id given (this one
reproduces MSRS's ids). Where boxes overlap the smaller box wins (it is drawn last); an empty file is all
background. Pixel ``(row, col)`` is inside a box when its centre ``(col + 0.5, row + 0.5)`` lies inside it.

* **YOLO**: one box a line, ``class cx cy w h``, all normalised to [0, 1] by the image width and height; the class
  names come from a ``classes.txt`` (one name a line, optionally preceded by its id: ``0 person``).
* **VOC**: ``<object><name>person</name><bndbox><xmin>..</xmin><ymin>..</ymin><xmax>..</xmax><ymax>..</ymax>``
  in pixels (1-based inclusive corners, as VOC writes them); the name must be in the class list.
"""

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semfuse.errors import SemfuseError

BOX_EXTENSIONS = (".txt", ".xml")
CLASS_LIST_NAMES = ("classes.txt", "classes.names", "obj.names")
BACKGROUND = "background"
_EDGE_TOLERANCE = 1e-3  # normalised coordinates may overshoot [0, 1] by rounding; more is an error


class BoxFileError(SemfuseError, ValueError):
    """A box file or class list is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Box:
    """One box in pixel coordinates (continuous, origin at the top-left corner of the image)."""

    name: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def area(self) -> float:
        return max(self.right - self.left, 0.0) * max(self.bottom - self.top, 0.0)


@dataclass(frozen=True)
class BoxClasses:
    """The box class names (in the class list's order) and the label id each is drawn with.

    ``names`` is the label space: ``names[i]`` is the name of label id ``i`` (``background`` at 0).
    """

    box_names: tuple[str, ...]
    ids: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        size = max(self.ids, default=0) + 1
        names = [f"class_{i}" for i in range(size)]
        names[0] = BACKGROUND
        for name, label_id in zip(self.box_names, self.ids):
            names[label_id] = name
        return tuple(names)

    def id_of(self, name: str) -> int:
        return self.ids[self.box_names.index(name)]

    @classmethod
    def from_names(cls, box_names: tuple[str, ...] | list[str], class_map: str | None = None) -> "BoxClasses":
        """Ids ``1..N`` in list order, or those of ``class_map`` (``"person=2,car=1,bicycle=3"``)."""
        box_names = tuple(box_names)
        if len(set(box_names)) != len(box_names):
            raise BoxFileError(f"the class list {list(box_names)} names a class twice")
        if not class_map:
            return cls(box_names, tuple(range(1, len(box_names) + 1)))
        mapping = parse_class_map(class_map)
        unknown = sorted(set(mapping) - set(box_names))
        missing = [name for name in box_names if name not in mapping]
        if unknown or missing:
            raise BoxFileError(f"class map {class_map!r} must give an id to each box class {list(box_names)}"
                               + (f"; it names unknown {unknown}" if unknown else f"; {missing} have none"))
        return cls(box_names, tuple(mapping[name] for name in box_names))


def parse_class_map(text: str) -> dict[str, int]:
    """``"person=2,car=1"`` -> ``{"person": 2, "car": 1}``; ids must be positive (0 is the background) and distinct.

    Example:
        >>> parse_class_map("person=2, car=1")
        {'person': 2, 'car': 1}
    """
    mapping: dict[str, int] = {}
    for entry in text.split(","):
        name, separator, value = entry.partition("=")
        name = name.strip()
        try:
            label_id = int(value)
        except ValueError:
            label_id = -1
        if not separator or not name or label_id < 1 or name in mapping:
            raise BoxFileError(f"class map entry {entry.strip()!r} is not NAME=ID with a new name and an id >= 1; "
                               "write e.g. person=2,car=1,bicycle=3")
        mapping[name] = label_id
    if len(set(mapping.values())) != len(mapping):
        raise BoxFileError(f"class map {text!r} gives two classes the same id")
    return mapping


def _fields_by_line(path: Path, what: str):
    """``(line number, whitespace-separated fields)`` of every non-empty line of a UTF-8 text file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise BoxFileError(f"cannot read the {what} {path} ({error})") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if fields:
            yield number, fields


def read_class_list(path: str | Path) -> tuple[str, ...]:
    """Class names from a ``classes.txt``: one a line, in id order, as ``name`` or ``id name`` (ids 0, 1, ...)."""
    path = Path(path)
    names: list[str] = []
    for number, fields in _fields_by_line(path, "class list"):
        if len(fields) == 2 and fields[0].isdigit():
            if int(fields[0]) != len(names):
                raise BoxFileError(f"{path}, line {number}: id {fields[0]} out of order; ids must run 0, 1, 2, ...")
            fields = fields[1:]
        if len(fields) != 1:
            raise BoxFileError(f"{path}, line {number}: {' '.join(fields)!r} is not a class name "
                               "(one word, or 'id name')")
        names.append(fields[0])
    if not names:
        raise BoxFileError(f"the class list {path} names no class")
    return tuple(names)


def find_class_list(folder: Path, stop: Path | None = None) -> Path | None:
    """The nearest ``classes.txt`` (or ``classes.names``/``obj.names``) in ``folder`` or its parents up to ``stop``."""
    folder = Path(folder).resolve()
    stop = Path(stop).resolve() if stop is not None else None
    for candidate in (folder, *folder.parents):
        for name in CLASS_LIST_NAMES:
            if (candidate / name).is_file():
                return candidate / name
        if stop is not None and candidate == stop:
            break
    return None


def _number(text: str, path: Path, number: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BoxFileError(f"{path}, line {number}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BoxFileError(f"{path}, line {number}: {text!r} is not a finite number")
    return value


def read_yolo(path: str | Path, width: int, height: int, class_names: tuple[str, ...]) -> list[Box]:
    """The boxes of a YOLO text file for an image of ``width`` x ``height`` pixels."""
    path = Path(path)
    boxes = []
    for number, fields in _fields_by_line(path, "box file"):
        if len(fields) != 5:
            raise BoxFileError(f"{path}, line {number}: expected 'class cx cy w h' (5 fields), got {len(fields)}")
        if not fields[0].isdigit():
            raise BoxFileError(f"{path}, line {number}: class {fields[0]!r} is not a non-negative integer")
        class_id = int(fields[0])
        if class_id >= len(class_names):
            raise BoxFileError(f"{path}, line {number}: class {class_id} is out of range; the class list has "
                               f"{len(class_names)} classes ({', '.join(class_names)})")
        cx, cy, w, h = (_number(field, path, number) for field in fields[1:])
        left, right, top, bottom = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        if w < 0 or h < 0 or min(left, top) < -_EDGE_TOLERANCE or max(right, bottom) > 1 + _EDGE_TOLERANCE:
            raise BoxFileError(f"{path}, line {number}: box {cx:g} {cy:g} {w:g} {h:g} lies outside the image; YOLO "
                               "coordinates are normalised to [0, 1]")
        boxes.append(Box(class_names[class_id], left * width, top * height, right * width, bottom * height))
    return boxes


def read_voc(path: str | Path, class_names: tuple[str, ...] | None = None) -> tuple[list[Box], tuple[int, int] | None]:
    """The boxes of a Pascal VOC XML file, and the image size it states ((width, height), or None).

    ``class_names`` (if given) lists the allowed object names.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise BoxFileError(f"{path} is not a readable VOC XML file ({error})") from None
    size = None
    if root.find("size") is not None:
        try:
            size = (int(float(root.findtext("size/width", ""))), int(float(root.findtext("size/height", ""))))
        except (TypeError, ValueError):
            size = None
    boxes = []
    for index, element in enumerate(root.iter("object"), start=1):
        name = (element.findtext("name") or "").strip()
        where = f"{path}, object {index}"
        if not name:
            raise BoxFileError(f"{where}: no <name>")
        if class_names is not None and name not in class_names:
            raise BoxFileError(f"{where}: class {name!r} is not in the class list ({', '.join(class_names)})")
        corners = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            text = element.findtext(f"bndbox/{tag}")
            if text is None:
                raise BoxFileError(f"{where}: <bndbox> has no <{tag}>")
            corners.append(_number(text, path, index))
        xmin, ymin, xmax, ymax = corners
        if xmax < xmin or ymax < ymin:
            raise BoxFileError(f"{where}: xmax/ymax are smaller than xmin/ymin")
        boxes.append(Box(name, xmin - 1.0, ymin - 1.0, xmax, ymax))  # 1-based inclusive -> continuous
    return boxes, size


def rasterise(boxes: list[Box], height: int, width: int, classes: BoxClasses) -> np.ndarray:
    """A (height, width) uint8 label map: background 0, each box filled with its class id, smaller boxes on top.

    Example:
        >>> classes = BoxClasses.from_names(["person", "car"])
        >>> rasterise([Box("car", 0, 0, 4, 2), Box("person", 1, 0, 2, 2)], 3, 4, classes).tolist()
        [[2, 1, 2, 2], [2, 1, 2, 2], [0, 0, 0, 0]]
    """
    label = np.zeros((height, width), dtype=np.uint8)
    for box in sorted(boxes, key=lambda b: -b.area):  # stable: equal areas keep file order, later on top
        if box.left < -_EDGE_TOLERANCE * width - 0.5 or box.right > width * (1 + _EDGE_TOLERANCE) + 0.5 \
                or box.top < -_EDGE_TOLERANCE * height - 0.5 or box.bottom > height * (1 + _EDGE_TOLERANCE) + 0.5:
            raise BoxFileError(f"a {box.name} box ({box.left:g}, {box.top:g}, {box.right:g}, {box.bottom:g}) lies "
                               f"outside the {width}x{height} image")
        # pixel centres c + 0.5 inside [left, right): columns ceil(left - 0.5) .. ceil(right - 0.5) - 1
        col0, col1 = max(math.ceil(box.left - 0.5), 0), min(math.ceil(box.right - 0.5), width)
        row0, row1 = max(math.ceil(box.top - 0.5), 0), min(math.ceil(box.bottom - 0.5), height)
        label[row0:row1, col0:col1] = classes.id_of(box.name)
    return label


def read_box_label(path: str | Path, height: int, width: int, classes: BoxClasses) -> np.ndarray:
    """The label map (height, width) int64 of a YOLO ``.txt`` or VOC ``.xml`` box file."""
    path = Path(path)
    if path.suffix.lower() == ".xml":
        boxes, size = read_voc(path, classes.box_names)
        if size is not None and size != (width, height) and size != (0, 0):
            raise BoxFileError(f"{path} states an image of {size[0]}x{size[1]}, but the image is {width}x{height}")
    elif path.suffix.lower() == ".txt":
        boxes = read_yolo(path, width, height, classes.box_names)
    else:
        raise BoxFileError(f"{path}: box files are YOLO .txt or VOC .xml")
    try:
        return rasterise(boxes, height, width, classes).astype(np.int64)
    except BoxFileError as error:
        raise BoxFileError(f"{path}: {error}") from None
