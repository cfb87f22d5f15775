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
- HEIC and AVIF files need a Pillow plugin: pillow-heif for HEIC (registered
  when the first HEIC file comes), and for AVIF a Pillow built with AVIF
  support or pillow-avif-plugin. Without it, the error says what to install.
- A PreparedImage decodes lazily and at most once per scale: a dimension asks
  for the smallest size it needs, and a JPEG is then decoded with DCT scaling
  (Pillow's ``draft``), which is far cheaper than a full decode.
- Every failure raises ``ImageLoadError`` naming the source and the cause.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import os
import struct
import threading
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import numpy as np
from PIL import Image, features

from imageprism.errors import ImageLoadError

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray | PreparedImage"  # noqa: E501
"""Anything ``prepare`` accepts."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pixel limit of a single image (Pillow's own decompression-bomb threshold)."""

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


def _flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode == "La":  # Pillow cannot convert La to RGBA directly
        image = image.convert("LA")
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no needless copy
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    composite = Image.alpha_composite(white, rgba)
    del white, rgba  # before the RGB copy: less memory at the peak
    return composite.convert("RGB")


# The 16-bit and float rules work on one copy of the pixels, in place, and free it
# on return: they cost no more memory per pixel than the other modes.


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
    if mode == "RGB" and "transparency" not in image.info:
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
        self._transpose = _transpose_of(header, self._data)
        self.size = (height, width) if self._transpose in _SWAPS_SIDES else (width, height)

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
            image = _orient(to_rgb(image), self._transpose)
            if not self._draftable and factor > 1:
                # Keep the full decode: other scales of a non-JPEG reuse it.
                self._scales[1] = image
                image = image.reduce(factor)
        except ImageLoadError:
            raise
        except Exception as err:
            raise ImageLoadError(
                self.source, f"cannot decode: {type(err).__name__}: {err}"
            ) from err
        return image

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


def _read_path(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise ImageLoadError(str(path), "no such file") from err
    except IsADirectoryError as err:
        raise ImageLoadError(str(path), "is a directory, not an image file") from err
    except OSError as err:
        raise ImageLoadError(str(path), f"cannot read: {err.strerror or err}") from err


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


def prepare(image: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Turn any supported input into a PreparedImage (reading files, not decoding pixels).

    Args:
        image: A path, encoded bytes, a binary file object, a PIL image, a NumPy
            array, or a PreparedImage (returned as is).
        max_pixels: Refuse images with more pixels than this.

    Raises:
        ImageLoadError: the input is missing, unreadable, not an image, too
            large, or of an unsupported type; the message names the source.
    """
    if isinstance(image, PreparedImage):
        return image
    source = describe(image)
    if isinstance(image, str | os.PathLike):
        return PreparedImage(source, data=_read_path(Path(image)), max_pixels=max_pixels)
    if isinstance(image, bytes | bytearray | memoryview):
        return PreparedImage(source, data=bytes(image), max_pixels=max_pixels)
    if isinstance(image, Image.Image):
        width, height = image.size
        if width * height > max_pixels:
            raise ImageLoadError(
                source, f"{width * height} pixels exceeds the limit of {max_pixels}"
            )
        try:
            image.load()
            rgb = _orient(to_rgb(image), _transpose_of(image))
        except Exception as err:
            raise ImageLoadError(source, f"cannot decode: {type(err).__name__}: {err}") from err
        if rgb is image:
            rgb = image.copy()  # later changes to the caller's image must not leak in
        return PreparedImage(source, image=rgb, max_pixels=max_pixels)
    if isinstance(image, np.ndarray):
        if image.ndim >= 2 and image.shape[0] * image.shape[1] > max_pixels:
            raise ImageLoadError(source, f"array exceeds the limit of {max_pixels} pixels")
        return PreparedImage(
            source, image=to_rgb(_from_array(image, source)), max_pixels=max_pixels
        )
    if hasattr(image, "read"):
        try:
            data = image.read()
        except Exception as err:
            raise ImageLoadError(source, f"cannot read: {err}") from err
        if not isinstance(data, bytes | bytearray):
            raise ImageLoadError(source, "file object must be opened in binary mode")
        return PreparedImage(source, data=bytes(data), max_pixels=max_pixels)
    raise ImageLoadError(
        source,
        f"unsupported input type {type(image).__name__}; expected a path, bytes, a binary "
        "file object, a PIL.Image.Image or a numpy.ndarray",
    )
