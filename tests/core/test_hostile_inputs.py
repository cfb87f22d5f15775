"""The loader's contract on hostile inputs: a valid RGB image or ImageLoadError, nothing else.

The corpus (tests/hostile_corpus.py) is written once, when this module is
imported, to a temporary folder removed at exit. Every case is checked as a path
and as bytes, alone and in one ``embed_many`` batch; the decompression bombs and
thin strips are refused from their header (no decoder, no pixels allocated, memory
measured). Bounded memory is pinned by structure: recipes resample only their
crop, a batch holds no full decode and is cut by its memory budget, files over
``max_file_bytes`` and non-regular files (FIFO, socket, devices, from
``hostile_corpus.special_files``) are refused before being read. A hypothesis fuzz
test mutates valid PNG, JPEG, GIF, TIFF, WebP and BMP files with multi-byte edits.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hostile_corpus import RED, Case, build_corpus, encode, exif_orientation, noise, png_chunk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features

import imageprism.io.images as images
from imageprism import ImagePrism
from imageprism.errors import ImageLoadError
from imageprism.io.images import prepare

CORPUS_FOLDER = Path(tempfile.mkdtemp(prefix="imageprism-hostile-"))
atexit.register(shutil.rmtree, CORPUS_FOLDER, ignore_errors=True)
CORPUS = build_corpus(CORPUS_FOLDER)
LOADS = [case for case in CORPUS if case.expectation == "loads"]
REFUSED = [case for case in CORPUS if case.expectation == "refused"]
BOMBS = [case for case in CORPUS if case.bomb]
FILES = [case for case in CORPUS if case.path.is_file()]
BY_NAME = {case.name: case for case in CORPUS}

# Pillow warns about corrupt EXIF, bomb-sized images below its hard limit, and
# more; warnings are not failures, and the fuzz test makes many of them.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def check_loaded(case: Case, source, expected_source: str) -> None:
    prepared = prepare(source)
    assert prepared.source == expected_source
    assert prepared.size == case.size
    width, height = case.size
    pixels = prepared.array()
    assert pixels.dtype == np.uint8
    assert pixels.shape == (height, width, 3)
    for (x, y), colour in case.probes:
        got = pixels[y, x].astype(int)
        assert np.abs(got - colour).max() <= case.tolerance, (case.name, (x, y), tuple(got))
    small = prepared.rgb(min_side=2)
    assert small.mode == "RGB"
    assert min(small.size) >= min(2, width, height)
    assert (small.width >= small.height) == (width >= height)  # orientation kept at every scale


def check_refused(case: Case, source, expected_source: str) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as excinfo:
        prepare(source).rgb()  # some failures only show once the pixels are decoded
    error = excinfo.value
    assert error.source == expected_source
    assert str(error) == f"cannot load image {expected_source}: {error.reason}"
    assert error.reason.strip()
    if case.reason is not None:
        assert case.reason in error.reason
    return error


# ---------------------------------------------------------------- the corpus itself


def test_corpus_covers_every_kind_of_hostile_input() -> None:
    prefixes = [
        "missing",
        "empty",
        "truncated_png",
        "truncated_jpeg",
        "truncated_gif",
        "truncated_tiff",
        "png_named_jpg",
        "text_named_png",
        "png_palette_transparent_index",
        "gif_transparent_index",
        "gif_animated",
        "apng_animated",
        "tiff_multipage",
        "jpeg_cmyk",
        "jpeg_cmyk_icc_profile",
        "png_1x1",
        "png_1x500",
        "png_500x1",
        "bomb_png_20000x20000_one_colour",
        "bomb_png_header_1gb",
        "bomb_gif_screen",
        "bomb_jpeg_header_1gb",
        "exif_orientation_0",
        "exif_orientation_9",
        "exif_orientation_255",
        "exif_orientation_minus_1",
        "exif_garbage",
        "heic_",
        "avif_",
    ]
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in BY_NAME), prefix
    if features.check("webp"):
        assert "webp_animated" in BY_NAME


def test_corpus_has_every_mode_pillow_can_write_to_a_file() -> None:
    modes = set()
    for case in LOADS:
        if case.path.suffix not in (".heic", ".avif"):  # Pillow may need a plugin for those
            with Image.open(case.path) as opened:
                modes.add(opened.mode)
    writable = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB"}
    writable |= {"I", "I;16", "I;16B", "F"}
    assert writable <= modes


def test_the_20000_square_png_is_a_small_file() -> None:
    data = BY_NAME["bomb_png_20000x20000_one_colour"].path.read_bytes()
    assert len(data) < 200_000
    assert struct.unpack(">4sII", data[12:24]) == (b"IHDR", 20000, 20000)


# ---------------------------------------------------------------- one case at a time


@pytest.mark.parametrize("case", LOADS, ids=str)
def test_loading_case_gives_rgb_of_the_expected_size_and_colour(case: Case) -> None:
    check_loaded(case, case.path, str(case.path))


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_case_raises_image_load_error_naming_the_path(case: Case) -> None:
    check_refused(case, case.path, str(case.path))


@pytest.mark.parametrize("case", FILES, ids=str)
def test_bytes_of_a_case_give_the_same_outcome(case: Case) -> None:
    data = case.path.read_bytes()
    source = f"<bytes: {len(data)} bytes>"
    if case.expectation == "loads":
        check_loaded(case, data, source)
    else:
        check_refused(case, data, source)


# ---------------------------------------------------------------- bombs: fast, no pixels


def _peak_rss_growth(action: Callable[[], object]) -> int | None:
    """Bytes the resident set grew by at its peak while ``action`` ran; None off Linux.

    Resets the process's peak (VmHWM) through /proc/self/clear_refs, so this
    measures C allocations (Pillow's pixels) that tracemalloc does not see.
    """
    status = Path("/proc/self/status")

    def read(field: str) -> int:
        return int(re.search(rf"{field}:\s+(\d+) kB", status.read_text())[1]) * 1024

    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = read("VmRSS")
    except (OSError, TypeError):
        return None
    action()
    return read("VmHWM") - before


@pytest.mark.parametrize("case", BOMBS, ids=str)
def test_bomb_is_refused_at_once_without_decoding_or_allocating(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    allocations: list[object] = []
    monkeypatch.setattr(Image, "_getdecoder", lambda *a, **k: allocations.append(a))
    monkeypatch.setattr(Image.core, "new", lambda *a, **k: allocations.append(a))

    def refuse() -> None:
        with pytest.raises(ImageLoadError, match="bomb"):
            prepare(case.path).rgb()

    tracemalloc.start()
    try:
        refuse()
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert allocations == []  # no decoder, no image memory
    assert traced_peak < 50 * 2**20
    grown = _peak_rss_growth(refuse)
    if grown is not None:
        assert grown < 50 * 2**20


def test_user_pixel_limit_refuses_a_small_file_that_expands_huge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3000x3000 of one colour in a 2 kB file: under Pillow's limit, over the user's."""
    data = encode(Image.new("1", (3000, 3000)), "PNG")
    assert len(data) < 10_000
    decoders: list[object] = []
    monkeypatch.setattr(Image, "_getdecoder", lambda *a, **k: decoders.append(a))
    with pytest.raises(ImageLoadError, match="exceeds the limit of 1000000 pixels"):
        prepare(data, max_pixels=1_000_000)
    assert decoders == []
    monkeypatch.undo()
    batch = ImagePrism(max_pixels=1_000_000).embed_many([data, encode(noise(8, 8), "PNG")])
    assert [failure.index for failure in batch.errors] == [0]
    assert "exceeds the limit" in batch.errors[0].reason
    assert batch.embeddings[1] is not None


DECODE_MEMORY_SCRIPT = textwrap.dedent(
    """
    import io, re
    from pathlib import Path
    import numpy as np
    from PIL import Image
    from imageprism.io.images import prepare

    def kib(field):
        return int(re.search(field + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])

    def files(side):
        images = {
            "LA": Image.new("LA", (side, side), (40, 128)),
            "PA": Image.new("PA", (side, side), (1, 128)),
            "RGBA": Image.new("RGBA", (side, side), (1, 2, 3, 128)),
            "I;16": Image.fromarray(np.full((side, side), 30000, np.uint16)),
            "I": Image.new("I", (side, side), 30000),
            "F": Image.new("F", (side, side), 0.5),
            "CMYK": Image.new("CMYK", (side, side), (1, 2, 3, 4)),
        }
        out = {}
        for mode, image in images.items():
            buffer = io.BytesIO()
            image.save(buffer, "PNG" if mode in ("LA", "RGBA", "I;16") else "TIFF")
            out[mode] = buffer.getvalue()
        return out

    for data in files(8).values():  # run every code path once, on small images
        prepare(data).rgb()
    for mode, data in files(SIDE).items():
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM)
        before = kib("VmRSS")
        prepare(data).rgb()
        print(mode, len(data), (kib("VmHWM") - before) * 1024)
    """
)
SIDE = 1000


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_decode_peak_memory_is_about_16_bytes_a_pixel_and_under_10_with_alpha() -> None:
    """The pixel limit bounds the memory of a decode (the module docstring's promise)."""
    run = subprocess.run(
        [sys.executable, "-c", f"SIDE = {SIDE}\n{DECODE_MEMORY_SCRIPT}"],
        # Large blocks straight from mmap: freed memory leaves the resident set, so
        # each decode's peak is its own, not hidden by what the previous one freed.
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    pixels = SIDE * SIDE
    lines = run.stdout.splitlines()
    assert len(lines) == 7, run.stdout
    for line in lines:
        mode, encoded, grown = line.split()
        # 16 bytes a pixel, the encoded bytes twice (libtiff reads a copy), some slack.
        assert int(grown) <= 16 * pixels + 2 * int(encoded) + 8 * 2**20, line
        if mode in ("LA", "PA", "RGBA"):
            # Alpha is flattened band by band: the decode and the RGB result (4 bytes a
            # pixel each in Pillow) at the peak, not three full-size RGBA copies.
            assert int(grown) <= 10 * pixels + 2 * int(encoded) + 2**20, line


# ---------------------------------------------------------------- the batch contract


@pytest.mark.parametrize(("batch_size", "threads"), [(32, 1), (5, 2)])
def test_embed_many_gives_one_entry_per_case_in_order(batch_size: int, threads: int) -> None:
    prism = ImagePrism(batch_size=batch_size, threads=threads, cache_size=0)
    batch = prism.embed_many([case.path for case in CORPUS])
    assert batch.sources == [str(case.path) for case in CORPUS]
    assert len(batch.embeddings) == len(CORPUS)
    for case, embedding in zip(CORPUS, batch.embeddings, strict=True):
        if case.expectation == "loads":
            assert embedding is not None and embedding["hash"] is not None, case.name
        else:
            assert embedding is None, case.name
    refused = [(index, str(case.path)) for index, case in enumerate(CORPUS) if case in REFUSED]
    assert [(failure.index, failure.source) for failure in batch.errors] == refused
    for failure in batch.errors:
        case = CORPUS[failure.index]
        assert failure.reason.strip()
        assert case.reason is None or case.reason in failure.reason, (case.name, failure.reason)


# ---------------------------------------------------------------- HEIC and AVIF plugins


def _unregister(monkeypatch: pytest.MonkeyPatch, pillow_id: str, module: str) -> None:
    """Make as if ``module`` were not installed and Pillow had no ``pillow_id`` plugin."""
    Image.init()  # so that no plugin registers itself later, during the test
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    monkeypatch.setattr(images, "_plugins_ready", {})
    monkeypatch.delitem(Image.OPEN, pillow_id, raising=False)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != pillow_id])


