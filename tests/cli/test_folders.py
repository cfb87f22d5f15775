"""find_images: which files of a folder are images, in what order, and what is skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, features

from imageprism.io.folders import Skipped, find_images


def write_image(path: Path, fmt: str = "PNG", **params) -> Path:
    """A small real image saved by Pillow in ``fmt``, whatever the name of ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), (200, 80, 30)).save(path, format=fmt, **params)
    return path


def write_text(path: Path, text: str = "just some notes\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def symlink(link: Path, target: Path) -> None:
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"cannot create symbolic links here: {exc}")


def found(*paths: Path, include_hidden: bool = False) -> list[str]:
    images, skipped = find_images(list(paths), include_hidden=include_hidden)
    assert skipped == []
    return images


def test_content_sniffing_finds_jpeg_named_txt_and_png_without_extension(tmp_path):
    jpeg = write_image(tmp_path / "photo.txt", "JPEG")
    png = write_image(tmp_path / "scan", "PNG")
    assert found(tmp_path) == [str(jpeg), str(png)]


def _heif_writer(fmt: str):
    def write(path: Path) -> None:
        if fmt == "HEIF":
            pillow_heif = pytest.importorskip("pillow_heif")
            pillow_heif.register_heif_opener()
        elif not features.check("avif"):
            pytest.skip("this Pillow cannot write AVIF")
        write_image(path, fmt)

    return write


def _pillow_writer(fmt: str, feature: str | None = None, **params):
    def write(path: Path) -> None:
        if feature and not features.check(feature):
            pytest.skip(f"this Pillow cannot write {fmt}")
        write_image(path, fmt, **params)

    return write


def _raw_writer(head: bytes):
    def write(path: Path) -> None:
        path.write_bytes(head + bytes(64))

    return write


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_pillow_writer("JPEG"), id="jpeg"),
        pytest.param(_pillow_writer("PNG"), id="png"),
        pytest.param(_pillow_writer("GIF"), id="gif"),
        pytest.param(_pillow_writer("BMP"), id="bmp"),
        pytest.param(_pillow_writer("TIFF"), id="tiff-little-endian"),
        pytest.param(_raw_writer(b"MM\x00*\x00\x00\x00\x08"), id="tiff-big-endian"),
        pytest.param(_pillow_writer("WEBP", "webp"), id="webp"),
        pytest.param(_pillow_writer("ICO"), id="ico"),
        pytest.param(_pillow_writer("PPM"), id="ppm"),
        pytest.param(_raw_writer(b"P5\n# Created by GIMP version 2.10.34 PNM plug-in\n"), id="pgm"),
        pytest.param(_raw_writer(b"P1\n16 12\n"), id="pbm"),
        pytest.param(_raw_writer(b"P7\nWIDTH 16\nHEIGHT 12\n"), id="pam"),
        pytest.param(_pillow_writer("JPEG2000", "jpg_2000"), id="jpeg2000"),
        pytest.param(_pillow_writer("JPEG2000", "jpg_2000", no_jp2=True), id="j2k-codestream"),
        pytest.param(_heif_writer("HEIF"), id="heic"),
        pytest.param(_heif_writer("AVIF"), id="avif"),
        pytest.param(_raw_writer(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic"), id="heif"),
        pytest.param(_raw_writer(b"\x00\x00\x00\x1cftypavis\x00\x00\x00\x00avifmsf1"), id="avis"),
    ],
)
def test_each_image_format_is_found_by_content_alone(tmp_path, write):
    path = tmp_path / "no-extension"
    write(path)
    assert len(path.read_bytes()) > 8
    assert found(tmp_path) == [str(path)]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"BM is where the meeting is", id="text-starting-BM"),
        pytest.param(b"P1 meeting notes\n", id="text-starting-P1"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", id="wav"),
        pytest.param(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", id="mp4"),
        pytest.param(b"%PDF-1.7\n", id="pdf"),
        pytest.param(b"\x00\x00\x01\x00\x00\x00", id="ico-with-no-images"),
    ],
)
def test_non_image_content_without_image_extension_is_ignored(tmp_path, content):
    (tmp_path / "data.bin").write_bytes(content)
    assert found(tmp_path) == []


def test_image_extension_with_text_content_is_returned_so_the_loader_reports_it(tmp_path):
    fake = write_text(tmp_path / "fake.JPG", "not a jpeg at all\n")
    tga = write_image(tmp_path / "old.tga", "TGA")  # TGA has no signature: found by name
    empty = tmp_path / "empty.png"
    empty.touch()
    assert found(tmp_path) == [str(empty), str(fake), str(tga)]


def test_text_files_are_ignored_silently(tmp_path):
    write_text(tmp_path / "notes.txt")
    write_text(tmp_path / "sub" / "README.md", "# photos\n")
    image = write_image(tmp_path / "sub" / "a.png")
    assert found(tmp_path) == [str(image)]


def test_hidden_files_and_folders_are_skipped_by_default(tmp_path):
    visible = write_image(tmp_path / "visible.png")
    write_image(tmp_path / ".hidden.png")
    write_image(tmp_path / ".thumbnails" / "visible-name.png")
    assert found(tmp_path) == [str(visible)]


def test_hidden_files_and_folders_are_included_when_asked(tmp_path):
    hidden = write_image(tmp_path / ".hidden.png")
    in_hidden = write_image(tmp_path / ".thumbnails" / "thumb.png")
    visible = write_image(tmp_path / "visible.png")
    assert found(tmp_path, include_hidden=True) == [str(hidden), str(in_hidden), str(visible)]


