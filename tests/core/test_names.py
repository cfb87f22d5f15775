"""display_name: file names printed safely (issue 22 item 5)."""

from __future__ import annotations

import os
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from imageprism.io.names import display_name


def test_newlines_and_escape_sequences_are_escaped() -> None:
    assert display_name("c.jpg\n  delete thesis.pdf") == "c.jpg\\n  delete thesis.pdf"
    assert display_name("a\x1b[2Jb.jpg") == "a\\x1b[2Jb.jpg"
    assert display_name("tab\there\r.png") == "tab\\there\\r.png"


def test_undecodable_bytes_show_as_hex() -> None:
    name = os.fsdecode(b"IMG_\xff\xfe copy.jpg")
    assert display_name(name) == "IMG_\\xff\\xfe copy.jpg"
    assert display_name(b"IMG_\xff.jpg") == "IMG_\\xff.jpg"


def test_letters_of_any_script_are_kept() -> None:
    assert display_name("photos/été/東京 2024.jpg") == "photos/été/東京 2024.jpg"


def test_bidi_override_and_c1_controls_are_escaped() -> None:
    assert display_name("gpj.\u202eexe") == "gpj.\\u202eexe"
    assert display_name("a\x85b") == "a\\u0085b"


def test_a_backslash_is_doubled() -> None:
    assert display_name("C:\\x1b") == "C:\\\\x1b"


def test_paths_are_accepted() -> None:
    from pathlib import Path

    assert display_name(Path("lib") / "a\nb.jpg") == "lib/a\\nb.jpg"


_NAMES = st.text(st.characters(codec=None), max_size=30) | st.binary(max_size=30).map(os.fsdecode)


@given(_NAMES)
def test_display_name_prints_no_control_or_format_character(name: str) -> None:
    shown = display_name(name)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in shown), shown
    shown.encode("utf-8")  # never a lone surrogate


@given(_NAMES, _NAMES)
def test_different_names_print_differently(a: str, b: str) -> None:
    if a != b:
        assert display_name(a) != display_name(b)
