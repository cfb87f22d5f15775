"""display_name: file names printed safely (issue 22 item 5)."""

from __future__ import annotations

import os
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from imageprism.io.names import display_name, display_text


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


def test_display_text_escapes_a_message_but_keeps_its_backslashes() -> None:
    reason = "link leads outside the library: /x\ny\x1b[2J C:\\photos"
    assert display_text(reason) == "link leads outside the library: /x\\ny\\x1b[2J C:\\photos"


@given(_NAMES)
def test_display_text_prints_one_plain_line_and_changes_safe_text_no_more(text: str) -> None:
    shown = display_text(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in shown), shown
    assert display_text(shown) == shown
    assert display_text(display_name(text)) == display_name(text)
