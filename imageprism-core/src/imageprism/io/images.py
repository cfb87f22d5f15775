"""Loading any supported input into a PreparedImage.

One module, though over ~400 lines: every rule below is one idea (what pixels a
dimension sees), and the checks against hostile files need to sit with the decoder.

Inputs: a path (``str`` or ``os.PathLike``), encoded bytes, a binary file
object, a ``PIL.Image.Image`` or a NumPy array (HxW, HxWx1, HxWx3 or HxWx4,
``uint8``; ``bool`` is read as 0/255).

Rules every dimension sees the same way:

- EXIF orientation is applied, to files and PIL images alike (a broken or
  out-of-range orientation is ignored). It is read once, before decoding, so
  ``size`` and the decoded pixels always agree.
- Animated files and multi-page files use their first frame.
- Every mode becomes 8-bit RGB. Alpha (RGBA, LA, PA) and transparent colours
  (of palette, 1-bit, grey, 16-bit grey and RGB images) are composited onto
  white, so fully transparent pixels read as white.
  16-bit modes (``I;16*``, ``I``) are scaled by 1/257; float (``F``) images are
  scaled by 255 when their maximum is at most 1 and clipped to 0..255 otherwise;
  CMYK, YCbCr, LAB and HSV use Pillow's conversion.
- An image with more than ``max_pixels`` pixels (declared in its header) is
  refused before decoding, as a decompression bomb. The limit also bounds the
  memory of a decode: at its peak about 16 bytes per pixel for LA, PA and float
  images, 4 to 12 for the other modes, besides the encoded bytes.
- An image whose long side is more than ``max_aspect_ratio`` (default 1000)
  times its short side is refused from its header too: no dimension can make
  sense of a 1x20000 strip, and scaling its short side up to a model's input
  would make millions of pixels out of a few.
- A file is read into memory only if it is a regular file (FIFOs, sockets,
  devices and ``/dev/zero`` are refused from ``os.stat``, never read, so they
  cannot hang or exhaust memory) of at most ``max_file_bytes`` (default
  256 MiB); bytes and file objects get the same limit.
- HEIC and AVIF files need a Pillow plugin: pillow-heif for HEIC (registered
  when the first HEIC file comes), and for AVIF a Pillow built with AVIF
  support or pillow-avif-plugin. Without it, the error says what to install.
- A PreparedImage decodes lazily and at most once per scale: a dimension asks
  for the smallest size it needs, and a JPEG is then decoded with DCT scaling
  (Pillow's ``draft``), which is far cheaper than a full decode. Other formats
  are decoded in full and box-reduced; the full decode is then dropped (it is
  kept only when a caller asks for full resolution), so a prepared image waiting
  in a batch holds its encoded bytes and small scales, not megapixels.
- Every failure raises ``ImageLoadError`` naming the source and the cause.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import os
import stat
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import numpy as np
from PIL import Image, features

from imageprism.errors import ImageLoadError
from imageprism.io.folders import special_file_kind

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray | PreparedImage"  # noqa: E501
"""Anything ``prepare`` accepts."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pixel limit of a single image (Pillow's own decompression-bomb threshold)."""

DEFAULT_MAX_ASPECT_RATIO = 1000
"""Largest ratio of an image's long side to its short side (1:1000); beyond, it is refused."""

DEFAULT_MAX_FILE_BYTES = 256 * 2**20
"""Largest file (or bytes, or file object) read into memory as one image: 256 MiB."""

_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ORIENTATION_TAG = 0x0112
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset(_TRANSPOSES[k] for k in (5, 6, 7, 8))
# Formats Pillow reads only through a plugin: the module that registers it and
# the distribution to install. Files are recognised by their ISO-BMFF brands.
_PLUGINS = {"HEIC": ("pillow_heif", "pillow-heif"), "AVIF": ("pillow_avif", "pillow-avif-plugin")}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_plugins_ready: dict[str, bool] = {}
_plugins_lock = threading.Lock()
_SCALES = (8, 4, 2, 1)  # the scales JPEG DCT decoding offers; others use the same


