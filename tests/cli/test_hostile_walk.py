"""The folder walk against a hostile library (issue 22 items 2 and 5): links stay inside the
folders the user gave, special files (FIFOs, sockets, devices) are never opened, and a
property test over generated trees holds both whatever the names and links."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imageprism.cli import main
from imageprism.io.folders import Skipped, find_images

_TIMEOUT = 20.0  # seconds: far more than any of these needs; only a hang reaches it

pytestmark = [
    pytest.mark.machine_dependent_skip,
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and links need a POSIX system"),
]


def _write_image(path: Path, colour: tuple[int, int, int] = (200, 80, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path, format="JPEG")
    return path


def _in_time(call: Callable[[], Any], unblock: Path | None = None) -> Any:
    """``call()``'s result; fails (instead of hanging the suite) when it takes too long.

    When it hangs, the FIFO ``unblock`` is opened for writing, which releases a reader
    blocked on it, so the worker thread ends too.
    """
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = call()
        except BaseException as err:  # handed to the test's thread below
            result["error"] = err

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(_TIMEOUT)
    if worker.is_alive():
        if unblock is not None:
            with contextlib.suppress(OSError):
                os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still running after {_TIMEOUT:.0f} s: blocked on a special file?")
    if "error" in result:
        raise result["error"]
    return result.get("value")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a UNIX socket's path must fit in about 100 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="ip-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path ``os.open`` is called with (the walk opens files with it only)."""
    paths: list[str] = []
    real_os_open = os.open

    def recording_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        paths.append(os.fsdecode(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_os_open)
    return paths


# Links ------------------------------------------------------------------------------------


def test_a_folder_link_leading_out_of_the_library_is_skipped_with_reason(tmp_path):
    # The case of the issue: lib/ext -> ../outside, outside/photo_outside.jpg.
    inside = _write_image(tmp_path / "lib" / "a.jpg")
    _write_image(tmp_path / "outside" / "photo_outside.jpg")
    (tmp_path / "lib" / "ext").symlink_to("../outside")
    images, skipped = find_images([tmp_path / "lib"])
    assert images == [str(inside)]
    assert skipped == [
        Skipped(
            str(tmp_path / "lib" / "ext"),
            f"link leads outside the library: {os.path.realpath(tmp_path / 'outside')}",
        )
    ]


def test_dedup_delete_never_deletes_a_file_reached_through_a_link_out_of_the_library(
    tmp_path, capsys
):
    lib = tmp_path / "lib"
    outside = _write_image(tmp_path / "outside" / "photo_outside.jpg")
    lib.mkdir()
    shutil.copyfile(outside, lib / "a.jpg")  # the same photo: the old walk grouped the two
    (lib / "ext").symlink_to("../outside")
    code = main(
        [
            "dedup",
            str(lib),
            "--action",
            "delete",
            "--yes-delete",
            "--to",
            str(tmp_path / "log"),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert outside.exists() and (lib / "a.jpg").exists()
    assert code == 1  # the link is listed as skipped
    data = json.loads(out)
    assert data["sources"] == [str(lib / "a.jpg")]
    assert data["skipped"][0]["path"] == str(lib / "ext")
    assert "link leads outside the library" in err


def test_a_file_link_leading_out_is_skipped_and_one_staying_inside_is_followed(tmp_path):
    lib = tmp_path / "lib"
    kept = _write_image(lib / "2024" / "a.jpg")
    secret = _write_image(tmp_path / "secret.jpg")
    (lib / "b.jpg").symlink_to(kept)  # absolute, inside
    (lib / "c.jpg").symlink_to(secret)  # absolute, outside
    (lib / "d.jpg").symlink_to("../secret.jpg")  # relative, outside
    (lib / "2024" / "e.jpg").symlink_to("../b.jpg")  # a link to a link inside
    (lib / "f.jpg").symlink_to("c.jpg")  # a link inside to a link leading out
    images, skipped = find_images([lib])
    assert images == [str(kept), str(lib / "2024" / "e.jpg"), str(lib / "b.jpg")]
    leads_out = f"link leads outside the library: {os.path.realpath(secret)}"
    assert skipped == [
        Skipped(str(lib / "c.jpg"), leads_out),
        Skipped(str(lib / "d.jpg"), leads_out),
        Skipped(str(lib / "f.jpg"), leads_out),
    ]


def test_a_link_into_another_given_folder_or_file_stays_inside(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    other = _write_image(tmp_path / "other" / "x.jpg").parent
    single = _write_image(tmp_path / "single.jpg")
    (lib / "o").symlink_to(other)
    (lib / "s.jpg").symlink_to(single)
    images, skipped = find_images([lib, other, single])
    assert skipped == []
    assert images == [str(lib / "o" / "x.jpg"), str(lib / "s.jpg"), str(single)]


def test_paths_given_explicitly_are_the_users_even_when_they_are_links(tmp_path):
    real = tmp_path / "real"
    inside = _write_image(real / "a.jpg")
    elsewhere = _write_image(tmp_path / "elsewhere.jpg")
    (tmp_path / "lib").symlink_to(real)
    (tmp_path / "photo.jpg").symlink_to(elsewhere)
    (real / "again").symlink_to(real)  # inside the resolved root: a loop, not a way out
    images, skipped = find_images([tmp_path / "lib", tmp_path / "photo.jpg"])
    assert skipped == []
    assert images == [str(tmp_path / "lib" / "a.jpg"), str(tmp_path / "photo.jpg")]
    assert os.path.realpath(images[0]) == os.path.realpath(inside)


def test_a_link_to_a_sibling_whose_name_only_starts_like_the_library_leads_out(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    _write_image(tmp_path / "lib-private" / "x.jpg")
    (lib / "p").symlink_to("../lib-private")
    images, skipped = find_images([lib])
    assert images == []
    assert [s.reason.split(":")[0] for s in skipped] == ["link leads outside the library"]


# Special files ----------------------------------------------------------------------------


def test_a_fifo_given_explicitly_is_skipped_without_being_opened(tmp_path, opened):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    good = _write_image(tmp_path / "good.jpg")
    images, skipped = _in_time(lambda: find_images([fifo, good]), unblock=fifo)
    assert images == [str(good)]
    assert skipped == [Skipped(str(fifo), "not a regular file (FIFO)")]
    assert str(fifo) not in opened


def test_a_socket_given_explicitly_is_skipped(short_dir, opened):
    path = short_dir / "s.jpg"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        images, skipped = _in_time(lambda: find_images([path]))
    assert images == []
    assert skipped == [Skipped(str(path), "not a regular file (socket)")]
    assert str(path) not in opened


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_dev_zero_given_explicitly_or_through_a_link_is_skipped(tmp_path, opened):
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    images, skipped = _in_time(lambda: find_images(["/dev/zero", tmp_path / "zero.jpg"]))
    assert images == []
    assert skipped == [
        Skipped("/dev/zero", "not a regular file (character device)"),
        Skipped(str(tmp_path / "zero.jpg"), "not a regular file (character device)"),
    ]
    assert not [path for path in opened if "zero" in path]


def test_special_files_inside_folders_are_ignored_without_being_opened(short_dir, opened):
    lib = short_dir / "lib"
    good = _write_image(lib / "good.jpg")
    os.mkfifo(lib / "fifo.jpg")
    os.mkfifo(lib / "fifo-no-extension")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(lib / "s.png"))
        images, skipped = _in_time(lambda: find_images([lib]), unblock=lib / "fifo.jpg")
    assert images == [str(good)]
    assert skipped == []
    assert opened == [str(good)]


def test_a_file_swapped_for_a_fifo_after_listing_is_ignored_without_blocking(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    good = _write_image(lib / "a.jpg")
    swapped = _write_image(lib / "b.jpg")
    real_open = os.open

    def swapping_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fsdecode(path) == str(swapped) and not stat.S_ISFIFO(os.lstat(swapped).st_mode):
            swapped.unlink()
            os.mkfifo(swapped)  # between the stat of the listing and the open
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", swapping_open)
    images, skipped = _in_time(lambda: find_images([lib]), unblock=swapped)
    assert images == [str(good)]
    assert skipped == []


def test_the_command_line_skips_a_fifo_instead_of_hanging(tmp_path, capsys):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    good = _write_image(tmp_path / "good.jpg")
    code = _in_time(lambda: main(["embed", str(fifo), str(good), "--json"]), unblock=fifo)
    out, err = capsys.readouterr()
    assert code == 1
    data = json.loads(out)
    assert data["sources"] == [str(good)] and data["errors"] == []
    assert data["skipped"] == [{"path": str(fifo), "reason": "not a regular file (FIFO)"}]
    assert f"skipped {fifo}: not a regular file (FIFO)" in err


# The property test ------------------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "a",
        "b.jpg",
        "é",
        "x y.png",
        "line\nbreak.jpg",
        "\x1b[31mred.jpg",
        ".hidden",
        "z.txt",
        os.fsdecode(b"IMG_\xff\xfe.jpg"),
    ]
)
_PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)  # the walk sniffs; nothing here decodes images
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["folder", "image", "text", "link", "relative link", "fifo", "broken"]),
        st.integers(min_value=0, max_value=10_000),  # the parent, among the folders made so far
        _NAMES,
        st.integers(min_value=0, max_value=10_000),  # a link's target, among everything made
    ),
    max_size=25,
)


