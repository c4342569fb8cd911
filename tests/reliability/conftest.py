"""Builders of hostile and odd files, made on the fly from the real pairs bundled with the package."""

import os
import struct
import zlib
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

SAMPLES = Path(str(files("semfuse").joinpath("samples")))
TNO = ("tno_05.png", (60, 40, 124, 88))  # grey TNO pair (stored as R = G = B), a 64 x 48 crop
ROAD = ("roadscene_FLIR_00006.jpg", (150, 100, 214, 148))  # grey JPEG infrared, colour JPEG visible, 64 x 48
MSRS = ("msrs_00004N.png", (300, 200, 364, 248))  # grey PNG infrared, colour PNG visible, 64 x 48


def sample(kind: str, pair: tuple[str, tuple[int, int, int, int]]) -> Image.Image:
    """A crop of a bundled sample: ``kind`` is 'ir' or 'vi'."""
    name, box = pair
    with Image.open(SAMPLES / kind / name) as image:
        return image.crop(box)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A grey PNG whose header claims ``width`` x ``height``: its pixel data is all-zero rows compressed to almost
    nothing (a decompression bomb: a few kilobytes that would decode to width * height bytes). Only the first rows
    are stored and the deflate stream is left open, so a reader that ignores the header's size meets a truncated
    file after allocating the image, instead of decoding zeros without end."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, deflate, no interlace
    stream = zlib.compressobj(9)
    data = stream.compress(b"\0" * (width + 1) * 4) + stream.flush(zlib.Z_SYNC_FLUSH)  # 4 rows, stream not ended
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def exif_rotated_jpeg(upright: Image.Image, path: Path) -> Path:
    """Save ``upright`` as a JPEG stored sideways with EXIF orientation 6 ('rotate 90° clockwise to display')."""
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    return path


def non_utf8_name(folder: Path, stem: bytes, suffix: str) -> Path:
    """A path in ``folder`` whose name holds bytes that are not UTF-8 (Latin-1 é), as Python represents it."""
    return folder / os.fsdecode(stem + suffix.encode())


@pytest.fixture
def good_pairs(tmp_path):
    """``make(*names)`` -> (ir/, vi/) holding good 64 x 48 pairs under ``names`` (TNO, RoadScene, MSRS in turn)."""

    def make(*names: str) -> tuple[Path, Path]:
        ir, vis = tmp_path / "ir", tmp_path / "vi"
        ir.mkdir(exist_ok=True)
        vis.mkdir(exist_ok=True)
        for index, name in enumerate(names):
            pair = (TNO, ROAD, MSRS)[index % 3]
            sample("ir", pair).save(ir / f"{name}.png")
            sample("vi", pair).save(vis / f"{name}.png")
        return ir, vis

    return make


@pytest.fixture(scope="session")
def make():
    """The builders above, for test modules (which cannot import a conftest under --import-mode=importlib):
    ``make.sample(kind, make.TNO)``, ``make.bomb_png(w, h)``, ``make.exif_rotated_jpeg(image, path)``,
    ``make.non_utf8_name(folder, stem_bytes, suffix)``."""
    return SimpleNamespace(SAMPLES=SAMPLES, TNO=TNO, ROAD=ROAD, MSRS=MSRS, sample=sample, bomb_png=bomb_png,
                           exif_rotated_jpeg=exif_rotated_jpeg, non_utf8_name=non_utf8_name)
