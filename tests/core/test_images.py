"""Tests for imageprism.io.images: every input kind, every failure, mode rules, EXIF, scaling."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from imageprism.errors import ImageLoadError
from imageprism.io.images import PreparedImage, prepare

ORIENTATION = 0x0112
FAST = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: rotations and flips are easy to tell apart."""
    width, height = size
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(array, "RGB")


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def smooth(width: int, height: int) -> Image.Image:
    """A photo-like gradient, so JPEG keeps the colours close."""
    x = np.linspace(0, 255, width)
    y = np.linspace(0, 255, height)[:, None]
    array = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=-1,
    )
    return Image.fromarray(array.astype(np.uint8), "RGB")


def jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(image, "JPEG", exif=exif, quality=95)


def set_png_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR of a PNG to declare another size (with a valid CRC)."""
    assert png[12:16] == b"IHDR"
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return png[:16] + bytes(ihdr) + crc + png[33:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_exif_after_pixels(image: Image.Image, orientation: int) -> bytes:
    """A PNG whose eXIf chunk comes after IDAT, as the PNG extensions allow."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    png = encode(image, "PNG")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + png_chunk(b"eXIf", exif.tobytes()) + png[iend:]


def assert_load_error(excinfo: pytest.ExceptionInfo[ImageLoadError], source: str) -> None:
    assert excinfo.value.source == source
    assert source in str(excinfo.value)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every pixel decode Pillow starts (one entry per decoder created).

    ``Image.fromarray`` decodes too (with "raw"), so tests build their inputs
    first and clear the list before the calls they measure.
    """
    calls: list[str] = []
    original = Image._getdecoder

    def counting(mode, decoder_name, *args, **kwargs):
        calls.append(decoder_name)
        return original(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(Image, "_getdecoder", counting)
    return calls


RED_PNG = encode(Image.new("RGB", (20, 10), (255, 0, 0)), "PNG")


# ---------------------------------------------------------------- input kinds


def test_str_path_is_read_and_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED_PNG)
    prepared = prepare(str(path))
    assert isinstance(prepared, PreparedImage)
    assert prepared.source == str(path)
    assert prepared.size == (20, 10)
    assert prepared.format == "PNG"
    assert tuple(prepared.array()[0, 0]) == (255, 0, 0)


def test_pathlib_path_is_read_and_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED_PNG)
    prepared = prepare(path)
    assert prepared.source == str(path)
    assert prepared.array().shape == (10, 20, 3)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda f: f.__name__)
def test_encoded_bytes_like_inputs_load(wrap) -> None:
    prepared = prepare(wrap(RED_PNG))
    assert prepared.source == f"<bytes: {len(RED_PNG)} bytes>"
    assert prepared.size == (20, 10)
    assert tuple(prepared.array()[5, 5]) == (255, 0, 0)


def test_bytes_input_is_copied_so_later_mutation_does_not_change_the_image() -> None:
    data = bytearray(RED_PNG)
    prepared = prepare(data)
    data[:] = b"\0" * len(data)
    assert tuple(prepared.array()[0, 0]) == (255, 0, 0)


def test_bytesio_is_read_from_its_current_position() -> None:
    buf = io.BytesIO(b"junk" + RED_PNG)
    buf.seek(4)
    prepared = prepare(buf)
    assert prepared.source == "<file object>"
    assert prepared.size == (20, 10)


def test_open_binary_file_is_read_and_named_by_its_name(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED_PNG)
    with path.open("rb") as handle:
        prepared = prepare(handle)
    assert prepared.source == str(path)
    assert tuple(prepared.array()[0, 0]) == (255, 0, 0)


def test_pil_image_is_used_without_a_format() -> None:
    image = Image.new("RGB", (7, 3), (1, 2, 3))
    prepared = prepare(image)
    assert prepared.format is None
    assert prepared.size == (7, 3)
    assert prepared.source == "<PIL.Image RGB 7x3>"
    assert np.array_equal(prepared.array(), np.full((3, 7, 3), (1, 2, 3), np.uint8))


def test_greyscale_array_becomes_equal_rgb_channels() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    prepared = prepare(array)
    assert prepared.size == (4, 3)
    assert prepared.source == "<array 3x4 uint8>"
    assert np.array_equal(prepared.array(), np.repeat(array[:, :, None], 3, axis=2))


def test_single_channel_array_is_read_as_greyscale() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert np.array_equal(prepare(array).array(), np.repeat(array, 3, axis=2))


def test_rgb_array_is_kept_exactly() -> None:
    array = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    out = prepare(array).array()
    assert out.dtype == np.uint8
    assert np.array_equal(out, array)


def test_non_contiguous_rgb_array_is_kept_exactly() -> None:
    array = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)[::2, ::-2]
    assert np.array_equal(prepare(array).array(), array)


def test_rgba_array_alpha_is_composited_onto_white() -> None:
    array = np.array([[[10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)
    out = prepare(array).array()
    assert out.shape == (1, 2, 3)
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[0, 1]) == (255, 255, 255)


def test_bool_array_reads_false_as_black_and_true_as_white() -> None:
    array = np.array([[False, True], [True, False]])
    out = prepare(array).array()
    assert out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], [[0, 255], [255, 0]])
    assert np.array_equal(out[:, :, 0], out[:, :, 2])


def test_prepared_image_is_returned_as_is() -> None:
    prepared = prepare(RED_PNG)
    assert prepare(prepared) is prepared
    assert prepare(prepared, max_pixels=1) is prepared


# ---------------------------------------------------------------- failures


def test_missing_file_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(ImageLoadError, match="no such file") as excinfo:
        prepare(path)
    assert_load_error(excinfo, str(path))


def test_directory_error_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="directory") as excinfo:
        prepare(tmp_path)
    assert_load_error(excinfo, str(tmp_path))


def test_empty_file_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty") as excinfo:
        prepare(str(path))
    assert_load_error(excinfo, str(path))


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(ImageLoadError, match="empty") as excinfo:
        prepare(b"")
    assert_load_error(excinfo, "<bytes: 0 bytes>")


def test_non_image_bytes_are_refused() -> None:
    data = b"this is not an image at all"
    with pytest.raises(ImageLoadError, match="not an image") as excinfo:
        prepare(data)
    assert_load_error(excinfo, f"<bytes: {len(data)} bytes>")


def test_non_image_file_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ImageLoadError) as excinfo:
        prepare(path)
    assert_load_error(excinfo, str(path))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_raises_load_error_naming_the_source(tmp_path: Path, fmt: str) -> None:
    data = encode(noise(64, 64), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError) as excinfo:
        prepare(path).rgb()  # may only fail once pixels are needed
    assert_load_error(excinfo, str(path))


def test_truncated_jpeg_fails_at_reduced_scale_too() -> None:
    data = encode(noise(256, 256), "JPEG")
    prepared = prepare(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="cannot decode"):
        prepared.rgb(min_side=32)


def test_unsupported_input_type_is_refused() -> None:
    with pytest.raises(ImageLoadError, match="unsupported input type int") as excinfo:
        prepare(42)  # type: ignore[arg-type]
    assert_load_error(excinfo, "<int>")


def test_text_mode_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_text("plain text")
    with path.open("r") as handle, pytest.raises(ImageLoadError, match="binary") as excinfo:
        prepare(handle)  # type: ignore[arg-type]
    assert_load_error(excinfo, str(path))


def test_text_mode_file_of_binary_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(RED_PNG)
    with (
        path.open("r", encoding="utf-8") as handle,
        pytest.raises(ImageLoadError) as excinfo,
    ):
        prepare(handle)  # type: ignore[arg-type]
    assert_load_error(excinfo, str(path))


def test_string_io_is_refused() -> None:
    with pytest.raises(ImageLoadError, match="binary mode") as excinfo:
        prepare(io.StringIO("text"))  # type: ignore[arg-type]
    assert_load_error(excinfo, "<file object>")


def test_closed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED_PNG)
    handle = path.open("rb")
    handle.close()
    with pytest.raises(ImageLoadError, match="cannot read") as excinfo:
        prepare(handle)
    assert_load_error(excinfo, str(path))


@pytest.mark.parametrize("dtype", [np.float64, np.uint16, np.int8])
def test_array_of_wrong_dtype_is_refused(dtype) -> None:
    array = np.zeros((4, 4, 3), dtype)
    with pytest.raises(ImageLoadError, match="dtype") as excinfo:
        prepare(array)
    assert_load_error(excinfo, f"<array 4x4x3 {np.dtype(dtype)}>")


@pytest.mark.parametrize("shape", [(4, 4, 2), (16,), (2, 2, 2, 3), (4, 4, 5)])
def test_array_of_wrong_shape_is_refused(shape: tuple[int, ...]) -> None:
    array = np.zeros(shape, np.uint8)
    with pytest.raises(ImageLoadError, match="shape") as excinfo:
        prepare(array)
    assert_load_error(excinfo, f"<array {'x'.join(map(str, shape))} uint8>")


@pytest.mark.parametrize("shape", [(0, 4), (4, 0, 3)])
def test_empty_array_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageLoadError, match="no pixels"):
        prepare(np.zeros(shape, np.uint8))


def test_declared_size_over_max_pixels_is_refused_without_decoding(decodes: list[str]) -> None:
    png = encode(noise(20, 20), "PNG")
    decodes.clear()
    with pytest.raises(ImageLoadError, match="exceeds the limit of 100") as excinfo:
        prepare(png, max_pixels=100)
    assert_load_error(excinfo, f"<bytes: {len(png)} bytes>")
    assert decodes == []


def test_max_pixels_is_inclusive() -> None:
    assert prepare(encode(noise(20, 20), "PNG"), max_pixels=400).size == (20, 20)


def test_huge_declared_png_is_refused_as_a_decompression_bomb() -> None:
    png = set_png_size(encode(Image.new("L", (1, 1)), "PNG"), 100_000, 100_000)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        prepare(png)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_declared_size_over_default_limit_is_refused(decodes: list[str]) -> None:
    png = set_png_size(encode(Image.new("L", (1, 1)), "PNG"), 10_000, 10_000)
    decodes.clear()
    with pytest.raises(ImageLoadError, match="exceeds the limit"):
        prepare(png)
    assert decodes == []


def test_pil_image_over_max_pixels_is_refused() -> None:
    with pytest.raises(ImageLoadError, match="exceeds the limit of 99") as excinfo:
        prepare(Image.new("RGB", (10, 10)), max_pixels=99)
    assert_load_error(excinfo, "<PIL.Image RGB 10x10>")


def test_array_over_max_pixels_is_refused() -> None:
    with pytest.raises(ImageLoadError, match="exceeds the limit of 99") as excinfo:
        prepare(np.zeros((10, 10, 3), np.uint8), max_pixels=99)
    assert_load_error(excinfo, "<array 10x10x3 uint8>")


def test_load_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        prepare(b"nope")


# ---------------------------------------------------------------- modes


def pixel(image: Image.Image, *, via_png: bool = False) -> tuple[int, int, int]:
    prepared = prepare(encode(image, "PNG") if via_png else image)
    out = prepared.array()
    assert out.dtype == np.uint8
    assert out.shape == (image.height, image.width, 3)
    return tuple(int(v) for v in out[0, 0])


def test_mode_1_reads_as_black_and_white() -> None:
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    out = prepare(image).array()
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)


@pytest.mark.parametrize("via_png", [False, True], ids=["pil", "png"])
def test_greyscale_becomes_equal_rgb_channels(via_png: bool) -> None:
    assert pixel(Image.new("L", (2, 2), 77), via_png=via_png) == (77, 77, 77)


@pytest.mark.parametrize("via_png", [False, True], ids=["pil", "png"])
def test_transparent_la_pixel_is_white_and_opaque_la_keeps_its_grey(via_png: bool) -> None:
    assert pixel(Image.new("LA", (1, 1), (40, 0)), via_png=via_png) == (255, 255, 255)
    assert pixel(Image.new("LA", (1, 1), (40, 255)), via_png=via_png) == (40, 40, 40)


def test_half_transparent_black_la_is_mid_grey() -> None:
    assert pixel(Image.new("LA", (1, 1), (0, 128))) == (127, 127, 127)


def test_premultiplied_la_is_composited_onto_white() -> None:
    la = Image.new("LA", (2, 1), (100, 255))
    la.putpixel((1, 0), (100, 0))
    out = prepare(la.convert("La")).array()
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[0, 1]) == (255, 255, 255)


@pytest.mark.parametrize("via_png", [False, True], ids=["pil", "png"])
def test_palette_image_uses_its_palette_colours(via_png: bool) -> None:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 0), 1)
    out = prepare(encode(image, "PNG") if via_png else image).array()
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[0, 1]) == (200, 100, 50)


@pytest.mark.parametrize("fmt", [None, "PNG", "GIF"])
def test_palette_transparent_index_is_white(fmt: str | None) -> None:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0
    source = image if fmt is None else encode(image, fmt, transparency=0)
    out = prepare(source).array()
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1]) == (200, 100, 50)


def test_palette_with_alpha_mode_pa_is_composited_onto_white() -> None:
    image = Image.new("PA", (1, 1), (0, 0))
    image.putpalette([10, 20, 30] * 256)
    assert pixel(image) == (255, 255, 255)


@pytest.mark.parametrize("via_png", [False, True], ids=["pil", "png"])
def test_rgba_is_composited_onto_white(via_png: bool) -> None:
    image = Image.new("RGBA", (3, 1), (10, 20, 30, 255))
    image.putpixel((1, 0), (10, 20, 30, 0))
    image.putpixel((2, 0), (0, 0, 0, 128))
    out = prepare(encode(image, "PNG") if via_png else image).array()
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[0, 2]) == (127, 127, 127)


def test_premultiplied_rgba_is_composited_onto_white() -> None:
    rgba = Image.new("RGBA", (2, 1), (200, 100, 50, 255))
    rgba.putpixel((1, 0), (200, 100, 50, 0))
    out = prepare(rgba.convert("RGBa")).array()
    assert tuple(out[0, 0]) == (200, 100, 50)
    assert tuple(out[0, 1]) == (255, 255, 255)


@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [
        ((0, 0, 0, 0), (255, 255, 255)),
        ((0, 0, 0, 255), (0, 0, 0)),
        ((255, 0, 0, 0), (0, 255, 255)),
        ((0, 255, 255, 0), (255, 0, 0)),
    ],
)
def test_cmyk_uses_pillow_conversion(cmyk: tuple[int, ...], rgb: tuple[int, ...]) -> None:
    assert pixel(Image.new("CMYK", (1, 1), cmyk)) == rgb


def test_cmyk_jpeg_file_loads_as_rgb() -> None:
    data = encode(Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG", quality=95)
    out = prepare(data).array()
    assert out.shape == (16, 16, 3)
    assert out.min() >= 250


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
@pytest.mark.parametrize(("value", "expected"), [(65535, 255), (0, 0), (257 * 100, 100)])
def test_sixteen_bit_values_are_scaled_by_1_over_257(mode: str, value: int, expected: int) -> None:
    image = Image.new(mode, (1, 1))
    image.putpixel((0, 0), value)
    assert pixel(image) == (expected,) * 3


def test_sixteen_bit_png_file_is_scaled_to_eight_bits() -> None:
    image = Image.fromarray(np.array([[0, 257 * 100, 65535]], np.uint16))
    assert image.mode.startswith("I;16")
    out = prepare(encode(image, "PNG")).array()
    assert np.array_equal(out[0, :, 0], [0, 100, 255])
    assert np.array_equal(out[0, :, 0], out[0, :, 1])


def test_32_bit_integer_values_are_clipped_to_the_16_bit_range() -> None:
    image = Image.fromarray(np.array([[-5, 70_000]], np.int32), "I")
    out = prepare(image).array()
    assert np.array_equal(out[0, :, 0], [0, 255])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),  # max <= 1: scaled by 255
        ([0.0, 100.0, 300.0], [0, 100, 255]),  # max > 1: clipped to 0..255
        ([-1.0, 0.25, 2.0], [0, 0, 2]),
        ([float("nan"), 1.0, 0.0], [0, 255, 0]),
    ],
)
def test_float_images_follow_the_documented_scaling(
    values: list[float], expected: list[int]
) -> None:
    image = Image.fromarray(np.array([values], np.float32), "F")
    assert image.mode == "F"
    out = prepare(image).array()
    assert np.array_equal(out[0, :, 0], expected)
    assert np.array_equal(out[0, :, 0], out[0, :, 2])


def test_float_tiff_file_is_scaled() -> None:
    image = Image.fromarray(np.array([[0.0, 1.0]], np.float32), "F")
    out = prepare(encode(image, "TIFF")).array()
    assert np.array_equal(out[0, :, 0], [0, 255])


@pytest.mark.parametrize(
    ("ycbcr", "rgb"),
    [((255, 128, 128), (255, 255, 255)), ((0, 128, 128), (0, 0, 0))],
)
def test_ycbcr_uses_pillow_conversion(ycbcr: tuple[int, ...], rgb: tuple[int, ...]) -> None:
    image = Image.new("YCbCr", (1, 1), ycbcr)
    assert pixel(image) == rgb
    assert pixel(image) == image.convert("RGB").getpixel((0, 0))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_rgb_uint8(mode: str) -> None:
    image = Image.new(mode, (5, 3))
    out = prepare(image).array()
    assert out.dtype == np.uint8
    assert out.shape == (3, 5, 3)
    assert prepare(image).rgb().mode == "RGB"


# ---------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize(("orientation", "top", "bottom"), [(6, "red", "blue"), (8, "blue", "red")])
def test_exif_orientation_rotates_size_and_pixels(orientation: int, top: str, bottom: str) -> None:
    prepared = prepare(jpeg_with_orientation(two_colour((40, 20)), orientation))
    assert prepared.size == (20, 40)
    out = prepared.array()
    assert out.shape == (40, 20, 3)
    colours = {"red": (255, 0, 0), "blue": (0, 0, 255)}
    assert np.abs(out[2, 10].astype(int) - colours[top]).max() < 40
    assert np.abs(out[37, 10].astype(int) - colours[bottom]).max() < 40


def test_exif_orientation_is_applied_at_reduced_scale() -> None:
    prepared = prepare(jpeg_with_orientation(two_colour((400, 200)), 6))
    assert prepared.size == (200, 400)
    small = prepared.array(min_side=50)
    assert small.shape == (100, 50, 3)  # DCT-scaled by 4, then rotated
    assert small[5, 25, 0] > 200 and small[5, 25, 2] < 60  # red on top
    assert small[95, 25, 2] > 200 and small[95, 25, 0] < 60  # blue at the bottom


def test_exif_mirror_orientation_keeps_size_and_flips_pixels() -> None:
    prepared = prepare(jpeg_with_orientation(two_colour((40, 20)), 2))
    assert prepared.size == (40, 20)
    out = prepared.array()
    assert out[10, 2, 2] > 200 and out[10, 2, 0] < 60  # blue now on the left


def test_png_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    prepared = prepare(encode(two_colour((40, 20)), "PNG", exif=exif))
    assert prepared.size == (20, 40)
    out = prepared.array()
    assert out.shape == (40, 20, 3)
    assert tuple(out[0, 10]) == (255, 0, 0)
    assert tuple(out[39, 10]) == (0, 0, 255)


def test_png_exif_after_the_pixel_data_rotates_size_and_pixels_alike(
    decodes: list[str],
) -> None:
    data = png_with_exif_after_pixels(two_colour((40, 20)), 6)
    assert "exif" not in Image.open(io.BytesIO(data)).info  # Pillow sees it only after a decode
    decodes.clear()
    prepared = prepare(data)
    assert decodes == []
    assert prepared.size == (20, 40)
    out = prepared.array()
    assert out.shape == (40, 20, 3)
    assert tuple(out[0, 10]) == (255, 0, 0)


@pytest.mark.parametrize("orientation", [0, 9, 255, 65535])
def test_absurd_exif_orientation_is_ignored(orientation: int) -> None:
    prepared = prepare(jpeg_with_orientation(two_colour((40, 20)), orientation))
    assert prepared.size == (40, 20)
    assert prepared.array().shape == (20, 40, 3)
    assert prepared.array(min_side=5).shape[2] == 3


def test_garbage_exif_block_does_not_cost_the_image() -> None:
    data = encode(two_colour((40, 20)), "JPEG", exif=b"Exif\x00\x00" + b"\xff" * 40)
    prepared = prepare(data)
    assert prepared.size == (40, 20)
    assert prepared.array().shape == (20, 40, 3)


# ---------------------------------------------------------------- animations


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_file_uses_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    out = prepare(data).array()
    assert out.shape == (8, 8, 3)
    assert np.all(out == (255, 0, 0))


def test_multi_page_tiff_uses_its_first_page() -> None:
    pages = [Image.new("L", (4, 4), 10), Image.new("L", (4, 4), 200)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert np.all(prepare(data).array() == 10)


# ---------------------------------------------------------------- scaling and caching


def test_jpeg_min_side_decodes_much_smaller_but_not_below_min_side() -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG"))
    small = prepared.rgb(min_side=32)
    assert small.mode == "RGB"
    assert min(small.size) >= 32
    assert small.size[0] * small.size[1] <= 1024 * 768 // 16
    assert small.size == (128, 96)


@pytest.mark.parametrize(
    ("min_side", "size"),
    [(96, (128, 96)), (97, (256, 192)), (192, (256, 192)), (384, (512, 384)), (385, (1024, 768))],
)
def test_jpeg_min_side_picks_the_largest_scale_that_keeps_min_side(
    min_side: int, size: tuple[int, int]
) -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG"))
    assert prepared.rgb(min_side=min_side).size == size


def test_jpeg_reduced_scale_uses_dct_scaling_not_a_resize(monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG"))

    def no_reduce(*args, **kwargs):
        raise AssertionError("a JPEG must be scaled by draft, not by reduce")

    monkeypatch.setattr(Image.Image, "reduce", no_reduce)
    assert prepared.rgb(min_side=32).size == (128, 96)


def test_without_min_side_the_full_size_is_decoded() -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG"))
    assert prepared.rgb().size == (1024, 768)
    assert prepared.rgb(min_side=0).size == (1024, 768)
    assert prepared.rgb(min_side=5000).size == (1024, 768)


def test_jpeg_reduced_scale_is_close_to_the_full_decode() -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG", quality=95))
    small = np.asarray(prepared.rgb(min_side=32), dtype=int)
    reference = np.asarray(prepared.rgb().reduce(8), dtype=int)
    assert np.abs(small - reference).mean() < 3


def test_same_scale_is_decoded_only_once(decodes: list[str]) -> None:
    prepared = prepare(encode(smooth(1024, 768), "JPEG"))
    decodes.clear()
    first = prepared.rgb(min_side=32)
    assert prepared.rgb(min_side=32) is first
    assert prepared.rgb(min_side=40) is first  # same scale factor (8)
    assert prepared.rgb() is prepared.rgb()
    assert len(decodes) == 2  # one draft decode, one full decode


def test_jpeg_reduced_scale_does_not_depend_on_what_was_decoded_before() -> None:
    data = encode(noise(1024, 768), "JPEG")
    fresh = prepare(data).array(min_side=32)
    after_full = prepare(data)
    after_full.rgb()
    assert np.array_equal(after_full.array(min_side=32), fresh)


def test_prepare_does_not_decode_pixels(decodes: list[str]) -> None:
    files = [encode(noise(64, 48), fmt) for fmt in ("PNG", "JPEG", "GIF", "TIFF", "WEBP")]
    decodes.clear()
    for data in files:
        prepare(data)
    assert decodes == []


def test_png_scale_and_coarser_ones_come_from_one_decode_that_is_not_kept(
    decodes: list[str],
) -> None:
    prepared = prepare(encode(noise(1024, 768), "PNG"))
    decodes.clear()
    medium = prepared.rgb(min_side=100)
    assert medium.size == (256, 192)
    small = prepared.rgb(min_side=32)
    assert small.size == (128, 96)
    assert min(small.size) >= 32
    assert prepared.rgb(min_side=32) is small
    assert len(decodes) == 1
    # The full decode was dropped: only the scales asked for (and coarser ones) stay.
    assert all(image.size[0] <= 256 for image in prepared._scales.values())
    assert prepared.rgb().size == (1024, 768)  # asked for: decoded again, and kept
    assert len(decodes) == 2


def test_png_reduced_scale_is_a_box_reduction_of_the_full_image() -> None:
    image = noise(64, 48)
    prepared = prepare(encode(image, "PNG"))
    assert np.array_equal(prepared.array(min_side=12), np.asarray(image.reduce(4)))


def test_pil_and_array_inputs_are_reduced_too() -> None:
    image = noise(1024, 768)
    for source in (image, np.asarray(image)):
        prepared = prepare(source)
        small = prepared.rgb(min_side=32)
        assert small.size == (128, 96)
        assert prepared.rgb(min_side=32) is small
        assert prepared.rgb().size == (1024, 768)


def test_small_image_is_not_reduced_below_min_side() -> None:
    prepared = prepare(encode(noise(30, 70), "PNG"))
    assert prepared.rgb(min_side=16).size == (30, 70)
    assert prepared.rgb(min_side=15).size == (15, 35)
    assert prepared.rgb(min_side=8).size == (8, 18)


# ---------------------------------------------------------------- digest


def test_equal_bytes_give_equal_digests(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    path.write_bytes(RED_PNG)
    digests = {prepare(RED_PNG).digest, prepare(path).digest, prepare(io.BytesIO(RED_PNG)).digest}
    assert len(digests) == 1
    assert re.fullmatch("[0-9a-f]{32}", digests.pop())


def test_different_content_gives_different_digests() -> None:
    other = encode(Image.new("RGB", (20, 10), (254, 0, 0)), "PNG")
    assert prepare(RED_PNG).digest != prepare(other).digest
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[3, 3, 2] = 1
    assert prepare(a).digest != prepare(b).digest


def test_same_pixels_in_different_shapes_give_different_digests() -> None:
    flat = np.zeros((2, 8, 3), np.uint8)
    assert prepare(flat).digest != prepare(flat.reshape(4, 4, 3)).digest


def test_pil_image_and_equal_array_give_the_same_digest() -> None:
    image = noise(16, 9)
    assert prepare(image).digest == prepare(np.asarray(image)).digest
    grey = image.convert("L")
    assert prepare(grey).digest == prepare(np.asarray(grey)).digest


def test_digest_does_not_decode_encoded_input(decodes: list[str]) -> None:
    prepared = prepare(encode(noise(8, 8), "JPEG"))
    decodes.clear()
    assert prepared.digest
    assert decodes == []


# ---------------------------------------------------------------- properties

channel_counts = st.sampled_from([None, 3, 4])
sides = st.integers(1, 40)


@st.composite
def small_arrays(draw: st.DrawFn) -> np.ndarray:
    height, width, channels = draw(sides), draw(sides), draw(channel_counts)
    shape = (height, width) if channels is None else (height, width, channels)
    return draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 255)))


@FAST
@given(small_arrays())
def test_any_small_array_becomes_hxwx3_uint8_of_the_same_size(array: np.ndarray) -> None:
    out = prepare(array).array()
    height, width = array.shape[:2]
    assert out.dtype == np.uint8
    assert out.shape == (height, width, 3)
    if array.ndim == 2:
        assert np.array_equal(out, np.repeat(array[:, :, None], 3, axis=2))
    elif array.shape[2] == 3:
        assert np.array_equal(out, array)
    else:
        opaque = array[:, :, 3] == 255
        clear = array[:, :, 3] == 0
        assert np.array_equal(out[opaque], array[:, :, :3][opaque])
        assert np.all(out[clear] == 255)


@FAST
@given(small_arrays())
def test_png_round_trip_equals_the_array_path(array: np.ndarray) -> None:
    png = encode(Image.fromarray(array), "PNG")
    assert np.array_equal(prepare(png).array(), prepare(array).array())


def _base_files() -> dict[str, bytes]:
    return {
        "png": encode(noise(24, 16), "PNG"),
        "png_rgba": encode(noise(24, 16).convert("RGBA"), "PNG"),
        "jpeg": encode(smooth(48, 32), "JPEG"),
        "jpeg_exif": jpeg_with_orientation(smooth(48, 32), 6),
        "gif": encode(noise(24, 16).convert("P"), "GIF"),
    }


BASE_FILES = _base_files()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = bytearray(BASE_FILES[draw(st.sampled_from(sorted(BASE_FILES)))])
    edit = st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255))
    edits = draw(st.lists(edit, max_size=8))
    for position, value in edits:
        data[position] = value
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF
@settings(FAST, max_examples=300)
@given(damaged_files())
def test_damaged_files_load_or_raise_load_error_only(data: bytes) -> None:
    try:
        prepared = prepare(data, max_pixels=200_000)
        full = prepared.rgb()
        small = prepared.rgb(min_side=4)
    except ImageLoadError as err:
        assert err.source == f"<bytes: {len(data)} bytes>"
        return
    assert full.mode == small.mode == "RGB"
    assert full.size == prepared.size
    assert min(small.size) >= min(4, *prepared.size)


def test_pil_input_gets_exif_orientation_like_the_same_file(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(path, "JPEG", exif=exif)
    with Image.open(path) as opened:
        from_pil = prepare(opened)
    assert from_pil.size == prepare(path).size == (20, 40)
    assert from_pil.rgb().size == (20, 40)


def test_pil_input_is_copied_so_later_changes_do_not_leak_in():
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    prepared = prepare(image)
    image.paste((255, 255, 255), (0, 0, 8, 8))
    assert prepared.array()[0, 0].tolist() == [10, 20, 30]


def test_unloaded_truncated_pil_image_raises_image_load_error():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:80]))
    with pytest.raises(ImageLoadError, match="PIL.Image"):
        prepare(truncated)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_transparent_colour_of_grey_and_rgb_pngs_reads_as_white(mode):
    colour = 0 if mode == "L" else (0, 0, 0)
    image = Image.new(mode, (4, 4), colour)
    image.putpixel((0, 0), 128 if mode == "L" else (128, 128, 128))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=colour)
    pixels = prepare(buffer.getvalue()).array()
    assert pixels[1, 1].tolist() == [255, 255, 255]
    assert pixels[0, 0].tolist() == [128, 128, 128]


def test_mpo_camera_jpegs_use_dct_scaling():
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (1024, 768), c) for c in ((200, 0, 0), (0, 200, 0))]
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])
    prepared = prepare(buffer.getvalue())
    assert prepared.format == "MPO"
    small = prepared.rgb(min_side=32)
    assert small.size == (128, 96)
    assert small.getpixel((5, 5))[0] > 150


@pytest.mark.parametrize("bad", [-1, True])
def test_min_side_must_not_be_negative(bad):
    with pytest.raises(ValueError, match="min_side"):
        prepare(np.zeros((8, 8, 3), np.uint8)).rgb(min_side=bad)


def _mode_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode in ("RGBA", "LA"):
        bands = 4 if mode == "RGBA" else 2
        pixels = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
        return Image.fromarray(pixels, mode)
    if mode == "P":
        image = Image.fromarray(rng.integers(0, 16, (height, width), dtype=np.uint8), "L")
        image = image.convert("P")
        image.info["transparency"] = 3
        return image
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
        assert image.mode == "I;16"
        return image
    grey = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L")
    return grey.convert(mode)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["RGBA", "LA", "P", "L", "I;16", "CMYK", "1"]),
    st.integers(1, 70),
    st.integers(1, 300),
    st.integers(0, 2**32 - 1),
)
def test_band_by_band_scales_have_the_pixels_of_a_whole_conversion(mode, width, height, seed):
    # the loader converts huge images band by band into their scales, so no full-size RGB
    # copy sits beside the decode; the pixels must be those of converting it whole
    from unittest import mock

    from imageprism.io import images
    from imageprism.io.images import _reduced_rgb, to_rgb

    image = _mode_image(mode, width, height, seed)
    whole = to_rgb(image.copy())
    with mock.patch.object(images, "_BAND_PIXELS", 200):  # many bands, as a huge image has
        scales = _reduced_rgb(image, [2, 4, 8])
    for factor, scale in scales.items():
        assert np.array_equal(np.asarray(scale), np.asarray(whole.reduce(factor))), factor


def test_a_huge_png_with_alpha_is_scaled_without_a_full_size_rgb_copy(tmp_path):
    rgba = Image.new("RGBA", (600, 400), (10, 200, 30, 128))
    path = tmp_path / "alpha.png"
    rgba.save(path)
    image = prepare(path)
    small = image.rgb(min_side=100)
    assert small.size == (150, 100) and small.mode == "RGB"
    assert 1 not in image._scales  # no full-size copy kept
    whole = prepare(path)
    whole.rgb()  # the full-size conversion first: later scales are reduced from it
    assert np.array_equal(np.asarray(small), np.asarray(whole.rgb(min_side=100)))