def _build(top: Path, steps: list[tuple[str, int, str, int]]) -> tuple[Path, Path]:
    """A library and an outside folder under ``top``, filled by ``steps``; returns both."""
    lib, outside = top / "lib", top / "outside"
    lib.mkdir()
    outside.mkdir()
    folders = [lib, outside]
    made: list[Path] = [lib, outside]
    for kind, parent, name, target in steps:
        path = folders[parent % len(folders)] / name
        if os.path.lexists(path):
            continue
        if kind == "folder":
            path.mkdir()
            folders.append(path)
        elif kind == "image":
            path.write_bytes(_PNG)
        elif kind == "text":
            path.write_bytes(b"notes\n")
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "broken":
            path.symlink_to(top / "gone")
        else:
            to = made[target % len(made)]
            if kind == "relative link":  # from where the link really is: its folder may be one
                path.symlink_to(
                    os.path.relpath(os.path.realpath(to), os.path.realpath(path.parent))
                )
            else:
                path.symlink_to(to)
            if to.is_dir():
                folders.append(path)
        made.append(path)
    return lib, outside


def _images_in(lib: Path) -> set[str]:
    """The real paths of the image files under ``lib`` reachable without a link or hidden name."""
    out = set()
    for folder, names, files in os.walk(lib):  # os.walk follows no links by default
        names[:] = [n for n in names if not n.startswith(".")]
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith(".") or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            if Path(path).read_bytes()[:8] == _PNG[:8] or name.endswith((".jpg", ".png")):
                out.add(os.path.realpath(path))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STEPS)
