"""An HTML report of a dedup run: one self-contained page, thumbnails embedded.

The page shows the counts, the threshold, the profile and the dimensions; then
each group of near-duplicates, its representative first, with every member's
per-dimension and weighted scores against the representative; then the files
that could not be used, with the reasons.

Each copy whose content digest is known can be marked "not a duplicate"; a
link exports the marks as a JSON file (``imageprism not-duplicates import``
loads it), so those pairs are never grouped again.

It needs nothing but itself: thumbnails are JPEG ``data:`` URIs, the CSS and the
one small script (``assets/report.css`` and ``assets/report.js``, package data
read once at import) are inline, and a Content-Security-Policy forbids loading
anything else and running any other script (it allows this one by its sha256).
All text is HTML-escaped (file names may hold ``<`` or ``&``). File names and folders
are shown through ``display_name`` and reasons through ``display_text``
(``imageprism.io.names``): a newline, an escape sequence, a right-to-left override or an
undecodable byte in a name shows as an escape (``\\n``, ``\\x1b``, ``\\u202e``,
``\\xff``), in the text, the titles and the alt texts alike, so a name cannot pass for
another and the page always encodes as UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from imageprism._version import __version__
from imageprism.dedup.not_duplicates import FORMAT as MARKS_FORMAT
from imageprism.io.atomic import atomic_write
from imageprism.io.images import prepare
from imageprism.io.names import display_name, display_text
from imageprism.results import DedupResult

Pair = tuple[int, int]

_JPEG_QUALITY = 80


def _asset(name: str) -> str:
    """The text of ``assets/<name>``, package data beside this module."""
    return (resources.files("imageprism.report") / "assets" / name).read_text(encoding="utf-8")


_CSS = _asset("report.css")

# The marks (assets/report.js): each checked box adds its [representative, copy]
# digest pair; the export link's data: URI always holds the current marks, sorted
# and deduplicated.
_SCRIPT = _asset("report.js")
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")

# Nothing may be fetched: images only from data: URIs, styles only inline, and
# no script but the marks script above (when the page has marks).
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSP_WITH_SCRIPT = f"{_CSP}; script-src 'sha256-{_SCRIPT_HASH}'"
_EXPORT_NAME = "not-duplicates.json"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _name(value: str) -> str:
    """A file name or folder as shown: escaped for people (``display_name``), then for HTML."""
    return _e(display_name(value))


def _text(value: object) -> str:
    """A reason or setting as shown: escaped for people (``display_text``), then for HTML."""
    return _e(display_text(str(value)))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _score_cells(value: float | None) -> str:
    """The value cell and the meter cell of one score row."""
    score = _finite(value)
    if score is None:
        return '<td class="value none">not scored</td><td class="bar"></td>'
    width = min(max(score, 0.0), 1.0) * 100
    return (
        f'<td class="value">{score:.4f}</td>'
        f'<td class="bar"><div class="meter"><span style="width:{width:.1f}%"></span></div></td>'
    )


def _thumbnail(source: str, size: int) -> tuple[str | None, str]:
    """``(data URI, caption)`` of a JPEG thumbnail, or ``(None, why)`` when there is none."""
    try:
        prepared = prepare(source)
        image = prepared.rgb(min_side=size).copy()  # rgb() is cached: never shrink it in place
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    except Exception as err:  # any failure costs the preview, never the report
        reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
        return None, f"no preview: {reason}"
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    width, height = prepared.size
    return f"data:image/jpeg;base64,{encoded}", f"{width}\u00d7{height}"


def _split(source: str) -> tuple[str, str]:
    """``(name, folder)`` of a path-like source; descriptions stay whole."""
    if source.startswith("<") or os.sep not in source:
        return source, ""
    folder, _, name = source.rstrip(os.sep).rpartition(os.sep)
    return (name or source), folder


def _figure(
    index: int,
    source: str,
    *,
    representative: bool,
    scores: Mapping[str, float | None] | None,
    weighted: float | None,
    has_weighted: bool,
    dimensions: Sequence[str],
    threshold: float,
    thumbnail_size: int,
    mark: tuple[str, str] | None = None,
) -> str:
    uri, note = _thumbnail(source, thumbnail_size)
    name, folder = _split(source)
    if uri is None:
        picture = (
            f'<div class="placeholder" role="img" aria-label="{_text(note)}">{_text(note)}</div>'
        )
        size_line = ""
    else:
        picture = f'<img src="{uri}" alt="{_name(name)}" title="{_name(source)}">'
        size_line = f'<div class="size">{_e(note)}</div>'
    role = "representative" if representative else "duplicate"
    parts = [
        f'<figure class="image{" representative" if representative else ""}" '
        f'data-index="{index}" data-role="{role}">',
        f'<div class="frame">{picture}</div>',
        "<figcaption>",
        f'<span class="role">{role}</span>',
        f'<div class="name" title="{_name(source)}">{_name(name)}</div>',
    ]
    if folder:
        parts.append(f'<div class="folder">{_name(folder)}</div>')
    parts.append(size_line)
    if not representative:
        parts.append(_scores_table(scores, weighted, has_weighted, dimensions, threshold))
    if mark is not None:
        parts.append(
            '<label class="mark" hidden data-needs-script>'
            f'<input type="checkbox" class="not-duplicate" data-a="{_e(mark[0])}" '
            f'data-b="{_e(mark[1])}"> not a duplicate</label>'
        )
    parts += ["</figcaption>", "</figure>"]
    return "".join(parts)


def _scores_table(
    scores: Mapping[str, float | None] | None,
    weighted: float | None,
    has_weighted: bool,
    dimensions: Sequence[str],
    threshold: float,
) -> str:
    if scores is None:
        return '<p class="none">no scores against the representative</p>'
    rows = ['<table class="scores"><caption hidden>scores against the representative</caption>']
    names = list(dimensions) + [name for name in scores if name not in dimensions]
    for name in names:
        rows.append(
            f'<tr data-dimension="{_e(name)}"><th scope="row">{_text(name)}</th>'
            f"{_score_cells(scores.get(name))}</tr>"
        )
    if has_weighted:
        value = _finite(weighted)
        verdict = "" if value is None else (" match" if value >= threshold else " below")
        rows.append(
            f'<tr class="weighted{verdict}"><th scope="row">weighted</th>{_score_cells(value)}</tr>'
        )
    rows.append("</table>")
    return "".join(rows)


def _dimension_names(
    dimensions: Sequence[str], pair_scores: Mapping[Pair, Mapping[str, float | None]]
) -> list[str]:
    """``dimensions``, then any other dimension the scores name, in first-seen order."""
    names = [str(name) for name in dimensions]
    for scores in pair_scores.values():
        names += [str(name) for name in scores if str(name) not in names]
    return names


def _counts(result: DedupResult, unreadable: int) -> str:
    items = [
        ("images", len(result.sources) - len(result.errors), "images compared"),
        ("unique", len(result.unique), "unique"),
        ("groups", len(result.groups), "duplicate groups"),
        ("unreadable", unreadable, "unreadable files"),
    ]
    cells = "".join(
        f'<div data-count="{key}"><dt>{_e(label)}</dt><dd>{value}</dd></div>'
        for key, value, label in items
    )
    return f'<dl class="counts">{cells}</dl>'


def _failures(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(
        f'<tr class="failure"><td class="file">{_name(source)}</td><td>{_text(reason)}</td></tr>'
        for source, reason in rows
    )
    if not body:
        return '<p class="empty">Every file could be read.</p>'
    return (
        '<table class="failures"><thead><tr><th scope="col">File</th>'
        f'<th scope="col">Reason</th></tr></thead><tbody>{body}</tbody></table>'
    )


def _mark_of(result: DedupResult, representative: int, index: int) -> tuple[str, str] | None:
    """The ``(representative, copy)`` digests a copy's mark would export, if both are known."""
    digests = result.digests
    if index == representative or max(representative, index) >= len(digests):
        return None
    pair = (digests[representative], digests[index])
    if pair[0] is None or pair[1] is None or pair[0] == pair[1]:  # identical files stay grouped
        return None
    return pair[0], pair[1]


