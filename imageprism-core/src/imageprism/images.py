"""Loading any supported input into a PreparedImage.

Inputs: a path (``str`` or ``os.PathLike``), encoded bytes, a binary file
object, a ``PIL.Image.Image`` or a NumPy array (HxW, HxWx1, HxWx3 or HxWx4,
``uint8``; ``bool`` is read as 0/255).

Rules every dimension sees the same way:

- EXIF orientation is applied, to files and PIL images alike (a broken or
  out-of-range orientation is ignored).
- Animated files and multi-page files use their first frame.
- Every mode becomes 8-bit RGB. Alpha (RGBA, LA, PA, and palette, grey or RGB
  images with a transparent colour) is composited onto white, so fully
  transparent pixels read as white.
  16-bit modes (``I;16*``, ``I``) are scaled by 1/257; float (``F``) images are
  scaled by 255 when their maximum is at most 1 and clipped to 0..255 otherwise;
  CMYK, YCbCr, LAB and HSV use Pillow's conversion.
- An image with more than ``max_pixels`` pixels (declared in its header) is
  refused before decoding, as a decompression bomb.
- A PreparedImage decodes lazily and at most once per scale: a dimension asks
  for the smallest size it needs, and a JPEG is then decoded with DCT scaling
  (Pillow's ``draft``), which is far cheaper than a full decode.
- Every failure raises ``ImageLoadError`` naming the source and the cause.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import threading
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import numpy as np
from PIL import Image, ImageOps

from imageprism.errors import ImageLoadError

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray | PreparedImage"  # noqa: E501
"""Anything ``prepare`` accepts."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pixel limit of a single image (Pillow's own decompression-bomb threshold)."""

_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ORIENTATION_TAG = 0x0112
_TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})
_SCALES = (8, 4, 2, 1)  # the scales JPEG DCT decoding offers; others use the same


def _flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode == "La":  # Pillow cannot convert La to RGBA directly
        image = image.convert("LA")
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any mode to 8-bit RGB with the rules of this module."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        return _flatten_alpha(image)
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(values, 0, 65535) / 257.0
        return Image.fromarray(np.rint(grey).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        grey = np.clip(values, 0, 255)
        return Image.fromarray(np.rint(grey).astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")


def _orient(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # broken EXIF must not cost the image; keep it as stored
        return image


def _png_exif(data: bytes) -> bytes | None:
    """The eXIf chunk of a PNG wherever it is, found by walking chunks without decoding."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"eXIf":
            return b"Exif\x00\x00" + data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _oriented_size(image: Image.Image, data: bytes) -> tuple[int, int]:
    width, height = image.size
    try:
        if image.format == "PNG" and "exif" not in image.info:
            # PngImageFile.getexif would decode the whole image to look for an
            # eXIf chunk after the pixel data; find it in the bytes instead.
            exif = Image.Exif()
            raw = _png_exif(data)
            if raw is not None:
                exif.load(raw)
        else:
            exif = image.getexif()
        orientation = exif.get(_ORIENTATION_TAG)
    except Exception:
        orientation = None
    if orientation in _TRANSPOSED_ORIENTATIONS:
        return height, width
    return width, height


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
        self.size = _oriented_size(header, self._data)

    def _open(self) -> Image.Image:
        assert self._data is not None
        if not self._data:
            raise ImageLoadError(self.source, "empty input")
        try:
            return Image.open(io.BytesIO(self._data))
        except Image.DecompressionBombError as err:
            raise ImageLoadError(self.source, f"decompression bomb: {err}") from err
        except Image.UnidentifiedImageError as err:
            raise ImageLoadError(self.source, "not an image Pillow can read") from err
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
            image = to_rgb(_orient(image))
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
        return os.fspath(image)  # type: ignore[return-value]
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
            rgb = to_rgb(_orient(image))
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