def test_hidden_paths_given_explicitly_are_used(tmp_path):
    folder = tmp_path / ".cache"
    in_folder = write_image(folder / "a.png")
    hidden_file = write_image(tmp_path / ".b.png")
    assert found(folder, hidden_file) == [str(in_folder), str(hidden_file)]


def test_symlink_loop_terminates_and_returns_each_file_once(tmp_path):
    folder = tmp_path / "dir"
    a = write_image(folder / "a.png")
    b = write_image(folder / "sub" / "b.png")
    symlink(folder / "loop", folder)
    symlink(folder / "sub" / "up", folder)
    assert found(folder) == [str(a), str(b)]


def test_symlinked_folder_inside_the_given_folder_is_followed(tmp_path):
    folder = tmp_path / "photos"
    write_image(folder / ".store" / "x.png")  # hidden: reached through the link only
    symlink(folder / "linked", folder / ".store")
    other = tmp_path / "other"
    write_image(other / "y.png")
    # A link into another given folder stays inside the roots too.
    symlink(folder / "to-other", other)
    assert found(folder, other) == [
        str(folder / "linked" / "x.png"),
        str(folder / "to-other" / "y.png"),
    ]


def test_symlinked_folder_leading_out_of_the_given_folders_is_skipped_with_reason(tmp_path):
    elsewhere = write_image(tmp_path / "elsewhere" / "x.png").parent
    folder = tmp_path / "photos"
    folder.mkdir()
    symlink(folder / "linked", elsewhere)
    images, skipped = find_images([folder])
    assert images == []
    assert skipped == [
        Skipped(str(folder / "linked"), f"link leads outside the library: {elsewhere}")
    ]


def test_folder_given_twice_is_searched_once(tmp_path):
    image = write_image(tmp_path / "a.png")
    assert found(tmp_path, tmp_path) == [str(image)]


def test_missing_path_is_skipped_with_reason_and_others_still_found(tmp_path):
    image = write_image(tmp_path / "a.png")
    missing = tmp_path / "missing"
    images, skipped = find_images([missing, tmp_path])
    assert images == [str(image)]
    assert skipped == [Skipped(str(missing), "no such file or directory")]
    assert skipped[0].to_dict() == {"path": str(missing), "reason": "no such file or directory"}


def test_broken_symlink_in_folder_is_skipped_with_reason(tmp_path):
    image = write_image(tmp_path / "a.png")
    symlink(tmp_path / "b.png", tmp_path / "gone.png")
    images, skipped = find_images([tmp_path])
    assert images == [str(image)]
    assert skipped == [Skipped(str(tmp_path / "b.png"), "broken symbolic link")]


def _reads_are_blocked_by_permissions(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return True
    return False


@pytest.mark.machine_dependent_skip
@pytest.mark.skipif(os.name == "nt", reason="chmod 000 does not block reads on Windows")
def test_unreadable_file_and_folder_are_skipped_with_reason(tmp_path):
    good = write_image(tmp_path / "a.png")
    locked = write_image(tmp_path / "b.png")
    locked_folder = tmp_path / "c"
    write_image(locked_folder / "d.png")
    later = write_image(tmp_path / "e.png")
    locked.chmod(0)
    locked_folder.chmod(0)
    try:
        if not _reads_are_blocked_by_permissions(locked):
            pytest.skip(
                "running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not block reads"
            )
        images, skipped = find_images([tmp_path])
    finally:
        locked.chmod(0o644)
        locked_folder.chmod(0o755)
    assert images == [str(good), str(later)]
    assert skipped == [
        Skipped(str(locked), "permission denied"),
        Skipped(str(locked_folder), "permission denied"),
    ]


def test_file_that_cannot_be_opened_for_sniffing_is_skipped_and_the_rest_processed(
    tmp_path, monkeypatch
):
    # Same as chmod 000, but also under root: opening this one file is refused.
    good = write_image(tmp_path / "a.png")
    locked = write_image(tmp_path / "b.png")
    later = write_image(tmp_path / "c.png")
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    images, skipped = find_images([tmp_path])
    assert images == [str(good), str(later)]
    assert skipped == [Skipped(str(locked), "permission denied")]


def test_explicit_files_are_returned_even_when_not_images(tmp_path):
    notes = write_text(tmp_path / "notes.txt")
    assert found(notes) == [str(notes)]


def test_order_is_sorted_and_follows_the_given_paths_with_folders_expanded_in_place(tmp_path):
    folder = tmp_path / "folder"
    for name in ["b.png", "a.png", "sub/z.png", "sub/y.png", "zz.png", "c.png", "B.png"]:
        write_image(folder / name)
    first = write_text(tmp_path / "first.txt")
    last = write_image(tmp_path / "last.jpg", "JPEG")
    expected = [
        str(first),
        *(str(folder / name) for name in ["B.png", "a.png", "b.png", "c.png"]),
        *(str(folder / "sub" / name) for name in ["y.png", "z.png"]),
        str(folder / "zz.png"),
        str(last),
    ]
    assert found(first, folder, last) == expected
    assert found(first, folder, last) == expected  # the same on every run


def test_accepts_strings_and_path_objects(tmp_path):
    image = write_image(tmp_path / "a.png")
    assert find_images([str(tmp_path)]) == find_images([tmp_path]) == ([str(image)], [])
