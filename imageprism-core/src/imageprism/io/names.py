"""File names as people see them: control characters escaped, undecodable bytes shown.

A file name may hold any byte but ``/`` and NUL: newlines, ANSI escape sequences, bytes
that are not UTF-8 (Python keeps those as lone surrogates, ``os.fsdecode``). Printed raw,
``c.jpg\\n  delete thesis.pdf`` looks like a second line of a plan, and an escape
sequence can rewrite the terminal. ``display_name`` is for every human-readable output
(plans, summaries, errors, report text); ``--json`` output keeps names raw.
``display_text`` is for whole messages that may quote a name somewhere (an error's
reason, a plugin's failure): the same escapes, but a backslash is kept as it is, so a
message whose names were already passed through ``display_name`` prints unchanged.
"""

from __future__ import annotations

import os
import re
import unicodedata

__all__ = ["display_name", "display_text"]

# C0 and C1 controls, DEL, and the format characters that reorder or hide text
# (bidi overrides and isolates, zero-width marks): escaped, never printed.
_FORMAT_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if char == "\\":
        return "\\\\"
    if code < 0x80:  # \x80-\xff are left to undecodable bytes, so no two names print alike
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _needs_escape(char: str) -> bool:
    return (
        char == "\\"
        or 0xD800 <= ord(char) <= 0xDFFF
        or unicodedata.category(char) in _FORMAT_CATEGORIES
    )


_PLAIN = re.compile(r"[ -\[\]-~]*")  # printable ASCII but the backslash: the common case


def display_name(name: str | os.PathLike[str] | bytes) -> str:
    """``name`` safe to print: control, format and undecodable characters escaped.

    Newlines become ``\\n``, ESC ``\\x1b``, a byte that is not UTF-8 ``\\xff``, a
    right-to-left override ``\\u202e``; a backslash is doubled so the result reads back
    without ambiguity. Printable text, including non-ASCII letters, is kept as it is.
    """
    text = os.fsdecode(name) if isinstance(name, bytes | os.PathLike) else str(name)
    if _PLAIN.fullmatch(text):
        return text
    return "".join(_escape(c) if _needs_escape(c) else c for c in text)


def display_text(text: str) -> str:
    """``text``, a message that may quote names, safe to print: controls and the rest escaped.

    As :func:`display_name` (newlines, escape sequences, format characters and
    undecodable bytes escaped), except that a backslash is left as it is: the
    result is one line of plain text, and text that is already safe is returned
    unchanged (escaping twice changes nothing).
    """
    text = str(text)
    if _PLAIN.fullmatch(text):
        return text
    return "".join(_escape(c) if c != "\\" and _needs_escape(c) else c for c in text)