def _heic() -> bytes:
    case = BY_NAME.get("heic_real") or BY_NAME["heic_broken"]
    return case.path.read_bytes()


def test_heic_without_pillow_heif_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _unregister(monkeypatch, "HEIF", "pillow_heif")
    with pytest.raises(ImageLoadError, match="HEIC needs pillow-heif: pip install pillow-heif"):
        prepare(_heic())


def test_avif_without_a_plugin_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _unregister(monkeypatch, "AVIF", "pillow_avif")
    monkeypatch.setattr(features, "check_module", lambda name: False)
    data = (BY_NAME.get("avif_real") or BY_NAME["avif_broken"]).path.read_bytes()
    with pytest.raises(ImageLoadError, match="AVIF needs .* pip install pillow-avif-plugin"):
        prepare(data)


def test_heic_loads_once_pillow_heif_is_installed_without_registering_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pillow_heif")
    assert "heic_real" in BY_NAME
    monkeypatch.setattr(images, "_plugins_ready", {})
    monkeypatch.delitem(Image.OPEN, "HEIF", raising=False)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    prepared = prepare(_heic())
    assert prepared.format == "HEIF"
    assert prepared.array().shape == (8, 16, 3)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heix", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "AVIF"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", "AVIF"),
        (b"\x00\x00\x00\x14ftypisom\x00\x00\x00\x00mp41", None),  # an MP4 video
        (b"\x89PNG\r\n\x1a\n", None),
        (b"", None),
    ],
)
def test_plugin_formats_are_recognised_by_their_brands(head: bytes, kind: str | None) -> None:
    assert images._plugin_format(head + bytes(16)) == kind


