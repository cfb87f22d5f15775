"""A corpus of hostile inputs for the image loader, written to a folder on demand.

``build_corpus(folder)`` writes one file per case (the "missing" case writes
nothing, the "directory" case makes a folder) and returns the cases. Each case
says what ``imageprism.io.images.prepare(path).rgb()`` must do with it:

- ``"loads"``: an RGB image of ``size`` (width, height, after EXIF orientation),
  whose pixels at ``probes`` have the given colours (within ``tolerance``);
- ``"refused"``: an ``ImageLoadError`` naming the path, whose reason contains
  ``reason`` when it is set. ``bomb`` cases must be refused at once, from their
  header, without decoding or allocating the pixels.

Every file is small (the 20000x20000 PNG is about 50 kB) and the whole corpus
builds in well under a second. Cases that need an optional codec (WebP, AVIF,
JPEG 2000, HEIC through pillow-heif) adapt to what is installed: a real file
that loads when the codec is there, a refusal naming the plugin when it is not.
"""

from __future__ import annotations

import importlib
import io
import os
import socket
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageCms, features

Expectation = Literal["loads", "refused"]
Colour = tuple[int, int, int]
Probe = tuple[tuple[int, int], Colour]

WHITE: Colour = (255, 255, 255)
RED: Colour = (255, 0, 0)
BLUE: Colour = (0, 0, 255)
ORIENTATION = 0x0112
SIZE = (7, 5)  # the size of most one-colour cases: odd, and not square


@dataclass(frozen=True)
class Case:
    """One hostile input and what loading it must give."""

    name: str
    path: Path
    expectation: Expectation
    size: tuple[int, int] | None = None
    """(width, height) of the RGB result after EXIF orientation; "loads" cases only."""
    probes: tuple[Probe, ...] = ()
    """((x, y), colour) pixels of the RGB result to check."""
    tolerance: int = 0
    """Largest difference allowed per channel at the probes (lossy formats)."""
    reason: str | None = None
    """A part of the refusal reason that must be there; "refused" cases only."""
    bomb: bool = False
    """Must be refused from its header: quickly, without decoding or allocating pixels."""

    def __post_init__(self) -> None:
        if self.expectation == "loads":
            assert self.size is not None, f"{self.name}: a loading case needs its size"
            assert self.reason is None and not self.bomb, self.name
        else:
            assert self.expectation == "refused", self.name
            assert self.size is None and not self.probes, self.name

    def __str__(self) -> str:  # the pytest id
        return self.name