_PEAK_BYTES_PER_PIXEL = 8  # see PreparedImage.footprint
_BAND_PIXELS = 1 << 16  # pixels per band when alpha is flattened: under a MB of temporaries


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite onto white, band by band: at the peak the decode, the RGB result and one
    band's temporaries (not three full-size copies)."""
    width, height = image.size
    out = Image.new("RGB", image.size)
    rows = max(1, _BAND_PIXELS // max(1, width))
    white = Image.new("RGBA", (width, min(rows, height)), (255, 255, 255, 255))
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(top + rows, height)))
        if band.mode == "La":  # Pillow cannot convert La to RGBA directly
            band = band.convert("LA")
        if band.mode != "RGBA":
            band = band.convert("RGBA")
        if band.size != white.size:
            white = white.crop((0, 0, *band.size))
        out.paste(Image.alpha_composite(white, band).convert("RGB"), (0, top))
    return out


# The 16-bit and float rules work on one copy of the pixels, in place, and free it
# on return: they cost no more memory per pixel than the other modes.


def _is_plain_rgb(image: Image.Image) -> bool:
    """Whether ``to_rgb`` returns ``image`` itself: RGB without a transparent colour."""
    return image.mode == "RGB" and "transparency" not in image.info


def _converts_band_by_band(image: Image.Image) -> bool:
    """Whether ``to_rgb`` of ``image`` is a copy worth avoiding, made pixel by pixel (so
    band by band gives the same pixels): every mode but plain RGB (no copy) and F (its
    rule looks at the whole image's maximum)."""
    return not _is_plain_rgb(image) and image.mode != "F"