# ---------------------------------------------------------------- PIL images of every mode

EVERY_MODE = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"]
EVERY_MODE += ["LAB", "HSV", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"]


@pytest.mark.parametrize("mode", EVERY_MODE)
def test_pil_image_of_every_mode_becomes_rgb(mode: str) -> None:
    try:
        image = Image.new(mode, (5, 3))
    except ValueError:
        pytest.skip(f"this Pillow has no mode {mode}")
    prepared = prepare(image)
    assert prepared.rgb().mode == "RGB"
    assert prepared.array().shape == (3, 5, 3)


def test_size_and_pixels_agree_when_png_and_pillow_disagree_on_exif() -> None:
    """Several eXIf chunks: one orientation decides both the size and the pixels."""
    for name in ("png_exif_before_1_after_6", "png_exif_before_6_after_1"):
        prepared = prepare(BY_NAME[name].path)
        assert prepared.rgb().size == prepared.size == BY_NAME[name].size


# ---------------------------------------------------------------- fuzzing

MAX_PIXELS = 200_000


def _fuzz_bases() -> dict[str, bytes]:
    image = noise(24, 16)
    exif = Image.Exif()
    exif[0x0112] = 6
    bases = {
        "png": encode(image, "PNG"),
        "png_palette_trns": encode(image.convert("P"), "PNG", transparency=3),
        "png_16bit": encode(Image.fromarray(np.full((16, 24), 40000, np.uint16)), "PNG"),
        "png_exif": encode(image, "PNG", exif=exif),
        "apng": encode(image, "PNG", save_all=True, append_images=[image.rotate(90)]),
        "jpeg": encode(image, "JPEG", quality=90, exif=exif),
        "jpeg_progressive": encode(image, "JPEG", progressive=True),
        "jpeg_cmyk": encode(image.convert("CMYK"), "JPEG"),
        "gif": encode(image.convert("P"), "GIF"),
        "gif_animated": encode(image, "GIF", save_all=True, append_images=[image.rotate(90)]),
        "tiff": encode(image, "TIFF"),
        "tiff_lzw": encode(image, "TIFF", compression="tiff_lzw"),
        "tiff_deflate_16bit": encode(
            Image.fromarray(np.full((16, 24), 40000, np.uint16)),
            "TIFF",
            compression="tiff_adobe_deflate",
        ),
        "tiff_multipage": encode(image, "TIFF", save_all=True, append_images=[image.convert("L")]),
        "tiff_orientation": encode(image, "TIFF", tiffinfo={0x0112: 6}),
        "bmp": encode(image, "BMP"),
    }
    if features.check("webp"):
        bases["webp"] = encode(image, "WEBP", lossless=True)
    return bases


FUZZ_BASES = _fuzz_bases()
_INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A valid file with a few multi-byte edits: flips, overwrites, inserts, cuts, repeats."""
    data = bytearray(FUZZ_BASES[draw(st.sampled_from(sorted(FUZZ_BASES)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        # Hypothesis favours small integers; scattering them spreads the edits over the
        # whole file instead of mostly its signature (which only gives "not an image").
        at = draw(st.integers(0, len(data) - 1)) * 7919 % len(data)
        edit = draw(st.sampled_from(["flip", "bytes", "number", "insert", "delete", "repeat"]))
        if edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "bytes":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
        elif edit == "number":  # a size, count, offset or length field set to an extreme
            width, order = draw(st.sampled_from([(2, ">"), (2, "<"), (4, ">"), (4, "<")]))
            value = draw(st.sampled_from(_INTERESTING)) & ((1 << (8 * width)) - 1)
            data[at : at + width] = struct.pack(order + ("H" if width == 2 else "I"), value)
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:  # a stretch of the file twice: duplicated chunks, markers, IFD entries
            stretch = bytes(data[at : at + draw(st.integers(1, 200))])
            data[at:at] = stretch
    if draw(st.integers(0, 3)) == 0:
        data = data[: len(data) - draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def files_with_png_chunks_repeated(draw: st.DrawFn) -> bytes:
    """A PNG with whole chunks (valid CRCs) repeated or moved: IHDR twice, IDAT after IEND..."""
    data = FUZZ_BASES[draw(st.sampled_from(["png", "png_palette_trns", "png_exif", "apng"]))]
    chunks = []
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    pool = [*chunks, png_chunk(b"eXIf", exif_orientation(6)[6:])]
    order = draw(st.lists(st.sampled_from(range(len(pool))), min_size=1, max_size=12))
    return data[:8] + b"".join(pool[i] for i in order)


def _check_contract(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about much of what it reads here
            prepared = prepare(data, max_pixels=MAX_PIXELS)
            full = prepared.rgb()
            small = prepared.rgb(min_side=4)
    except ImageLoadError as err:
        assert err.source == f"<bytes: {len(data)} bytes>"
        assert err.reason.strip()
        return
    width, height = prepared.size
    assert width * height <= MAX_PIXELS  # so its decode stayed within the memory bound
    assert max(width, height) <= images.DEFAULT_MAX_ASPECT_RATIO * min(width, height)
    assert full.mode == small.mode == "RGB"
    assert full.size == prepared.size
    assert min(small.size) >= min(4, width, height)
    pixels = prepared.array()
    assert pixels.dtype == np.uint8 and pixels.shape == (height, width, 3)


FUZZ = settings(
    max_examples=600,
    deadline=None,  # no timing: memory is what is bounded (asserted below)
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _peak_memory_growth(action: Callable[[], object]) -> int:
    """How much the process's peak resident memory grew while ``action`` ran."""
    grown = _peak_rss_growth(action)
    if grown is not None:
        return grown
    resource = pytest.importorskip("resource")  # elsewhere: the peak since the process began
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, kB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    action()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * scale


@FUZZ
@given(mutated_files())
def _fuzz_mutated_files(data: bytes) -> None:
    _check_contract(data)


@settings(FUZZ, max_examples=200)
@given(files_with_png_chunks_repeated())
def _fuzz_png_chunks(data: bytes) -> None:
    _check_contract(data)


def test_mutated_files_load_or_raise_load_error_only_in_bounded_memory() -> None:
    assert _peak_memory_growth(_fuzz_mutated_files) < 200 * 2**20  # over all the examples


def test_pngs_with_chunks_repeated_or_moved_load_or_raise_load_error_only() -> None:
    assert _peak_memory_growth(_fuzz_png_chunks) < 200 * 2**20


# ---------------------------------------------------------------- bounded memory: thin images


@pytest.mark.parametrize(
    "name", ["thin_png_1x20000", "thin_png_20000x1", "thin_png_1x5000", "thin_blp_1x83886338_rgba"]
)
def test_thin_image_is_refused_from_its_header_naming_the_file_and_ratio(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = BY_NAME[name]
    allocations: list[object] = []
    monkeypatch.setattr(Image, "_getdecoder", lambda *a, **k: allocations.append(a))
    monkeypatch.setattr(Image.core, "new", lambda *a, **k: allocations.append(a))
    with pytest.raises(ImageLoadError) as caught:
        prepare(case.path).rgb()
    assert caught.value.source == str(case.path)
    long, short = max(case_size := _declared(case.path)), min(case_size)
    assert f"1:{long // short}" in caught.value.reason
    assert "max_aspect_ratio" in caught.value.reason
    assert allocations == []  # refused from the header: no decoder, no pixels


def _declared(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_aspect_limit_is_configurable_and_the_limit_itself_loads() -> None:
    assert prepare(BY_NAME["thin_png_1x1000"].path).size == (1, 1000)
    assert prepare(BY_NAME["thin_png_1x5000"].path, max_aspect_ratio=5000).size == (1, 5000)
    with pytest.raises(ImageLoadError, match="1:1000"):
        prepare(BY_NAME["thin_png_1x1000"].path, max_aspect_ratio=999)
    with pytest.raises(ImageLoadError, match="aspect ratio"):
        prepare(np.zeros((1, 2000, 3), np.uint8))
    prism = ImagePrism(max_aspect_ratio=5000, cache_size=0)
    batch = prism.embed_many([BY_NAME["thin_png_1x5000"].path, BY_NAME["thin_png_1x20000"].path])
    assert batch.embeddings[0] is not None
    assert [failure.index for failure in batch.errors] == [1]
    assert "1:20000" in batch.errors[0].reason


def _resized_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    original = Image.Image.resize

    def resize(self, size, *args, **kwargs):
        sizes.append(tuple(size))
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", resize)
    return sizes


@pytest.mark.parametrize("size", [(1, 1000), (1000, 1), (3, 3000), (200, 900), (640, 480)])
def test_recipe_never_resizes_an_image_beyond_four_times_its_input(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thin strip has only its crop resampled: never a 256x256000 intermediate."""
    from imageprism.runtime.recipe import Recipe

    recipe = Recipe(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    resized = _resized_sizes(monkeypatch)
    tensor = recipe.tensor(Image.new("RGB", size, RED))
    assert tensor.shape == (3, 224, 224)
    assert resized and all(width * height <= 4 * 256 * 256 for width, height in resized)
    if max(size) > 4 * min(size):  # beyond 4:1, only the crop's region
        assert resized == [(224, 224)]
    # A flat colour stays that colour: the region is inside the image.
    assert np.allclose(tensor[0], (1.0 - 0.5) / 0.5, atol=1e-6)


@pytest.mark.parametrize(("resize", "crop"), [(224, 224), (256, 224)])
@pytest.mark.parametrize("size", [(97, 61), (640, 480), (480, 640), (300, 300)])
def test_recipe_crop_first_gives_the_pixels_of_resize_then_crop(
    resize: int, crop: int, size: tuple[int, int]
) -> None:
    """The region resampled alone, with its surroundings read, as the whole image would be."""
    from imageprism.runtime.recipe import center_crop, crop_box, resize_shortest

    image = noise(*size, seed=size[0])
    old = np.asarray(center_crop(resize_shortest(image, resize), crop), dtype=np.int16)
    box = crop_box(size, resize, crop)
    new = np.asarray(image.resize((crop, crop), Image.Resampling.BICUBIC, box=box), np.int16)
    assert np.abs(old - new).max() <= 1  # rounding only


# ---------------------------------------------------------------- decodes released


def test_prepared_images_in_a_batch_do_not_keep_their_full_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While each image is embedded, no other image of the batch holds more than a small scale."""
    from fakes import registry_with

    registry, _ = registry_with("colour")
    made: list[images.PreparedImage] = []
    original_init = images.PreparedImage.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(images.PreparedImage, "__init__", init)
    side = 1200
    files = [encode(Image.new("RGB", (side, side), (i * 30, 0, 0)), "PNG") for i in range(6)]
    held: list[int] = []
    prism = ImagePrism(["hash", "colour"], registry=registry, threads=1, cache_size=0)
    colour = prism.dimension("colour")
    embed = colour.embed_batch

    def watching(batch):
        for image in batch:
            image.rgb(min_side=8)
            held.append(max(w * h for p in made for w, h in (s.size for s in p._scales.values())))
        return embed(batch)

    colour.embed_batch = watching  # type: ignore[method-assign]
    batch = prism.embed_many(files)
    assert batch.errors == [] and len(made) == len(files)
    # Scale 8 (150x150) is the largest any image keeps; never the 1200x1200 decode.
    assert held and max(held) <= (side // 8) ** 2
    assert all(not p._scales for p in made)  # released once the batch was embedded


def test_batch_is_cut_so_the_images_in_flight_stay_within_the_memory_budget() -> None:
    from fakes import registry_with

    registry, _ = registry_with("colour")
    files = [encode(noise(200, 150, seed=i), "PNG") for i in range(12)]
    footprint = prepare(files[0]).footprint
    budget = 3 * footprint + footprint // 2  # room for 3 images at a time
    prism = ImagePrism(["colour"], registry=registry, batch_memory=budget, threads=1, cache_size=0)
    calls: list[int] = []
    colour = prism.dimension("colour")
    embed = colour.embed_batch

    def counting(batch):
        assert sum(image.footprint for image in batch) <= budget
        calls.append(len(batch))
        return embed(batch)

    colour.embed_batch = counting  # type: ignore[method-assign]
    result = prism.embed_many(files)
    assert result.errors == [] and all(e is not None for e in result.embeddings)
    assert calls == [3, 3, 3, 3]
    # An image over the budget by itself is embedded alone, not refused.
    alone: list[int] = []
    small = ImagePrism(["colour"], registry=registry, batch_memory=1, threads=1, cache_size=0)
    colour = small.dimension("colour")
    colour.embed_batch = lambda batch, embed=colour.embed_batch: (
        alone.append(len(batch)) or embed(batch)
    )  # type: ignore[method-assign]
    assert small.embed_many(files[:3]).errors == []
    assert alone == [1, 1, 1]


def test_batch_memory_comes_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imageprism.environment import BATCH_MEMORY
    from imageprism.errors import ConfigError
    from imageprism.prism import DEFAULT_BATCH_MEMORY

    monkeypatch.delenv(BATCH_MEMORY, raising=False)
    assert ImagePrism().batch_memory == DEFAULT_BATCH_MEMORY == 512 * 2**20
    for text, expected in [("1G", 2**30), ("64M", 64 * 2**20), ("1000", 1000), ("2GiB", 2**31)]:
        monkeypatch.setenv(BATCH_MEMORY, text)
        assert ImagePrism().batch_memory == expected
    assert ImagePrism(batch_memory=123).batch_memory == 123  # the argument wins
    for bad in ["lots", "-5M", "0", "1T"]:
        monkeypatch.setenv(BATCH_MEMORY, bad)
        with pytest.raises(ConfigError, match=BATCH_MEMORY):
            ImagePrism()
    with pytest.raises(ConfigError, match="batch_memory"):
        ImagePrism(batch_memory=0)


# ---------------------------------------------------------------- files read into memory


@pytest.fixture(scope="module")
def special(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hostile_corpus import special_files

    return special_files(tmp_path_factory.mktemp("special"))


def _opened_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    original = os.open

    def watching(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching)
    return opened


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("fifo", "FIFO"),
        ("socket", "socket"),
        ("device_link", "character device"),
        ("dev_zero", "character device"),
    ],
)
def test_non_regular_file_is_refused_before_it_is_opened(
    name: str, reason: str, special: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = special[name]
    opened = _opened_paths(monkeypatch)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            prepare(path)
        except BaseException as err:
            outcome.append(err)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive() and name == "fifo":  # a regression: unblock the reader, then fail
        with open(path, "wb"):
            pass
    assert not worker.is_alive(), f"prepare({path}) hung"
    assert len(outcome) == 1 and isinstance(outcome[0], ImageLoadError), outcome
    assert outcome[0].source == str(path)
    assert reason in outcome[0].reason and "not a regular file" in outcome[0].reason
    assert opened == []


def test_file_over_max_file_bytes_fails_its_item_and_the_batch_keeps_the_good_ones(
    special: dict[str, Path],
) -> None:
    sparse = special["sparse_3gb"]
    good = BY_NAME["png_1x1"].path
    with pytest.raises(ImageLoadError, match="max_file_bytes") as caught:
        prepare(sparse)
    assert caught.value.source == str(sparse) and str(3 * 2**30) in caught.value.reason
    batch = ImagePrism(cache_size=0).embed_many([sparse, good, special["fifo"]])
    assert [failure.index for failure in batch.errors] == [0, 2]
    assert batch.embeddings[1] is not None
    prism = ImagePrism(max_file_bytes=100, cache_size=0)
    assert [f.index for f in prism.embed_many([BY_NAME["gif_1000_frames"].path]).errors] == [0]


def test_bytes_and_file_objects_over_max_file_bytes_are_refused() -> None:
    data = encode(noise(64, 64), "PNG")
    assert prepare(data, max_file_bytes=len(data)).size == (64, 64)
    with pytest.raises(ImageLoadError, match="max_file_bytes"):
        prepare(data, max_file_bytes=len(data) - 1)
    with pytest.raises(ImageLoadError, match="max_file_bytes"):
        prepare(io.BytesIO(data), max_file_bytes=len(data) - 1)
    assert prepare(io.BytesIO(data), max_file_bytes=len(data)).size == (64, 64)


def test_reading_a_file_never_allocates_the_whole_limit_at_once() -> None:
    """``read(limit + 1)`` on a real file would allocate the limit: 256 MiB for any file."""
    path = BY_NAME["png_1x1"].path
    tracemalloc.start()
    try:
        prepare(path)
        with path.open("rb") as file:
            prepare(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


@pytest.mark.parametrize(("name", "reason"), [("fifo", "FIFO"), ("dev_zero", "device")])
def test_video_reader_refuses_a_non_regular_file_before_opening_it(
    name: str, reason: str, special: dict[str, Path]
) -> None:
    from imageprism.io.video import sample_frames

    outcome: list[BaseException] = []

    def read() -> None:
        try:
            next(iter(sample_frames(special[name])))
        except BaseException as err:
            outcome.append(err)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive() and name == "fifo":  # a regression: unblock the reader, then fail
        with open(special[name], "wb"):
            pass
    assert not worker.is_alive(), "sample_frames hung"
    assert len(outcome) == 1 and isinstance(outcome[0], ImageLoadError), outcome
    assert reason in outcome[0].reason and "not a regular file" in outcome[0].reason


def test_read_image_bytes_applies_the_loader_file_checks(special: dict[str, Path]) -> None:
    path = BY_NAME["png_1x1"].path
    assert images.read_image_bytes(path) == path.read_bytes()
    with pytest.raises(ImageLoadError, match="max_file_bytes"):
        images.read_image_bytes(path, max_file_bytes=10)
    with pytest.raises(ImageLoadError, match="FIFO"):
        images.read_image_bytes(special["fifo"])
