"""Names printed safely by the command line (issue 22 item 5): a file name holding a newline,
an escape sequence or bytes that are not UTF-8 shows escaped, on one line, in every
human-readable output; ``--json`` keeps it raw."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from imageprism import environment
from imageprism.cli import main

NEWLINE = "c.jpg\n  delete thesis.pdf"
ANSI = "\x1b[31mred.jpg"
UNDECODABLE = os.fsdecode(b"IMG_\xff\xfe.jpg")
SHOWN = {
    NEWLINE: "c.jpg\\n  delete thesis.pdf",
    ANSI: "\\x1b[31mred.jpg",
    UNDECODABLE: "IMG_\\xff\\xfe.jpg",
}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _plain(text: str) -> None:
    """No control character, format character or lone surrogate in ``text`` but newlines."""
    for char in text:
        assert char == "\n" or (ord(char) >= 0x20 and ord(char) != 0x7F), repr(char)
        assert not 0xD800 <= ord(char) <= 0xDFFF, repr(char)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A folder of three photos whose names hold a newline, an ANSI escape, invalid UTF-8."""
    folder = tmp_path / "lib"
    folder.mkdir()
    for shade, name in enumerate(SHOWN):
        Image.new("RGB", (48, 32), (40 + 60 * shade, 90, 200 - 50 * shade)).save(
            folder / name, format="JPEG"
        )
    return folder


def test_embed_prints_each_name_escaped_on_one_line_and_raw_in_json(capsys, hostile):
    code, out, _ = _run(capsys, "embed", str(hostile))
    assert code == 0
    _plain(out)
    lines = out.splitlines()
    assert len(lines) == 3
    for raw, shown in SHOWN.items():
        assert sum(line.startswith(f"{hostile}/{shown}  hash=") for line in lines) == 1, raw
    code, out, _ = _run(capsys, "embed", str(hostile), "--json")
    assert code == 0
    assert sorted(json.loads(out)["sources"]) == sorted(str(hostile / name) for name in SHOWN)


def test_skipped_and_failed_names_print_escaped_on_one_line_each(capsys, hostile):
    (hostile / "bad\n.jpg").write_text("not a jpeg")
    (hostile / "gone\x1b[2J.jpg").symlink_to(hostile / "nowhere.jpg")
    code, out, err = _run(capsys, "embed", str(hostile))
    assert code == 1
    _plain(out + err)
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"imageprism: skipped {hostile}/gone\\x1b[2J.jpg: broken symbolic link"
    assert lines[1].startswith(f"imageprism: cannot use {hostile}/bad\\n.jpg: ")
    code, out, _ = _run(capsys, "embed", str(hostile), "--json")
    data = json.loads(out)
    assert [item["path"] for item in data["skipped"]] == [str(hostile / "gone\x1b[2J.jpg")]
    assert [item["source"] for item in data["errors"]] == [str(hostile / "bad\n.jpg")]


def test_a_link_leading_out_is_reported_escaped(capsys, hostile, tmp_path):
    outside = tmp_path / "out\nside"
    outside.mkdir()
    (hostile / "ext").symlink_to(outside)
    code, _, err = _run(capsys, "embed", str(hostile))
    assert code == 1
    _plain(err)
    assert err.splitlines() == [
        f"imageprism: skipped {hostile}/ext: link leads outside the library: {tmp_path}/out\\nside"
    ]


def test_search_prints_hit_ids_escaped_and_raw_in_json(capsys, hostile, tmp_path):
    embeddings = tmp_path / "lib.npz"
    code, out, _ = _run(capsys, "embed", str(hostile), "-o", str(embeddings))
    assert code == 0
    _plain(out)
    query = str(hostile / UNDECODABLE)
    code, out, _ = _run(capsys, "search", str(embeddings), query, "--k", "3")
    assert code == 0
    _plain(out)
    ids = [line.split("  ", 1)[1] for line in out.splitlines()]
    assert sorted(ids) == sorted(f"{hostile}/{shown}" for shown in SHOWN.values())
    code, out, _ = _run(capsys, "search", str(embeddings), query, "--k", "3", "--json")
    assert sorted(hit["id"] for hit in json.loads(out)) == sorted(
        str(hostile / name) for name in SHOWN
    )


def test_errors_naming_a_file_print_it_escaped_on_one_line(capsys, tmp_path):
    missing = str(tmp_path / NEWLINE)
    code, _, err = _run(capsys, "compare", missing, str(tmp_path / ANSI))
    assert code == 1
    _plain(err)
    assert (
        err == f"imageprism: error: cannot load image {tmp_path}/{SHOWN[NEWLINE]}: no such file\n"
    )
    code, _, err = _run(
        capsys, "embed", str(tmp_path), "-o", str(tmp_path / "x\x1b]0;t\x07" / "a.npz")
    )
    assert code == 2
    _plain(err)
    assert len(err.splitlines()) == 1 and "x\\x1b]0;t\\x07" in err


def test_doctor_prints_a_cache_folder_with_a_newline_escaped(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(environment.CACHE_DIR, str(tmp_path / "cache\nok  fake check"))
    main(["doctor"])
    out = capsys.readouterr().out
    _plain(out)
    assert f"{environment.CACHE_DIR}={tmp_path}/cache\\nok  fake check" in out
    assert not any(line.startswith("ok  fake check") for line in out.splitlines())


def test_dedup_report_shows_names_escaped_and_json_keeps_them_raw(capsys, hostile, tmp_path):
    twin = hostile / os.fsdecode(b"copy \xff\n.jpg")
    twin.write_bytes((hostile / UNDECODABLE).read_bytes())
    report = tmp_path / "report.html"
    store = tmp_path / "store.sqlite"  # keys undecodable paths too
    code, out, _ = _run(
        capsys, "dedup", str(hostile), "--store", str(store), "--report", str(report), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert str(twin) in data["sources"] and str(hostile / UNDECODABLE) in data["sources"]
    page = html.unescape(report.read_text(encoding="utf-8"))
    _plain(page)
    for shown in ["copy \\xff\\n.jpg", *SHOWN.values()]:
        assert shown in page, shown


def test_tables_print_each_cell_escaped_and_aligned(capsys):
    from imageprism.cli._common import print_table

    print_table([("NAME", "STATUS", "NOTE"), ("evil\x1b[2J", "ok\nfake row", "last\x07")])
    out = capsys.readouterr().out
    _plain(out)
    assert out.splitlines() == [
        "NAME" + " " * 9 + "STATUS" + " " * 8 + "NOTE",
        "evil\\x1b[2J  ok\\nfake row  last\\x07",
    ]