def _marks_bar() -> str:
    empty = json.dumps({"format": MARKS_FORMAT, "pairs": []}, separators=(",", ":"))
    href = "data:application/json;charset=utf-8," + urllib.parse.quote(empty, safe="")
    return (
        '<p class="marks" hidden data-needs-script>'
        f'<a id="export-marks" href="{_e(href)}" download="{_EXPORT_NAME}" '
        f'data-format="{_e(MARKS_FORMAT)}" aria-disabled="true">Export not-duplicate marks</a> '
        '(<span id="mark-count">0</span> marked), then '
        f"<code>imageprism not-duplicates import {_EXPORT_NAME}</code> so those pairs are "
        "never grouped again.</p>"
    )


def render_report(
    result: DedupResult,
    pair_scores: Mapping[tuple[int, int], Mapping[str, float | None]],
    *,
    weighted: Mapping[tuple[int, int], float | None] | None = None,
    profile: str | None = None,
    dimensions: Sequence[str] = (),
    skipped: Sequence[tuple[str, str]] = (),
    thumbnail_size: int = 160,
) -> str:
    """One self-contained HTML page: the duplicate groups, their scores, and the unreadable files.

    Args:
        result: The dedup result to show.
        pair_scores: Per ``(representative, member)`` pair of input indexes, the
            per-dimension scores of the member against its representative (None:
            the dimension could not score the pair).
        weighted: Per pair, the weighted score; without it no weighted row is shown.
        profile: The profile that weighted the dimensions (shown as "none" without one).
        dimensions: The dimensions, in the order to show them; any other
            dimension named in ``pair_scores`` follows.
        skipped: ``(path, reason)`` of files found while walking folders that
            are not among ``result.errors`` but could not be used either.
        thumbnail_size: Longest side of the thumbnails, in pixels.

    Each image of a group is thumbnailed from ``result.sources``; one that cannot
    be read shows a placeholder with the reason instead. Each copy whose digest
    and its representative's are in ``result.digests`` (and differ) gets a
    "not a duplicate" box; the marks export as ``imageprism-not-duplicates/1`` JSON.

    Raises:
        ValueError: ``thumbnail_size`` is not a positive integer.
    """
    if isinstance(thumbnail_size, bool) or not isinstance(thumbnail_size, int):
        raise ValueError(f"thumbnail_size must be an integer >= 1, got {thumbnail_size!r}")
    if thumbnail_size < 1:
        raise ValueError(f"thumbnail_size must be an integer >= 1, got {thumbnail_size!r}")
    names = _dimension_names(dimensions, pair_scores)
    failures = [(e.source, e.reason) for e in result.errors]
    failures += [(str(path), str(reason)) for path, reason in skipped]

    sections = []
    marked = False
    for number, group in enumerate(result.groups, start=1):
        representative = group[0]
        figures = []
        for position, index in enumerate(group):
            pair = (representative, index)
            mark = _mark_of(result, representative, index)
            marked = marked or mark is not None
            figures.append(
                _figure(
                    index,
                    result.sources[index],
                    representative=position == 0,
                    scores=pair_scores.get(pair),
                    weighted=None if weighted is None else weighted.get(pair),
                    has_weighted=weighted is not None,
                    dimensions=names,
                    threshold=result.threshold,
                    thumbnail_size=thumbnail_size,
                    mark=mark,
                )
            )
        sections.append(
            f'<section class="group" data-group="{number}" aria-labelledby="group-{number}">'
            f'<h2 id="group-{number}">Group {number} \u00b7 {len(group)} images</h2>'
            f'<div class="images">{"".join(figures)}</div></section>'
        )
    if not sections:
        sections.append(
            '<section class="group-none"><p class="empty">No near-duplicates found.</p></section>'
        )

    settings = [
        ("threshold", f"{result.threshold:g}"),
        ("profile", profile or "none"),
        ("dimensions", ", ".join(names) or "none"),
    ]
    settings_html = "".join(
        f'<dt>{_e(key)}</dt><dd data-setting="{key}">{_text(value)}</dd>' for key, value in settings
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" '
            f'content="{_CSP_WITH_SCRIPT if marked else _CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>imageprism dedup report</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            '<header class="summary">',
            "<h1>Near-duplicate report</h1>",
            _counts(result, len(failures)),
            f'<dl class="settings">{settings_html}</dl>',
            _marks_bar() if marked else "",
            "</header>",
            "<main>",
            *sections,
            '<section class="unreadable">',
            f"<h2>Unreadable files ({len(failures)})</h2>",
            _failures(failures),
            "</section>",
            "</main>",
            f"<footer>imageprism {_e(__version__)}</footer>",
            f"<script>{_SCRIPT}</script>" if marked else "",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(path: str | os.PathLike[str], html: str) -> Path:
    """Write ``html`` to ``path`` atomically (UTF-8); returns the path.

    Raises:
        OSError: the folder does not exist or cannot be written.
    """
    target = Path(path)

    def write(temporary: Path) -> None:
        temporary.write_text(html, encoding="utf-8")

    return atomic_write(target, write)
