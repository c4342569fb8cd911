"""Detection boxes as labels: YOLO and VOC readers, rasterisation against hand-computed maps, malformed files."""

import numpy as np
import pytest

from semfuse.data.boxes import (
    Box,
    BoxClasses,
    BoxFileError,
    parse_class_map,
    rasterise,
    read_box_label,
    read_class_list,
    read_voc,
    read_yolo,
)
from semfuse.data.pairs import discover_pairs, load_pair

CLASSES = BoxClasses.from_names(["person", "bicycle", "car"])  # ids 1, 2, 3


def _write(path, text):
    path.write_text(text)
    return path


def test_yolo_box_on_pixel_centres(tmp_path):
    # an 8x4 image; a person box centred at (0.5, 0.5) of width 0.5 and height 0.5 covers x in [2, 6), y in [1, 3):
    # pixel columns 2..5 (centres 2.5 .. 5.5) and rows 1..2 (centres 1.5, 2.5)
    path = _write(tmp_path / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    expected = np.zeros((4, 8), np.int64)
    expected[1:3, 2:6] = 1
    assert np.array_equal(read_box_label(path, 4, 8, CLASSES), expected)


def test_overlapping_boxes_smaller_wins_and_edge_boxes(tmp_path):
    # car: the left half of a 4x4 image (x in [0, 2), all rows); person: x in [1, 2), y in [1, 3) (smaller, on top);
    # bicycle: flush with the bottom-right corner, x in [3, 4), y in [3, 4)
    path = _write(tmp_path / "b.txt", "2 0.25 0.5 0.5 1.0\n0 0.375 0.5 0.25 0.5\n1 0.875 0.875 0.25 0.25\n")
    assert read_box_label(path, 4, 4, CLASSES).tolist() == [
        [3, 3, 0, 0],
        [3, 1, 0, 0],
        [3, 1, 0, 0],
        [3, 3, 0, 2],
    ]
    # the same boxes written in the other order give the same map: size decides, not file order
    reordered = _write(tmp_path / "c.txt", "0 0.375 0.5 0.25 0.5\n1 0.875 0.875 0.25 0.25\n2 0.25 0.5 0.5 1.0\n")
    assert np.array_equal(read_box_label(reordered, 4, 4, CLASSES), read_box_label(path, 4, 4, CLASSES))


def test_empty_file_is_all_background_and_class_map_gives_msrs_ids(tmp_path):
    assert not read_box_label(_write(tmp_path / "e.txt", ""), 3, 5, CLASSES).any()
    msrs = BoxClasses.from_names(["person", "bicycle", "car"], "person=2,car=1,bicycle=3")
    assert msrs.names == ("background", "car", "person", "bicycle")
    label = read_box_label(_write(tmp_path / "p.txt", "0 0.5 0.5 1 1\n"), 2, 2, msrs)
    assert (label == 2).all()


def test_voc_xml_matches_the_same_box_in_yolo(tmp_path):
    # VOC corners are 1-based inclusive: xmin 3 .. xmax 6 is x in [2, 6) in continuous coordinates
    voc = _write(tmp_path / "v.xml", """<annotation><size><width>8</width><height>4</height><depth>3</depth></size>
      <object><name>person</name><bndbox><xmin>3</xmin><ymin>2</ymin><xmax>6</xmax><ymax>3</ymax></bndbox></object>
    </annotation>""")
    yolo = _write(tmp_path / "y.txt", "0 0.5 0.5 0.5 0.5\n")
    assert np.array_equal(read_box_label(voc, 4, 8, CLASSES), read_box_label(yolo, 4, 8, CLASSES))
    boxes, size = read_voc(voc, CLASSES.box_names)
    assert size == (8, 4) and boxes == [Box("person", 2.0, 1.0, 6.0, 3.0)]


@pytest.mark.parametrize("text, message", [
    ("0 0.5 0.5 0.5\n", "line 1: expected 'class cx cy w h'"),
    ("0 0.5 0.5 0.5 0.5\nx 0.5 0.5 0.1 0.1\n", "line 2: class 'x' is not a non-negative integer"),
    ("3 0.5 0.5 0.1 0.1\n", "line 1: class 3 is out of range"),
    ("0 0.9 0.5 0.4 0.1\n", "line 1: box .* lies outside the image"),
    ("0 0.5 nan 0.1 0.1\n", "line 1: 'nan' is not a finite number"),
    ("0 0.5 abc 0.1 0.1\n", "line 1: 'abc' is not a number"),
])
def test_malformed_yolo_lines_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(BoxFileError, match=message) as caught:
        read_yolo(path, 8, 4, CLASSES.box_names)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("xml, message", [
    ("<annotation><object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
     "</bndbox></object></annotation>", "object 1: class 'dog' is not in the class list"),
    ("<annotation><object><name>car</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
     "object 1: <bndbox> has no <ymin>"),
    ("<annotation><object>", "not a readable VOC XML file"),
])
def test_malformed_voc_files(tmp_path, xml, message):
    with pytest.raises(BoxFileError, match=message):
        read_voc(_write(tmp_path / "bad.xml", xml), CLASSES.box_names)


def test_voc_box_outside_the_image_and_size_mismatch(tmp_path):
    outside = _write(tmp_path / "o.xml", "<annotation><object><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                     "<xmax>20</xmax><ymax>2</ymax></bndbox></object></annotation>")
    with pytest.raises(BoxFileError, match="lies outside the 8x4 image"):
        read_box_label(outside, 4, 8, CLASSES)
    sized = _write(tmp_path / "s.xml", "<annotation><size><width>9</width><height>4</height></size></annotation>")
    with pytest.raises(BoxFileError, match="states an image of 9x4"):
        read_box_label(sized, 4, 8, CLASSES)


def test_class_lists_and_maps(tmp_path):
    listed = _write(tmp_path / "c1.txt", "0 person\n1 bicycle\n\n2 car\n")
    assert read_class_list(listed) == ("person", "bicycle", "car")
    assert read_class_list(_write(tmp_path / "c2.txt", "person\ncar\n")) == ("person", "car")
    with pytest.raises(BoxFileError, match="line 2: id 2 out of order"):
        read_class_list(_write(tmp_path / "c3.txt", "0 person\n2 car\n"))
    with pytest.raises(BoxFileError, match="names no class"):
        read_class_list(_write(tmp_path / "c4.txt", "\n"))
    with pytest.raises(BoxFileError, match="not NAME=ID"):
        parse_class_map("person=0")
    with pytest.raises(BoxFileError, match="same id"):
        parse_class_map("person=1,car=1")
    with pytest.raises(BoxFileError, match="have none"):
        BoxClasses.from_names(["person", "car"], "person=1")


def test_rasterise_doctest_case():
    classes = BoxClasses.from_names(["person", "car"])
    label = rasterise([Box("car", 0, 0, 4, 2), Box("person", 1, 0, 2, 2)], 3, 4, classes)
    assert label.tolist() == [[2, 1, 2, 2], [2, 1, 2, 2], [0, 0, 0, 0]]


def test_a_box_folder_is_discovered_with_its_classes(tmp_path, msrs_pair):
    import shutil

    ir, vis = msrs_pair
    for split in ("train",):
        for folder, source in (("ir", ir), ("vi", vis)):
            (tmp_path / split / folder).mkdir(parents=True)
            shutil.copy(source, tmp_path / split / folder / "a.png")
        (tmp_path / split / "boxes").mkdir()
        _write(tmp_path / split / "boxes" / "a.txt", "2 0.5 0.5 0.25 0.5\n")
    _write(tmp_path / "classes.txt", "0 person\n1 bicycle\n2 car\n")
    listing = discover_pairs(tmp_path, "train")
    assert listing.classes == ("background", "person", "bicycle", "car") and not listing.unpaired
    label = load_pair(listing.pairs[0])["label"]
    assert label.shape == (480, 640) and set(np.unique(label)) == {0, 3} and (label == 3).sum() == 160 * 240
    (tmp_path / "classes.txt").unlink()
    with pytest.raises(Exception, match="has no classes.txt"):
        discover_pairs(tmp_path, "train")