# ---------------------------------------------------------------- encoders


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(
    width: int,
    height: int,
    depth: int,
    colour_type: int,
    row: bytes,
    *,
    before: Iterable[bytes] = (),
    after: Iterable[bytes] = (),
) -> bytes:
    """A PNG written by hand: every row is ``row`` (packed samples, without the filter byte).

    The rows are compressed as a stream, so a huge image of one colour costs
    little time or memory to write. ``before`` and ``after`` are extra chunks
    around the pixel data.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    block = line * max(1, (1 << 20) // len(line))  # about 1 MB of rows per call
    rows_per_block = len(block) // len(line)
    parts = []
    left = height
    while left >= rows_per_block:
        parts.append(compressor.compress(block))
        left -= rows_per_block
    parts.append(compressor.compress(line * left))
    parts.append(compressor.flush())
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            png_chunk(b"IHDR", ihdr),
            *before,
            png_chunk(b"IDAT", b"".join(parts)),
            *after,
            png_chunk(b"IEND", b""),
        ]
    )


def zeros_compressed(count: int) -> bytes:
    """A zlib stream of ``count`` zero bytes, compressed a megabyte at a time."""
    compressor = zlib.compressobj(9)
    block = bytes(max(1, min(count, 1 << 20)))
    parts = [compressor.compress(block) for _ in range(count // len(block))]
    parts.append(compressor.compress(bytes(count % len(block))))
    return b"".join(parts) + compressor.flush()


def plte(*colours: Colour) -> bytes:
    return png_chunk(b"PLTE", b"".join(bytes(c) for c in colours))


def tiff(width: int, height: int, pixels: bytes, *, extra: dict[int, int] | None = None) -> bytes:
    """A little-endian 8-bit greyscale TIFF written by hand, in one uncompressed strip."""
    tags = {
        256: (4, width),  # ImageWidth, LONG
        257: (4, height),  # ImageLength
        258: (3, 8),  # BitsPerSample, SHORT
        259: (3, 1),  # Compression: none
        262: (3, 1),  # PhotometricInterpretation: black is zero
        273: (4, 0),  # StripOffsets, filled in below
        277: (3, 1),  # SamplesPerPixel
        278: (4, height),  # RowsPerStrip
        279: (4, len(pixels)),  # StripByteCounts
    }
    for tag, value in (extra or {}).items():
        tags[tag] = (3, value)
    ifd_size = 2 + 12 * len(tags) + 4
    tags[273] = (4, 8 + ifd_size)
    entries = b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, (kind, value) in sorted(tags.items())
    )
    ifd = struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + pixels


def exif_orientation(value: int, kind: int = 3) -> bytes:
    """An EXIF block (big-endian) holding only an orientation, stored with TIFF type ``kind``."""
    formats = {3: ">Hxx", 4: ">I", 8: ">hxx", 9: ">i"}  # SHORT, LONG, SSHORT, SLONG
    entry = struct.pack(">HHI", ORIENTATION, kind, 1) + struct.pack(formats[kind], value)
    return b"Exif\x00\x00MM\x00\x2a" + struct.pack(">I", 8) + b"\x00\x01" + entry + bytes(4)


def with_png_chunk(data: bytes, chunk: bytes, *, where: Literal["before", "after"]) -> bytes:
    """A PNG with one more chunk, just before the first IDAT or just before IEND."""
    at = data.index(b"IDAT") - 4 if where == "before" else data.rindex(b"IEND") - 4
    return data[:at] + chunk + data[at:]


def set_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    at = data.index(b"\xff\xc0")  # baseline SOF0: length, precision, then height and width
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def cmyk_icc_profile() -> bytes:
    """An ICC profile that declares a CMYK colour space.

    Pillow's ImageCms only builds sRGB, LAB and XYZ profiles, so this is the sRGB
    profile with its data colour space field (bytes 16..19) set to CMYK. The
    loader never applies embedded profiles; the case checks that such a JPEG
    still loads.
    """
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return srgb[:16] + b"CMYK" + srgb[20:]


def two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: rotations are easy to tell apart."""
    width, height = size
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = RED
    array[:, width // 2 :] = BLUE
    return Image.fromarray(array, "RGB")


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def corners(size: tuple[int, int], colour: Colour) -> tuple[Probe, ...]:
    width, height = size
    points = {(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)}
    points.add((width // 2, height // 2))
    return tuple((point, colour) for point in sorted(points))


def _plugin(module: str) -> object | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _avif_writable() -> bool:
    """Whether Pillow writes AVIF here (natively, or through pillow-avif-plugin)."""
    _plugin("pillow_avif")  # registers itself on import, when installed
    try:
        encode(Image.new("RGB", (2, 2)), "AVIF")
    except (KeyError, OSError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- the corpus


class _Writer:
    """Writes case files into a folder and collects the cases."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cases: list[Case] = []

    def add(self, name: str, suffix: str, data: bytes | None, expectation: Expectation, **kw):
        path = self.folder / f"{name}{suffix}"
        if data is not None:
            path.write_bytes(data)
        self.cases.append(Case(name, path, expectation, **kw))

    def loads(self, name: str, suffix: str, data: bytes, size: tuple[int, int], colour: Colour):
        """A case that loads as an image of ``size``, all of it ``colour`` exactly."""
        self.add(name, suffix, data, "loads", size=size, probes=corners(size, colour))

    def lossy(self, name: str, suffix: str, data: bytes, size: tuple[int, int], colour: Colour):
        """A case that loads as an image of ``size``, all of it about ``colour``."""
        probes = corners(size, colour)
        self.add(name, suffix, data, "loads", size=size, probes=probes, tolerance=12)

    def refused(self, name: str, suffix: str, data: bytes | None, reason: str | None = None):
        self.add(name, suffix, data, "refused", reason=reason)

    def bomb(self, name: str, suffix: str, data: bytes) -> None:
        self.add(name, suffix, data, "refused", reason="bomb", bomb=True)


def build_corpus(folder: Path) -> list[Case]:
    """Write every hostile input into ``folder`` (created if needed) and return the cases."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder)
    for section in _SECTIONS:
        section(writer)
    names = [case.name for case in writer.cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return writer.cases


def _missing_empty_and_not_images(c: _Writer) -> None:
    c.refused("missing", ".png", None, "no such file")
    c.refused("empty", ".png", b"", "empty")
    (c.folder / "directory.png").mkdir(exist_ok=True)
    c.refused("directory", ".png", None, "directory")
    c.refused("text_named_png", ".png", b"this is a text file, not a picture\n", "not an image")
    c.refused("html_named_jpg", ".jpg", b"<!doctype html><title>404</title>", "not an image")
    c.refused(
        "random_bytes_named_gif",
        ".gif",
        bytes(np.random.default_rng(1).integers(0, 256, 512, np.uint8)),
    )
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("image.png", encode(Image.new("RGB", SIZE), "PNG"))
    c.refused("zip_named_png", ".png", zipped.getvalue(), "not an image")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="7" height="5"><rect/></svg>'
    c.refused("svg_named_png", ".png", svg, "not an image")
    c.refused("png_signature_only", ".png", b"\x89PNG\r\n\x1a\n")
    c.refused("jpeg_soi_only", ".jpg", b"\xff\xd8")
    c.refused("gif_header_only", ".gif", b"GIF89a")
    c.refused("png_zero_width", ".png", png(0, 5, 8, 0, b""))


def _wrong_extensions(c: _Writer) -> None:
    c.loads(
        "png_named_jpg",
        ".jpg",
        encode(Image.new("RGB", SIZE, (10, 200, 30)), "PNG"),
        SIZE,
        (10, 200, 30),
    )
    jpeg = encode(Image.new("RGB", SIZE, (10, 200, 30)), "JPEG", quality=95)
    c.lossy("jpeg_named_png", ".png", jpeg, SIZE, (10, 200, 30))
    c.loads("gif_named_tiff", ".tiff", encode(Image.new("RGB", SIZE, RED), "GIF"), SIZE, RED)
    c.loads("png_without_extension", "", encode(Image.new("L", SIZE, 9), "PNG"), SIZE, (9, 9, 9))


def _truncated(c: _Writer) -> None:
    image = noise(64, 48)
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"), ("TIFF", ".tiff")):
        data = encode(image, fmt)
        c.refused(f"truncated_{fmt.lower()}_half", suffix, data[: len(data) // 2])
        c.refused(f"truncated_{fmt.lower()}_after_header", suffix, data[:40])
    if features.check("webp"):
        data = encode(image, "WEBP")
        c.refused("truncated_webp_half", ".webp", data[: len(data) // 2])
    # Only the trailer is missing; every pixel is there, so these load.
    data = encode(Image.new("RGB", SIZE, RED), "PNG")
    c.loads("png_without_iend", ".png", data[: data.rindex(b"IEND") - 4], SIZE, RED)
    data = encode(Image.new("RGB", SIZE, RED), "GIF")
    c.loads("gif_without_trailer", ".gif", data[:-1], SIZE, RED)


def _modes(c: _Writer) -> None:
    """Every mode Pillow can write to some file format, with the colour it must give."""

    def pillow(mode: str, value, fmt: str = "PNG", **params) -> bytes:
        image = Image.new(mode, SIZE, value)
        if mode in ("P", "PA"):
            image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        return encode(image, fmt, **params)

    c.loads("mode_1_png", ".png", pillow("1", 1), SIZE, WHITE)
    c.loads("mode_1_tiff", ".tiff", pillow("1", 1, "TIFF"), SIZE, WHITE)
    c.loads("mode_L_png", ".png", pillow("L", 77), SIZE, (77, 77, 77))
    c.loads("mode_LA_png", ".png", pillow("LA", (40, 255)), SIZE, (40, 40, 40))
    c.loads("mode_LA_transparent_png", ".png", pillow("LA", (40, 0)), SIZE, WHITE)
    c.loads("mode_LA_tiff", ".tiff", pillow("LA", (40, 255), "TIFF"), SIZE, (40, 40, 40))
    c.loads("mode_P_png", ".png", pillow("P", 1), SIZE, (200, 100, 50))
    c.loads("mode_P_tiff", ".tiff", pillow("P", 1, "TIFF"), SIZE, (200, 100, 50))
    c.loads("mode_PA_tiff", ".tiff", pillow("PA", (1, 255), "TIFF"), SIZE, (200, 100, 50))
    c.loads("mode_PA_transparent_tiff", ".tiff", pillow("PA", (1, 0), "TIFF"), SIZE, WHITE)
    c.loads("mode_RGB_png", ".png", pillow("RGB", (10, 200, 30)), SIZE, (10, 200, 30))
    c.loads("mode_RGB_tiff", ".tiff", pillow("RGB", (10, 200, 30), "TIFF"), SIZE, (10, 200, 30))
    c.loads("mode_RGBA_png", ".png", pillow("RGBA", (10, 20, 30, 255)), SIZE, (10, 20, 30))
    c.loads("mode_RGBA_half_png", ".png", pillow("RGBA", (0, 0, 0, 128)), SIZE, (127, 127, 127))
    c.loads("mode_RGBA_tiff", ".tiff", pillow("RGBA", (10, 20, 30, 0), "TIFF"), SIZE, WHITE)
    c.loads("mode_RGBX_tiff", ".tiff", pillow("RGBX", (10, 20, 30, 0), "TIFF"), SIZE, (10, 20, 30))
    c.loads("mode_CMYK_tiff", ".tiff", pillow("CMYK", (0, 255, 255, 0), "TIFF"), SIZE, RED)
    for mode, value in (("YCbCr", (200, 90, 160)), ("LAB", (180, 150, 100))):
        colour = Image.new(mode, (1, 1), value).convert("RGB").getpixel((0, 0))
        c.loads(f"mode_{mode}_tiff", ".tiff", pillow(mode, value, "TIFF"), SIZE, colour)
    c.loads("mode_I_tiff", ".tiff", pillow("I", 257 * 100, "TIFF"), SIZE, (100, 100, 100))
    c.loads("mode_I_negative_tiff", ".tiff", pillow("I", -5, "TIFF"), SIZE, (0, 0, 0))
    c.loads("mode_I_16_png", ".png", pillow("I;16", 257 * 200), SIZE, (200, 200, 200))
    c.loads("mode_I_16_tiff", ".tiff", pillow("I;16", 257 * 200, "TIFF"), SIZE, (200, 200, 200))
    c.loads("mode_I_16B_tiff", ".tiff", pillow("I;16B", 65535, "TIFF"), SIZE, WHITE)
    c.loads("mode_F_tiff", ".tiff", pillow("F", 0.5, "TIFF"), SIZE, (128, 128, 128))
    c.loads("mode_F_over_one_tiff", ".tiff", pillow("F", 300.0, "TIFF"), SIZE, WHITE)
    c.loads("mode_F_nan_tiff", ".tiff", pillow("F", float("nan"), "TIFF"), SIZE, (0, 0, 0))
    # HSV, La and RGBa cannot be written to any file format by Pillow; the loader
    # tests give them as PIL images.
    # Other formats, each with the modes it writes.
    c.loads("bmp_rgb", ".bmp", pillow("RGB", (10, 200, 30), "BMP"), SIZE, (10, 200, 30))
    c.loads("bmp_1bit", ".bmp", pillow("1", 1, "BMP"), SIZE, WHITE)
    c.loads("bmp_palette", ".bmp", pillow("P", 1, "BMP"), SIZE, (200, 100, 50))
    c.loads("tga_rgba", ".tga", pillow("RGBA", (10, 20, 30, 255), "TGA"), SIZE, (10, 20, 30))
    c.loads("ppm_rgb", ".ppm", pillow("RGB", (10, 200, 30), "PPM"), SIZE, (10, 200, 30))
    pgm16 = b"P5 7 5 65535\n" + struct.pack(">H", 257 * 60) * 35
    c.loads("pgm_16bit", ".pgm", pgm16, SIZE, (60, 60, 60))
    c.loads("pcx_rgb", ".pcx", pillow("RGB", (10, 200, 30), "PCX"), SIZE, (10, 200, 30))
    c.loads("sgi_rgb", ".sgi", pillow("RGB", (10, 200, 30), "SGI"), SIZE, (10, 200, 30))
    c.loads(
        "ico_rgba",
        ".ico",
        pillow("RGBA", (10, 20, 30, 255), "ICO", sizes=[SIZE]),
        SIZE,
        (10, 20, 30),
    )
    if features.check_codec("jpg_2000"):
        c.loads(
            "jpeg2000_rgb", ".jp2", pillow("RGB", (10, 200, 30), "JPEG2000"), SIZE, (10, 200, 30)
        )
    if features.check("webp"):
        webp = pillow("RGBA", (10, 20, 30, 0), "WEBP", lossless=True)
        c.loads("webp_transparent", ".webp", webp, SIZE, WHITE)


def _png_bit_depths(c: _Writer) -> None:
    """PNG bit depths Pillow cannot all write, written by hand (7x5, one colour)."""
    width, height = SIZE

    def packed(value: int, depth: int, samples: int = 1) -> bytes:
        bits = "".join(format(value, f"0{depth}b") for _ in range(width * samples))
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big")

    for depth, value, grey in ((1, 1, 255), (2, 1, 85), (4, 7, 119), (8, 77, 77)):
        c.loads(
            f"png_grey_{depth}bit",
            ".png",
            png(width, height, depth, 0, packed(value, depth)),
            SIZE,
            (grey,) * 3,
        )
    grey16 = struct.pack(">H", 257 * 200) * width
    c.loads("png_grey_16bit", ".png", png(width, height, 16, 0, grey16), SIZE, (200, 200, 200))
    palette = plte((0, 0, 0), (200, 100, 50))
    for depth in (1, 2, 4, 8):
        data = png(width, height, depth, 3, packed(1, depth), before=[palette])
        c.loads(f"png_palette_{depth}bit", ".png", data, SIZE, (200, 100, 50))
    rgb16 = struct.pack(">HHH", 257 * 10, 257 * 20, 257 * 30) * width
    c.loads("png_rgb_16bit", ".png", png(width, height, 16, 2, rgb16), SIZE, (10, 20, 30))
    grey_alpha16 = struct.pack(">HH", 257 * 40, 65535) * width
    c.loads(
        "png_grey_alpha_16bit", ".png", png(width, height, 16, 4, grey_alpha16), SIZE, (40, 40, 40)
    )
    rgba16 = struct.pack(">HHHH", 257 * 10, 257 * 20, 257 * 30, 65535) * width
    c.loads("png_rgba_16bit", ".png", png(width, height, 16, 6, rgba16), SIZE, (10, 20, 30))
    clear16 = struct.pack(">HHHH", 257 * 10, 257 * 20, 257 * 30, 0) * width
    c.loads("png_rgba_16bit_transparent", ".png", png(width, height, 16, 6, clear16), SIZE, WHITE)


def _transparency(c: _Writer) -> None:
    """Palette and colour-key transparency (tRNS and GIF): transparent pixels read as white."""
    width, height = SIZE
    palette = plte((0, 0, 0), (200, 100, 50))
    index_0 = bytes(width)
    keyed = png(width, height, 8, 3, index_0, before=[palette, png_chunk(b"tRNS", b"\x00")])
    c.loads("png_palette_transparent_index", ".png", keyed, SIZE, WHITE)
    half = png(width, height, 8, 3, index_0, before=[palette, png_chunk(b"tRNS", b"\x80\xff")])
    c.loads("png_palette_alpha_table", ".png", half, SIZE, (127, 127, 127))
    grey = png(width, height, 8, 0, bytes([77]) * width, before=[png_chunk(b"tRNS", b"\x00\x4d")])
    c.loads("png_grey_transparent_colour", ".png", grey, SIZE, WHITE)
    black_white = png(width, height, 1, 0, b"\x00", before=[png_chunk(b"tRNS", b"\x00\x00")])
    c.loads("png_1bit_transparent_colour", ".png", black_white, SIZE, WHITE)
    trns16 = png_chunk(b"tRNS", struct.pack(">H", 257 * 200))
    grey16 = png(width, height, 16, 0, struct.pack(">H", 257 * 200) * width, before=[trns16])
    c.loads("png_grey_16bit_transparent_colour", ".png", grey16, SIZE, WHITE)
    rgb = png(
        width,
        height,
        8,
        2,
        bytes((10, 200, 30)) * width,
        before=[png_chunk(b"tRNS", b"\x00\x0a\x00\xc8\x00\x1e")],
    )
    c.loads("png_rgb_transparent_colour", ".png", rgb, SIZE, WHITE)
    image = Image.new("P", SIZE, 0)
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    image.putpixel((0, 0), 1)
    data = encode(image, "GIF", transparency=0)
    c.add(
        "gif_transparent_index",
        ".gif",
        data,
        "loads",
        size=SIZE,
        probes=(((0, 0), (200, 100, 50)), ((6, 4), WHITE)),
    )


def _animations_and_pages(c: _Writer) -> None:
    """Animated files and multi-page files: the first frame or page is the image."""
    frames = [Image.new("RGB", SIZE, colour) for colour in (RED, BLUE, (0, 200, 0))]
    animated = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    c.loads("gif_animated", ".gif", encode(frames[0], "GIF", **animated), SIZE, RED)
    c.loads("apng_animated", ".png", encode(frames[0], "PNG", **animated), SIZE, RED)
    # The default image of this APNG is not part of the animation; Pillow's first frame is it.
    default = encode(frames[0], "PNG", default_image=True, **animated)
    c.loads("apng_default_image", ".png", default, SIZE, RED)
    if features.check("webp"):
        webp = encode(frames[0], "WEBP", lossless=True, **animated)
        c.loads("webp_animated", ".webp", webp, SIZE, RED)
    pages = [Image.new("L", SIZE, grey) for grey in (10, 200)]
    tiff_pages = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    c.loads("tiff_multipage", ".tiff", tiff_pages, SIZE, (10, 10, 10))
    tiff_sizes = encode(Image.new("L", (3, 2), 10), "TIFF", save_all=True, append_images=pages)
    c.loads("tiff_multipage_pages_of_other_sizes", ".tiff", tiff_sizes, (3, 2), (10, 10, 10))


def _cmyk_and_icc(c: _Writer) -> None:
    cmyk = Image.new("CMYK", SIZE, (0, 255, 255, 0))
    c.lossy("jpeg_cmyk", ".jpg", encode(cmyk, "JPEG", quality=95), SIZE, RED)
    data = encode(cmyk, "JPEG", quality=95, icc_profile=cmyk_icc_profile())
    c.lossy("jpeg_cmyk_icc_profile", ".jpg", data, SIZE, RED)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = Image.new("RGB", SIZE, (10, 200, 30))
    c.lossy(
        "jpeg_rgb_srgb_profile",
        ".jpg",
        encode(rgb, "JPEG", quality=95, icc_profile=srgb),
        SIZE,
        (10, 200, 30),
    )
    garbage = b"not an ICC profile at all" * 20
    c.lossy(
        "jpeg_garbage_icc_profile",
        ".jpg",
        encode(rgb, "JPEG", quality=95, icc_profile=garbage),
        SIZE,
        (10, 200, 30),
    )
    c.loads(
        "png_garbage_icc_profile",
        ".png",
        encode(rgb, "PNG", icc_profile=garbage),
        SIZE,
        (10, 200, 30),
    )


def _tiny(c: _Writer) -> None:
    for size in ((1, 1), (1, 500), (500, 1)):
        name = "x".join(map(str, size))
        image = Image.new("RGB", size, (10, 200, 30))
        c.loads(f"png_{name}", ".png", encode(image, "PNG"), size, (10, 200, 30))
        c.lossy(f"jpeg_{name}", ".jpg", encode(image, "JPEG", quality=95), size, (10, 200, 30))
        c.loads(f"gif_{name}", ".gif", encode(image, "GIF"), size, (10, 200, 30))
        c.loads(f"tiff_{name}", ".tiff", encode(image, "TIFF"), size, (10, 200, 30))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    rotated = encode(Image.new("RGB", (1, 500), RED), "JPEG", quality=95, exif=exif)
    c.lossy("jpeg_1x500_rotated", ".jpg", rotated, (500, 1), RED)


def blp2(width: int, height: int, *, size: int = 284) -> bytes:
    """A BLP2 header declaring ``width`` x ``height`` RGBA (palette-coded), padded to ``size``."""
    header = b"BLP2" + struct.pack("<iBBBB", 1, 1, 8, 0, 0) + struct.pack("<II", width, height)
    return header + bytes(max(0, size - len(header)))


def _thin(c: _Writer) -> None:
    """Long thin strips: few pixels, but a model would scale the short side up to its input."""
    for width, height in ((1, 20000), (1, 5000), (20000, 1), (3, 9000)):
        row = bytes(-(-width // 8))  # 1-bit grey rows of zeros: a file of about 150 bytes
        c.refused(f"thin_png_{width}x{height}", ".png", png(width, height, 1, 0, row), "1:")
    # At the limit (1:1000) a strip loads; a model sees its centre square, resized.
    c.loads("thin_png_1x1000", ".png", png(1, 1000, 8, 2, bytes(3)), (1, 1000), (0, 0, 0))
    strip = encode(Image.new("RGB", (4000, 2), RED), "JPEG", quality=95)
    c.refused("thin_jpeg_4000x2", ".jpg", strip, "aspect ratio")
    # 284 bytes declaring 1x83,886,338 RGBA: under the pixel limit, 320 MiB of pixels.
    c.refused("thin_blp_1x83886338_rgba", ".blp", blp2(1, 83_886_338), "aspect ratio")


def _many_frames(c: _Writer) -> None:
    """Many frames or pages: the first is the image, the rest are never decoded."""
    colours = [(255 - index % 256, index // 256 * 40, 0) for index in range(1000)]
    frames = [Image.new("RGB", (16, 16), colour) for colour in colours]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    c.loads("gif_1000_frames", ".gif", gif, (16, 16), RED)
    pages = [Image.new("L", (8, 8), 10)] * 200
    tiff_pages = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    c.loads("tiff_200_pages", ".tiff", tiff_pages, (8, 8), (10, 10, 10))


def _bombs(c: _Writer) -> None:
    """Images over the pixel limit: refused from their header, before any decoding."""
    # 20000x20000 of one colour: 400 M pixels in a 50 kB file (1-bit rows of zeros).
    c.bomb("bomb_png_20000x20000_one_colour", ".png", png(20000, 20000, 1, 0, bytes(2500)))
    # About 1 GB declared (32768x32768, 4 bytes a pixel) and no pixel data to speak of.
    header_only = png(32768, 32768, 8, 6, b"")[:33] + png_chunk(b"IDAT", zlib.compress(b""))
    c.bomb("bomb_png_header_1gb", ".png", header_only + png_chunk(b"IEND", b""))
    small_jpeg = encode(Image.new("RGB", (8, 8), RED), "JPEG")
    c.bomb("bomb_jpeg_header_1gb", ".jpg", set_jpeg_size(small_jpeg, 32768, 32768))
    small_gif = encode(Image.new("P", (4, 4)), "GIF")
    screen = small_gif[:6] + struct.pack("<HH", 65535, 65535) + small_gif[10:]
    c.bomb("bomb_gif_screen_65535x65535", ".gif", screen)
    at = small_gif.index(b"\x2c")  # the first image descriptor: left, top, width, height
    frame = small_gif[: at + 5] + struct.pack("<HH", 65535, 65535) + small_gif[at + 9 :]
    c.bomb("bomb_gif_frame_65535x65535", ".gif", frame)
    c.bomb("bomb_tiff_header_1gb", ".tiff", tiff(32768, 32768, b"\x00"))
    bmp = encode(Image.new("RGB", (4, 4)), "BMP")
    c.bomb("bomb_bmp_header", ".bmp", bmp[:18] + struct.pack("<ii", 32768, 32768) + bmp[26:])
    if features.check("webp"):
        lossless = encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True)
        at = lossless.index(b"VP8L") + 9  # after the chunk size and the 0x2f signature
        bits = struct.unpack("<I", lossless[at : at + 4])[0] & ~((1 << 28) - 1)
        bits |= 16383 | (16383 << 14)  # 16384x16384: 268 M pixels
        c.bomb(
            "bomb_webp_header",
            ".webp",
            lossless[:at] + struct.pack("<I", bits) + lossless[at + 4 :],
        )


def _expanding_data(c: _Writer) -> None:
    """Small files whose compressed data expands far beyond what the image needs."""
    width, height = SIZE
    image = png(width, height, 8, 0, bytes(width))
    # The pixel data of a 7x5 image followed by 64 MB more zeros in the same stream.
    stream = zeros_compressed(width * height + height + (64 << 20))
    overlong = image[:33] + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    c.loads("png_idat_stream_expands_to_64mb", ".png", overlong, SIZE, (0, 0, 0))
    # Metadata that decompresses to 64 MB: Pillow refuses text over 1 MB per chunk.
    huge = zeros_compressed(64 << 20)
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + huge)
    c.refused(
        "png_ztxt_expands_to_64mb", ".png", with_png_chunk(image, ztxt, where="before"), "too large"
    )
    iccp = png_chunk(b"iCCP", b"icc\x00\x00" + huge)
    c.refused(
        "png_iccp_expands_to_64mb", ".png", with_png_chunk(image, iccp, where="before"), "too large"
    )


def _exif(c: _Writer) -> None:
    """EXIF orientation, valid, absurd and broken. The image is 40x20: red left, blue right."""
    source = two_colour()
    upright = (((5, 10), RED), ((34, 10), BLUE))
    turned = (((10, 3), RED), ((10, 36), BLUE))  # orientation 6: the left side goes to the top

    def jpeg(name: str, exif: bytes | Image.Exif, *, rotated: bool) -> None:
        data = encode(source, "JPEG", quality=95, exif=exif)
        size, probes = ((20, 40), turned) if rotated else ((40, 20), upright)
        c.add(name, ".jpg", data, "loads", size=size, probes=probes, tolerance=40)

    jpeg("exif_orientation_6", exif_orientation(6), rotated=True)
    for value in (0, 9, 255, 65535):
        jpeg(f"exif_orientation_{value}", exif_orientation(value), rotated=False)
    jpeg("exif_orientation_minus_1_sshort", exif_orientation(-1, kind=8), rotated=False)
    jpeg("exif_orientation_minus_1_slong", exif_orientation(-1, kind=9), rotated=False)
    jpeg("exif_orientation_6_as_long", exif_orientation(6, kind=4), rotated=True)
    header = b"Exif\x00\x00MM\x00\x2a"
    jpeg("exif_garbage", b"Exif\x00\x00" + b"\xff" * 40, rotated=False)
    jpeg("exif_ifd_offset_out_of_range", header + struct.pack(">I", 0xFFFFFF00), rotated=False)
    jpeg(
        "exif_absurd_entry_count", header + struct.pack(">IH", 8, 0xFFFF) + bytes(12), rotated=False
    )
    loop = exif_orientation(6)[:-4] + struct.pack(">I", 8)  # the next IFD is this one again
    jpeg("exif_ifd_loop", loop, rotated=True)
    ascii_6 = (
        b"Exif\x00\x00MM\x00\x2a"
        + struct.pack(">IHHHI", 8, 1, ORIENTATION, 2, 2)
        + b"6\x00\x00\x00"
        + bytes(4)
    )
    jpeg("exif_orientation_as_text", ascii_6, rotated=False)
    jpeg("exif_only_header", b"Exif\x00\x00", rotated=False)
    # PNG: eXIf before and after the pixel data; the last one counts, as in Pillow.
    plain = encode(source, "PNG")
    exif6 = png_chunk(b"eXIf", exif_orientation(6)[6:])
    exif1 = png_chunk(b"eXIf", exif_orientation(1)[6:])
    after = with_png_chunk(plain, exif6, where="after")
    c.add("png_exif_after_pixels", ".png", after, "loads", size=(20, 40), probes=turned)
    both = with_png_chunk(with_png_chunk(plain, exif1, where="before"), exif6, where="after")
    c.add("png_exif_before_1_after_6", ".png", both, "loads", size=(20, 40), probes=turned)
    both = with_png_chunk(with_png_chunk(plain, exif6, where="before"), exif1, where="after")
    c.add("png_exif_before_6_after_1", ".png", both, "loads", size=(40, 20), probes=upright)
    garbage = with_png_chunk(plain, png_chunk(b"eXIf", b"\xff" * 30), where="before")
    c.add("png_exif_garbage", ".png", garbage, "loads", size=(40, 20), probes=upright)
    # A chunk after the pixel data that claims 1 GB and is cut short: Pillow reads
    # those chunks when it loads, and refuses the file as truncated.
    cut = with_png_chunk(plain, struct.pack(">I", 1 << 30) + b"eXIf" + b"MM", where="after")
    c.refused("png_exif_after_pixels_cut_short", ".png", cut, "runcated")
    tiff6 = encode(source, "TIFF", tiffinfo={ORIENTATION: 6})
    c.add("tiff_orientation_6", ".tiff", tiff6, "loads", size=(20, 40), probes=turned)
    tiff9 = tiff(4, 2, bytes(8), extra={ORIENTATION: 9})
    c.loads("tiff_orientation_9", ".tiff", tiff9, (4, 2), (0, 0, 0))
    if features.check("webp"):
        webp = encode(source, "WEBP", lossless=True, exif=exif_orientation(6))
        c.add("webp_exif_orientation_6", ".webp", webp, "loads", size=(20, 40), probes=turned)


def _heic_and_avif(c: _Writer) -> None:
    """Real HEIC and AVIF files where their codecs are installed; a refusal naming the plugin
    where they are not. A broken file of either kind is refused in both cases."""
    image = Image.new("RGB", (16, 8), RED)
    heif = _plugin("pillow_heif")
    if heif is not None:
        buffer = io.BytesIO()
        heif.from_pillow(image).save(buffer, format="HEIF", quality=95)  # registers no opener
        c.lossy("heic_real", ".heic", buffer.getvalue(), (16, 8), RED)
    fake_heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    c.refused(
        "heic_broken", ".heic", fake_heic, None if heif is not None else "pip install pillow-heif"
    )
    avif = _avif_writable()
    if avif:
        c.lossy("avif_real", ".avif", encode(image, "AVIF", quality=95), (16, 8), RED)
    fake_avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64
    c.refused("avif_broken", ".avif", fake_avif, None if avif else "pip install pillow-avif-plugin")


_SECTIONS = (
    _missing_empty_and_not_images,
    _wrong_extensions,
    _truncated,
    _modes,
    _png_bit_depths,
    _transparency,
    _animations_and_pages,
    _cmyk_and_icc,
    _tiny,
    _bombs,
    _thin,
    _many_frames,
    _expanding_data,
    _exif,
    _heic_and_avif,
)


# ---------------------------------------------------------------- special files


def special_files(folder: Path) -> dict[str, Path]:
    """Paths that are not images to read: a FIFO, a socket and a device named ``.jpg``, a
    sparse 3 GiB ``.jpg`` (no disk blocks), ``/dev/zero`` itself; created in ``folder``.

    Each must be refused before it is read; a FIFO opened for reading would block
    forever, ``/dev/zero`` never ends, and the sparse file would take 3 GiB of memory.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"dev_zero": Path("/dev/zero")}
    fifo = folder / "fifo.jpg"
    os.mkfifo(fifo)
    paths["fifo"] = fifo
    device = folder / "zero.jpg"
    device.symlink_to("/dev/zero")
    paths["device_link"] = device
    sparse = folder / "sparse_3gb.jpg"
    with sparse.open("wb") as file:
        file.write(encode(Image.new("RGB", (8, 8), RED), "JPEG"))
        file.truncate(3 * 2**30)
    paths["sparse_3gb"] = sparse
    sock_path = folder / "s.jpg"
    if len(os.fsencode(sock_path)) > 100:  # AF_UNIX paths must be short
        sock_path = Path(tempfile.mkdtemp(prefix="ip-")) / "s.jpg"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(sock_path))  # the socket file stays after close
    link = folder / "socket.jpg"
    link.symlink_to(sock_path)
    paths["socket"] = link
    return paths