def _reduced_rgb(image: Image.Image, factors: Sequence[int]) -> dict[int, Image.Image]:
    """``to_rgb(image).reduce(f)`` for each of ``factors``, converted band by band.

    Bands are whole multiples of every factor high (the factors are powers of two), so
    each band reduces to exactly the rows the whole image would; at the peak there are
    the decode, the reduced scales and one band.
    """
    width, height = image.size
    step = max(factors)
    rows = step * max(1, _BAND_PIXELS // max(1, width * step))
    out = {f: Image.new("RGB", (-(-width // f), -(-height // f))) for f in factors}
    for top in range(0, height, rows):
        band = to_rgb(image.crop((0, top, width, min(top + rows, height))))
        for factor, scale in out.items():
            scale.paste(band.reduce(factor), (0, top // factor))
    return out


def _sixteen_bit_grey(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)
    wide = np.clip(values, 0, 65535) if values.dtype.kind == "i" else values.astype(np.uint32)
    del values
    # (v + 128) // 257 == rint(v / 257) for integers (v / 257 is never a tie).
    wide += 128
    wide //= 257
    grey = wide.astype(np.uint8)
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):  # the transparent value of a 16-bit grey PNG
        grey[np.asarray(image) == transparent] = 255
    return grey


def _float_grey(image: Image.Image) -> np.ndarray:
    values = np.asarray(image).astype(np.float64)  # one copy, and a writable one
    np.nan_to_num(values, copy=False)
    if values.size and values.max() <= 1.0:
        values *= 255.0
    np.clip(values, 0, 255, out=values)
    np.rint(values, out=values)
    return values.astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any mode to 8-bit RGB with the rules of this module."""
    mode = image.mode
    if _is_plain_rgb(image):
        return image
    if mode in _ALPHA_MODES or (mode in ("1", "P", "L", "RGB") and "transparency" in image.info):
        return _flatten_alpha(image)
    if mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_sixteen_bit_grey(image), "L").convert("RGB")
    if mode == "F":
        return Image.fromarray(_float_grey(image), "L").convert("RGB")
    return image.convert("RGB")


def _png_exif(data: bytes) -> bytes | None:
    """The eXIf chunk of a PNG wherever it is, found by walking chunks without decoding.

    The last one counts, as in Pillow once the image is loaded (which reads the
    chunks after the first frame's pixel data, up to the next frame).
    """
    found = None
    pixels = False
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"eXIf":
            found = b"Exif\x00\x00" + data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            pixels = True
        elif kind == b"IEND" or (kind == b"fcTL" and pixels):
            break
        pos += 12 + length
    return found


def _transpose_of(image: Image.Image, data: bytes | None = None) -> Image.Transpose | None:
    """The transposition the EXIF orientation of an image asks for (None: none, or broken).

    With ``data`` (the encoded file) a PNG is not decoded: PngImageFile.getexif
    would decode the whole image to look for an eXIf chunk after the pixel data.
    """
    try:
        if data is not None and image.format == "TIFF" and _pillow_orients_tiffs():
            return None  # Pillow transposes on loading, and its size is already the oriented one
        if data is not None and image.format == "PNG":
            raw = _png_exif(data)
            if raw is not None:
                image.info["exif"] = raw
            exif = Image.Image.getexif(image)  # the base method: reads info, never decodes
        else:
            exif = image.getexif()
        orientation = exif.get(_ORIENTATION_TAG)
        return _TRANSPOSES.get(orientation) if isinstance(orientation, int) else None
    except Exception:  # broken EXIF must not cost the image; keep it as stored
        return None


@functools.cache
def _pillow_orients_tiffs() -> bool:
    """Whether Pillow applies the orientation tag of a TIFF itself (recent versions do)."""
    buffer = io.BytesIO()
    Image.new("L", (2, 1)).save(buffer, "TIFF", tiffinfo={_ORIENTATION_TAG: 6})
    return Image.open(buffer).size == (1, 2)


def _orient(image: Image.Image, transpose: Image.Transpose | None) -> Image.Image:
    return image if transpose is None else image.transpose(transpose)


def _plugin_format(data: bytes) -> str | None:
    """The format, HEIC or AVIF, that ``data`` starts like (by its ftyp brands), else None."""
    if data[4:8] != b"ftyp":
        return None
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = {data[8:12]} | {data[pos : pos + 4] for pos in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:  # before HEIC: AVIF files often list the generic mif1 too
        return "AVIF"
    return "HEIC" if brands & _HEIC_BRANDS else None


def _plugin_ready(kind: str) -> bool:
    """Whether Pillow reads ``kind``, importing and registering its plugin the first time."""
    with _plugins_lock:
        ready = _plugins_ready.get(kind)
        if ready is None:
            ready = _plugins_ready[kind] = _load_plugin(kind)
        return ready


def _load_plugin(kind: str) -> bool:
    if kind == "AVIF":
        try:
            if features.check_module("avif"):
                return True  # Pillow's own AVIF plugin
        except ValueError:  # a Pillow without an AVIF plugin at all
            pass
    module_name, _ = _PLUGINS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    if kind == "HEIC":
        module.register_heif_opener()  # pillow_avif registers itself on import
    return True


def _open_image(data: bytes) -> Image.Image:
    kind = _plugin_format(data)
    if kind is not None:
        _plugin_ready(kind)  # so that Image.open knows the format
    return Image.open(io.BytesIO(data))


def _unidentified(data: bytes) -> str:
    """Why Pillow could not identify ``data``: a missing plugin, or not an image."""
    kind = _plugin_format(data)
    if kind is not None and not _plugin_ready(kind):
        distribution = _PLUGINS[kind][1]
        if kind == "AVIF":
            return (
                f"AVIF needs a Pillow built with AVIF support or {distribution}: "
                f"pip install {distribution}"
            )
        return f"{kind} needs {distribution}: pip install {distribution}"
    return "not an image Pillow can read"


def _check_aspect(source: str, size: tuple[int, int], limit: float) -> None:
    """Refuse an image whose long side is more than ``limit`` times its short side."""
    long, short = max(size), min(size)
    if short >= 1 and long > limit * short:
        raise ImageLoadError(
            source,
            f"{size[0]}x{size[1]} has an aspect ratio of 1:{long / short:.0f}, beyond the "
            f"limit of 1:{limit:g} (max_aspect_ratio); no dimension can compare so thin "
            "a strip; crop it, or raise max_aspect_ratio",
        )


def _reduce_factor(size: tuple[int, int], min_side: int | None, choices: tuple[int, ...]) -> int:
    """The largest factor in ``choices`` that keeps both sides >= ``min_side``."""
    if not min_side:
        return 1
    for factor in choices:
        if -(-size[0] // factor) >= min_side and -(-size[1] // factor) >= min_side:
            return factor
    return 1


class PreparedImage:
    """An input ready for dimensions: decoded lazily, at most once per scale.

    Create one with ``prepare``. Dimensions call ``rgb(min_side=...)`` for the
    smallest image they need; the content digest (``digest``) keys the cache.

    Attributes:
        source: How errors and reports name this input (a path, or a
            description such as ``<bytes: 5120 bytes>``).
        size: ``(width, height)`` after EXIF orientation.
        format: The file format (``"JPEG"``, ``"PNG"``...), None for arrays and PIL images.
    """

    def __init__(
        self,
        source: str,
        *,
        data: bytes | None = None,
        image: Image.Image | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
    ) -> None:
        self.source = source
        self._data = data
        self._image = image  # already RGB when given
        self._scales: dict[int, Image.Image] = {}
        self._lock = threading.Lock()
        self._digest: str | None = None
        self._draftable = False
        self._transpose: Image.Transpose | None = None  # from EXIF, applied after decoding
        if image is not None:
            self.size = image.size
            self.format: str | None = None
            _check_aspect(source, image.size, max_aspect_ratio)
            return
        header = self._open()
        self.format = header.format
        # MPO (multi-picture camera JPEGs) decode like JPEG, DCT scaling included.
        self._draftable = header.format in ("JPEG", "MPO")
        width, height = header.size
        if width * height > max_pixels:
            raise ImageLoadError(
                source,
                f"{width}x{height} = {width * height} pixels exceeds the limit of "
                f"{max_pixels} pixels (possible decompression bomb)",
            )
        if width < 1 or height < 1:
            raise ImageLoadError(source, f"image has no pixels ({width}x{height})")
        _check_aspect(source, (width, height), max_aspect_ratio)
        self._transpose = _transpose_of(header, self._data)
        self.size = (height, width) if self._transpose in _SWAPS_SIDES else (width, height)

    @property
    def footprint(self) -> int:
        """Bytes this image may hold at its peak: its encoded bytes and 8 bytes a pixel.

        A full decode (up to 4 bytes a pixel, RGBA) and its RGB conversion (3) are alive
        together for a moment, and the reduced scales kept take under 1 more. A batch
        counts these against its memory budget (``ImagePrism(batch_memory=...)``).
        """
        width, height = self.size
        return len(self._data or b"") + _PEAK_BYTES_PER_PIXEL * width * height

    def _open(self) -> Image.Image:
        assert self._data is not None
        if not self._data:
            raise ImageLoadError(self.source, "empty input")
        try:
            return _open_image(self._data)
        except Image.DecompressionBombError as err:
            raise ImageLoadError(self.source, f"decompression bomb: {err}") from err
        except Image.UnidentifiedImageError as err:
            raise ImageLoadError(self.source, _unidentified(self._data)) from err
        except Exception as err:
            raise ImageLoadError(self.source, f"{type(err).__name__}: {err}") from err

    @property
    def digest(self) -> str:
        """Hex digest of the content: file bytes, or pixels for arrays and PIL images."""
        if self._digest is None:
            hasher = hashlib.blake2b(digest_size=16)
            if self._data is not None:
                hasher.update(self._data)
            else:
                assert self._image is not None
                hasher.update(f"rgb:{self._image.size}:".encode())
                hasher.update(self._image.tobytes())
            self._digest = hasher.hexdigest()
        return self._digest

    def rgb(self, min_side: int | None = None) -> Image.Image:
        """The image as RGB, at least ``min_side`` pixels on its shorter side if it is that large.

        With ``min_side`` a JPEG is decoded with DCT scaling and other images are
        box-reduced, so the result may be up to about twice ``min_side``; without
        it, the full-resolution image. Each scale is decoded once and kept.

        Raises:
            ImageLoadError: the data is truncated or otherwise undecodable.
        """
        if min_side is not None and (isinstance(min_side, bool) or min_side < 0):
            raise ValueError(f"min_side must be None or an integer >= 0, got {min_side!r}")
        factor = _reduce_factor(self.size, min_side, _SCALES)
        with self._lock:
            cached = self._scales.get(factor)
            if cached is None:
                cached = self._decode(factor)
                self._scales[factor] = cached
            return cached

    def array(self, min_side: int | None = None) -> np.ndarray:
        """``rgb(min_side)`` as an HxWx3 ``uint8`` array."""
        return np.asarray(self.rgb(min_side))

    def _decode(self, factor: int) -> Image.Image:
        if self._image is not None:
            return self._image if factor == 1 else self._image.reduce(factor)
        full = self._scales.get(1)
        if full is not None and not self._draftable:
            # A JPEG scale always comes from draft: reducing a full decode gives
            # other pixels, and results must not depend on the order of calls.
            return full.reduce(factor)
        try:
            image = self._open()
            if self._draftable and factor > 1:
                width, height = image.size
                image.draft("RGB", (-(-width // factor), -(-height // factor)))
            image.load()
            if (
                not self._draftable
                and factor > 1
                and self._transpose is None
                and _converts_band_by_band(image)
            ):
                # Converted band by band straight into the scales: no full-size RGB copy
                # beside the decode (a 9000x9000 RGBA PNG: 324 MB, not 567), same pixels.
                wanted = [factor] + [
                    coarser
                    for coarser in _SCALES
                    if coarser > factor and coarser not in self._scales
                ]
                reduced = _reduced_rgb(image, wanted)
                for coarser in wanted[1:]:
                    self._scales[coarser] = reduced[coarser]
                return reduced[factor]
            image = _orient(to_rgb(image), self._transpose)
            if not self._draftable and factor > 1:
                # The full decode is dropped on return: only the scales asked for stay.
                # The coarser scales, cheap to make now, are kept too (each is full.reduce,
                # whatever the order of calls), so another dimension does not decode again.
                for coarser in _SCALES:
                    if coarser > factor and coarser not in self._scales:
                        self._scales[coarser] = image.reduce(coarser)
                image = image.reduce(factor)
        except ImageLoadError:
            raise
        except Exception as err:
            raise ImageLoadError(
                self.source, f"cannot decode: {type(err).__name__}: {err}"
            ) from err
        return image

    def release(self) -> None:
        """Drop every decoded scale (the next ``rgb`` call decodes again); keeps the bytes."""
        if self._data is None:
            return  # an array or PIL input: its pixels are the input itself
        with self._lock:
            self._scales.clear()

    def __repr__(self) -> str:
        return f"PreparedImage({self.source!r}, size={self.size}, format={self.format})"


def _from_array(array: np.ndarray, source: str) -> Image.Image:
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ImageLoadError(source, f"array dtype must be uint8 (or bool), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        mode = "L"
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        mode = "RGB" if array.shape[2] == 3 else "RGBA"
    else:
        raise ImageLoadError(
            source, f"array shape must be HxW, HxWx1, HxWx3 or HxWx4, got {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageLoadError(source, f"array has no pixels (shape {array.shape})")
    return Image.fromarray(np.ascontiguousarray(array), mode)


def _not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read as an image (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not an image file"
    kind = special_file_kind(mode)
    return f"is not a regular file ({kind}); only regular files are read as images"


def check_regular_file(path: str | os.PathLike[str]) -> None:
    """Refuse, from ``os.stat`` alone, a path that is not a regular file (FIFO, socket, device).

    For readers that open a file themselves (e.g. a video decoder): a FIFO opened for
    reading blocks until a writer comes, and a device may never end.

    Raises:
        ImageLoadError: the path is missing, unreadable or not a regular file.
    """
    name = os.fspath(path)
    try:
        problem = _not_regular(os.stat(path).st_mode)
    except FileNotFoundError as err:
        raise ImageLoadError(str(name), "no such file") from err
    except OSError as err:
        raise ImageLoadError(str(name), f"cannot read: {err.strerror or err}") from err
    if problem is not None:
        raise ImageLoadError(str(name), problem)


def _too_large(size: int, limit: int) -> str:
    return (
        f"{size} bytes exceeds the limit of {limit} bytes for one image (max_file_bytes); "
        "raise max_file_bytes to read it"
    )


def _read_at_most(file: Any, limit: int, expected: int = 0) -> Any:
    """Read to the end, or to one byte over ``limit``: in pieces, never a ``limit``-sized buffer.

    (``read(n)`` on a real file allocates ``n`` bytes at once.) ``expected``: the
    size the file should have, read in one piece. Returns what ``read`` gave: bytes,
    or whatever a text-mode file object gives, for the caller to refuse.
    """
    first = file.read(min(expected, limit) + 1) if expected else b""
    if not isinstance(first, bytes | bytearray):
        return first
    pieces = [first]
    total = len(first)
    while total <= limit:
        piece = file.read(min(1 << 20, limit + 1 - total))
        if not isinstance(piece, bytes | bytearray):
            return piece
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _read_path(path: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_file_bytes``, checked before reading.

    ``os.stat`` comes first, so a FIFO, socket or device is never opened for reading;
    the file is then opened non-blocking and checked again (it may have been swapped
    in between), and read up to one byte over the limit (it may have grown).
    """
    name = str(path)
    try:
        info = os.stat(path)
        problem = _not_regular(info.st_mode)
        if problem is not None:
            raise ImageLoadError(name, problem)
        if info.st_size > max_file_bytes:
            raise ImageLoadError(name, _too_large(info.st_size, max_file_bytes))
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(fd)
            problem = _not_regular(info.st_mode)
            if problem is not None:
                raise ImageLoadError(name, problem)
            data = _read_at_most(file, max_file_bytes, expected=info.st_size)
    except FileNotFoundError as err:
        raise ImageLoadError(name, "no such file") from err
    except IsADirectoryError as err:
        raise ImageLoadError(name, "is a directory, not an image file") from err
    except OSError as err:
        raise ImageLoadError(name, f"cannot read: {err.strerror or err}") from err
    except MemoryError as err:
        raise ImageLoadError(name, "not enough memory to read the file") from err
    if len(data) > max_file_bytes:
        raise ImageLoadError(name, _too_large(len(data), max_file_bytes) + " (it grew)")
    return data


def read_image_bytes(
    path: str | os.PathLike[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> bytes:
    """The bytes of an image file, read as ``prepare`` reads a path.

    Only a regular file is opened (checked with ``os.stat`` first), and only up to
    ``max_file_bytes``.

    Raises:
        ImageLoadError: the path is missing, not a regular file, unreadable or too large.
    """
    return _read_path(Path(path), max_file_bytes)


def describe(image: Any) -> str:
    """A short name for an input, as used in errors and reports."""
    if isinstance(image, PreparedImage):
        return image.source
    if isinstance(image, str | os.PathLike):
        return os.fspath(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return f"<bytes: {len(image)} bytes>"
    if isinstance(image, Image.Image):
        return f"<PIL.Image {image.mode} {image.size[0]}x{image.size[1]}>"
    if isinstance(image, np.ndarray):
        return f"<array {'x'.join(map(str, image.shape))} {image.dtype}>"
    name = getattr(image, "name", None)
    if hasattr(image, "read"):
        return str(name) if isinstance(name, str) else "<file object>"
    return f"<{type(image).__name__}>"


def prepare(
    image: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> PreparedImage:
    """Turn any supported input into a PreparedImage (reading files, not decoding pixels).

    Args:
        image: A path, encoded bytes, a binary file object, a PIL image, a NumPy
            array, or a PreparedImage (returned as is).
        max_pixels: Refuse images with more pixels than this.
        max_aspect_ratio: Refuse images whose long side is more than this many
            times their short side.
        max_file_bytes: Refuse files, bytes and file objects larger than this;
            paths that are not regular files are refused before being opened.

    Raises:
        ImageLoadError: the input is missing, unreadable, not a regular file, not
            an image, too large, too thin, or of an unsupported type; the message
            names the source.
    """
    if isinstance(image, PreparedImage):
        return image
    source = describe(image)
    limits: dict[str, Any] = {"max_pixels": max_pixels, "max_aspect_ratio": max_aspect_ratio}
    if isinstance(image, str | os.PathLike):
        data = _read_path(Path(image), max_file_bytes)
        return PreparedImage(source, data=data, **limits)
    if isinstance(image, bytes | bytearray | memoryview):
        if len(image) > max_file_bytes:
            raise ImageLoadError(source, _too_large(len(image), max_file_bytes))
        return PreparedImage(source, data=bytes(image), **limits)
    if isinstance(image, Image.Image):
        width, height = image.size
        if width * height > max_pixels:
            raise ImageLoadError(
                source, f"{width * height} pixels exceeds the limit of {max_pixels}"
            )
        _check_aspect(source, image.size, max_aspect_ratio)
        try:
            image.load()
            rgb = _orient(to_rgb(image), _transpose_of(image))
        except Exception as err:
            raise ImageLoadError(source, f"cannot decode: {type(err).__name__}: {err}") from err
        if rgb is image:
            rgb = image.copy()  # later changes to the caller's image must not leak in
        return PreparedImage(source, image=rgb, **limits)
    if isinstance(image, np.ndarray):
        if image.ndim >= 2 and image.shape[0] * image.shape[1] > max_pixels:
            raise ImageLoadError(source, f"array exceeds the limit of {max_pixels} pixels")
        return PreparedImage(source, image=to_rgb(_from_array(image, source)), **limits)
    if hasattr(image, "read"):
        try:
            data = _read_at_most(image, max_file_bytes)
        except MemoryError as err:
            raise ImageLoadError(source, "not enough memory to read the file object") from err
        except Exception as err:
            raise ImageLoadError(source, f"cannot read: {err}") from err
        if not isinstance(data, bytes | bytearray):
            raise ImageLoadError(source, "file object must be opened in binary mode")
        if len(data) > max_file_bytes:
            raise ImageLoadError(source, _too_large(len(data), max_file_bytes))
        return PreparedImage(source, data=bytes(data), **limits)
    raise ImageLoadError(
        source,
        f"unsupported input type {type(image).__name__}; expected a path, bytes, a binary "
        "file object, a PIL.Image.Image or a numpy.ndarray",
    )
