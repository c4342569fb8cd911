"""Hostile and odd image files: each is read correctly or refused with one line naming the file and the cause,
before any pixel is decoded where the header already tells (issue 11, case 1; docs/reliability.md)."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from semfuse.data.io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    get_max_pixels,
    list_images,
    read_image,
    read_label,
    set_max_pixels,
)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel data is decoded."""

    def refuse(self):
        raise AssertionError(f"pixels of a {self.size} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.fixture
def restore_limit():
    yield
    set_max_pixels(None)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, no_decoding, make):
    (tmp_path / "bomb.png").write_bytes(make.bomb_png(100_000, 100_000))
    assert (tmp_path / "bomb.png").stat().st_size < 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no DecompressionBombWarning on the way
        with pytest.raises(ImageReadError) as error:
            read_image(tmp_path / "bomb.png")
    message = str(error.value)
    assert "bomb.png is 100000x100000 = 10,000,000,000 pixels, over the limit of 50,000,000" in message
    assert "--max-pixels" in message and "\n" not in message


def test_pixel_limit_applies_to_real_images_and_can_be_raised(tmp_path, restore_limit, make):
    make.sample("vi", make.MSRS).save(tmp_path / "a.png")  # 64 x 48 = 3,072 pixels
    with pytest.raises(ImageReadError, match=r"64x48 = 3,072 pixels, over the limit of 3,071"):
        read_image(tmp_path / "a.png", max_pixels=3071)
    assert read_image(tmp_path / "a.png", max_pixels=3072).shape == (48, 64, 3)
    set_max_pixels(3000)
    assert get_max_pixels() == 3000
    with pytest.raises(ImageReadError, match="over the limit of 3,000"):
        read_image(tmp_path / "a.png")
    set_max_pixels(None)
    assert get_max_pixels() == DEFAULT_MAX_PIXELS
    for wrong in (0, -5, 2.5, True):
        with pytest.raises(ImageReadError.__mro__[1], match="positive whole number"):
            set_max_pixels(wrong)


def test_a_limit_above_pillows_own_replaces_it(tmp_path, restore_limit, make):
    """Above Pillow's 179-Mpx bomb limit, semfuse's limit decides: the header passes and the missing rows are
    reported as a truncated file, not as Pillow's DecompressionBombError."""
    (tmp_path / "big.png").write_bytes(make.bomb_png(14_000, 13_000))  # 182 Mpx claimed, 4 rows stored
    set_max_pixels(300_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageReadError, match="big.png is truncated"):
            read_image(tmp_path / "big.png")
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's global is left as it was


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files(tmp_path, suffix, make):
    path = tmp_path / f"cut{suffix}"
    make.sample("vi", make.ROAD).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=rf"cut\{suffix} is truncated .*re-copy or re-export"):
        read_image(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"is empty \(0 bytes\), not a readable image"),
        (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", r"is a text file \(HTML, XML or JSON\)"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><svg/>", r"is a text file \(HTML, XML or JSON\)"),
        (b"ir,vis\n1,2\n", "is a text file, not a readable image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, r"not a readable image|damaged"),
        (bytes(range(256)) * 8, r"is not a readable image \(unknown or damaged format\)"),
    ],
    ids=["zero-bytes", "html", "svg", "csv", "png-signature-then-garbage", "binary-garbage"],
)
def test_non_images_saved_as_png(tmp_path, content, message):
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as error:
        read_image(tmp_path / "x.png")
    assert str(error.value).startswith(str(tmp_path / "x.png")) and "\n" not in str(error.value)


def test_missing_folder_and_dangling_link(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageReadError, match="is a folder, not an image file"):
        read_image(tmp_path / "folder.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageReadError, match=r"link.png is a symbolic link to .*gone.png, which does not exist"):
        read_image(tmp_path / "link.png")
    # the dangling link is listed, so that its pair reports it instead of losing a partner silently
    assert list_images(tmp_path) == {"link": tmp_path / "link.png"}


def test_hidden_and_temporary_files_are_not_images(tmp_path, make):
    make.sample("ir", make.TNO).save(tmp_path / "a.png")
    (tmp_path / ".a.k2j4h_x1.png").write_bytes(b"half a png")  # left by 'kill -9' during an atomic write
    (tmp_path / "._a.png").write_bytes(b"macOS resource fork")
    assert list_images(tmp_path) == {"a": tmp_path / "a.png"}


@pytest.mark.parametrize("size", [(1, 1), (1, 64), (64, 1), (2, 3)])
def test_tiny_and_thin_images(tmp_path, size, make):
    make.sample("vi", make.MSRS).crop((0, 0, *size)).save(tmp_path / "t.png")
    assert read_image(tmp_path / "t.png").shape == (size[1], size[0], 3)


def test_sixteen_bit_grey(tmp_path, make):
    grey8 = np.asarray(make.sample("ir", make.TNO).convert("L"))
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # 8-bit v -> 16-bit v * 257
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    np.testing.assert_allclose(read_image(tmp_path / "g16.png"), grey8 / 255.0, atol=1e-6)


def test_rgba_palette_and_cmyk(tmp_path, make):
    rgb = make.sample("vi", make.MSRS).convert("RGB")
    expected = np.asarray(rgb) / 255.0
    rgba = rgb.copy()
    rgba.putalpha(7)  # almost transparent: the alpha channel is dropped, the colours kept
    rgba.save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png"), expected, atol=1e-6)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(tmp_path / "p.png")
    np.testing.assert_allclose(read_image(tmp_path / "p.png"), np.asarray(palette.convert("RGB")) / 255.0, atol=1e-6)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=98)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (48, 64, 3)
    assert np.abs(cmyk - expected).mean() < 0.02  # JPEG loss only


def test_exif_orientation_is_applied(tmp_path, make):
    upright = make.sample("vi", make.ROAD).convert("RGB")  # 64 wide, 48 high
    path = make.exif_rotated_jpeg(upright, tmp_path / "rotated.jpg")
    assert Image.open(path).size == (48, 64)  # stored sideways
    image = read_image(path)
    assert image.shape == (48, 64, 3)  # read upright, as viewers show it
    assert np.abs(image - np.asarray(upright) / 255.0).mean() < 0.02


def test_unicode_and_non_utf8_names(tmp_path, make):
    unicode_path = tmp_path / "été_夜景_🔥.png"
    make.sample("vi", make.MSRS).save(unicode_path)
    raw_path = make.non_utf8_name(tmp_path, b"caf\xe9", ".png")
    make.sample("ir", make.TNO).save(raw_path)
    assert os.fsencode(raw_path.name) == b"caf\xe9.png"
    listing = list_images(tmp_path)
    assert set(listing) == {"été_夜景_🔥", raw_path.stem}
    assert read_image(listing["été_夜景_🔥"]).shape == (48, 64, 3)
    assert read_image(listing[raw_path.stem]).shape == (48, 64)
    (tmp_path / "broken_é.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="broken_é.png is empty"):
        read_image(tmp_path / "broken_é.png")


def test_labels_get_the_same_checks(tmp_path, no_decoding, make):
    (tmp_path / "label.png").write_bytes(make.bomb_png(70_000, 70_000))
    with pytest.raises(ImageReadError, match="70000x70000"):
        read_label(tmp_path / "label.png")