def test_the_walk_of_any_tree_stays_inside_the_roots_and_finds_every_image(steps):
    with tempfile.TemporaryDirectory(prefix="ip-walk-") as top:
        lib, _ = _build(Path(top), steps)
        fifos = [p for p in Path(top).rglob("*") if p.is_fifo()]

        def walk() -> tuple[list[str], list[Skipped]]:
            return find_images([lib])

        try:
            images, skipped = _in_time(walk)
        finally:
            for fifo in fifos:  # release any reader a regression left blocked
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        root = os.path.realpath(lib) + os.sep
        resolved = {os.path.realpath(path) for path in images}
        assert all((path + os.sep).startswith(root) for path in resolved)
        assert all(os.path.isfile(path) for path in images)
        assert _images_in(lib) <= resolved
        assert len(images) == len(set(images))
        assert all(isinstance(item, Skipped) for item in skipped)


def test_a_given_name_holding_a_nul_byte_is_skipped_not_raised(tmp_path):
    good = _write_image(tmp_path / "a.jpg")
    images, skipped = find_images([str(tmp_path / "x\0.jpg"), good])
    assert images == [str(good)]
    assert skipped == [
        Skipped(str(tmp_path / "x\0.jpg"), "no such file or directory (the name holds a NUL byte)")
    ]
