"""Atomic writes: a failed write leaves the old file and no temporary, and names the target."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from imageprism.io.atomic import atomic_write


def test_a_full_disk_names_the_target_and_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "marks.json"
    target.write_text("old")

    def full(temporary: Path) -> None:
        temporary.write_text("new, half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(temporary))

    with pytest.raises(OSError) as caught:
        atomic_write(target, full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "nowhere" / "out.json"
    with pytest.raises(FileNotFoundError) as caught:
        atomic_write(target, lambda temporary: temporary.write_text("x"))
    assert caught.value.filename == str(target)


def test_an_error_about_another_file_keeps_its_own_name(tmp_path):
    source = tmp_path / "missing-source.json"

    def copy(temporary: Path) -> None:
        temporary.write_bytes(source.read_bytes())

    with pytest.raises(FileNotFoundError) as caught:
        atomic_write(tmp_path / "out.json", copy)
    assert caught.value.filename == str(source)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_gives_the_usual_mode_without_ever_setting_the_umask(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:

        def no_umask(mask):
            raise AssertionError(
                "the umask was set: another thread could create a file open to all"
            )

        monkeypatch.setattr(os, "umask", no_umask)
        target = atomic_write(tmp_path / "out.txt", lambda path: path.write_text("x"))
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
