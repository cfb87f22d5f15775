"""Labelled pairs: two images and whether they should match; read, checked and scored.

``read_pairs`` reads a CSV file whose header names the two image columns and the
label column (``path_a``, ``path_b``, ``same``, or deepface's ``file_x``,
``file_y``, ``Decision``), resolving image paths beside the file and naming the
file, line and column of any bad row; ``as_pairs`` checks pairs given from
Python (``LabelledPair``s or ``(a, b, same)`` tuples); ``score_pairs`` embeds
every image once and scores each pair on every dimension of a prism, setting
aside the pairs whose images fail to load.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imageprism.errors import ConfigError
from imageprism.io.images import ImageInput
from imageprism.prism import ImagePrism, Progress
from imageprism.results import ImageFailure
from imageprism.scoring import similarity_many

_COLUMNS = {"a": ("path_a", "file_x"), "b": ("path_b", "file_y"), "same": ("same", "decision")}
_YES = frozenset({"yes", "y", "1", "true"})
_NO = frozenset({"no", "n", "0", "false"})


@dataclass(frozen=True)
class LabelledPair:
    """Two images and whether they should count as a match.

    Attributes:
        a: The first image (any input ``ImagePrism`` takes).
        b: The second image.
        same: True when the pair is a match (same picture, same person, ...).
    """

    a: ImageInput
    b: ImageInput
    same: bool


def read_pairs(path: str | os.PathLike[str]) -> list[LabelledPair]:
    """The labelled pairs of a CSV file, with image paths relative to the file's folder.

    Columns (by header, any order, case-insensitive): ``path_a``, ``path_b`` and
    ``same`` (``yes``/``no``, ``1``/``0``, ``true``/``false``); the ``file_x``,
    ``file_y``, ``Decision`` header of deepface's ``master.csv`` works too.

    Raises:
        ConfigError: the file cannot be read, a column is missing, or a row is bad
            (the message names the file, line and column).
    """
    source = Path(path)
    try:
        with source.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ConfigError(f"{source}: the file is empty; it needs a header row")
            columns = _columns(source, header)
            pairs = [_pair(source, reader.line_num, row, columns) for row in reader if any(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"cannot read pairs file {source}: {err}") from err
    if not pairs:
        raise ConfigError(f"{source}: no pairs after the header")
    return pairs


def _columns(source: Path, header: list[str]) -> dict[str, tuple[int, str]]:
    """Per role (a, b, same), the column index and its name as written."""
    found = {name.strip().lower(): (i, name.strip()) for i, name in enumerate(header)}
    columns = {}
    for role, names in _COLUMNS.items():
        hit = next((found[n] for n in names if n in found), None)
        if hit is None:
            raise ConfigError(
                f"{source}: line 1: no column {' or '.join(map(repr, names))} "
                f"(the header has: {', '.join(h.strip() for h in header) or 'nothing'})"
            )
        columns[role] = hit
    return columns


def _pair(
    source: Path, line: int, row: list[str], columns: Mapping[str, tuple[int, str]]
) -> LabelledPair:
    values: dict[str, str] = {}
    for role, (index, name) in columns.items():
        value = row[index].strip() if index < len(row) else ""
        if not value:
            raise ConfigError(f"{source}: line {line}, column {name!r}: empty")
        values[role] = value
    label = values["same"].lower()
    if label not in _YES | _NO:
        raise ConfigError(
            f"{source}: line {line}, column {columns['same'][1]!r}: {values['same']!r} is not "
            "yes/no, 1/0 or true/false"
        )
    folder = source.parent
    return LabelledPair(
        a=str(folder / values["a"]), b=str(folder / values["b"]), same=label in _YES
    )


def as_pairs(pairs: Iterable[Any]) -> list[LabelledPair]:
    """``LabelledPair``s or ``(a, b, same)`` tuples as ``LabelledPair``s with a plain bool label.

    Raises:
        ConfigError: an item is neither a ``LabelledPair`` nor a triple, a label is
            not True/False (or 0/1), or there are no pairs (the message names the pair).
    """
    checked = []
    for index, item in enumerate(pairs):
        if not isinstance(item, LabelledPair):
            if not (isinstance(item, tuple) and len(item) == 3):
                raise ConfigError(
                    f"pair {index} must be a LabelledPair or an (a, b, same) tuple, "
                    f"got {type(item).__name__}"
                )
            item = LabelledPair(*item)
        if not isinstance(item.same, bool | np.bool_) and item.same not in (0, 1):
            raise ConfigError(f"pair {index}: same must be True or False, got {item.same!r}")
        checked.append(LabelledPair(item.a, item.b, bool(item.same)))
    if not checked:
        raise ConfigError("no pairs to calibrate on")
    return checked


def _input_key(image: ImageInput) -> tuple[str, Any]:
    """Equal keys for the same file named twice, so each image is embedded once."""
    if isinstance(image, str | os.PathLike):
        return "path", os.path.abspath(os.fspath(image))
    return "object", id(image)


def score_pairs(
    pairs: Sequence[LabelledPair], prism: ImagePrism, progress: Progress | None
) -> tuple[dict[str, np.ndarray], np.ndarray, list[ImageFailure]]:
    """Per dimension, the score of each usable pair (NaN where None), labels and failures.

    Each image is embedded once, however many pairs name it (the same file named
    twice counts once). A pair whose image fails to load is not usable: it is left
    out of the scores and labels and reported in the failures, with ``index`` the
    pair's position and ``source`` the image that failed.
    """
    slots: dict[tuple[str, Any], int] = {}
    images: list[ImageInput] = []
    refs = []
    for pair in pairs:
        ends = []
        for image in (pair.a, pair.b):
            key = _input_key(image)
            if key not in slots:
                slots[key] = len(images)
                images.append(image)
            ends.append(slots[key])
        refs.append(ends)
    batch = prism.embed_many(images, progress=progress)
    failed = {failure.index: failure for failure in batch.errors}
    errors: list[ImageFailure] = []
    usable: list[int] = []
    for number, (ia, ib) in enumerate(refs):
        failure = failed.get(ia) or failed.get(ib)
        if failure is not None:
            errors.append(ImageFailure(number, failure.source, failure.reason))
        else:
            usable.append(number)
    scores = {name: np.full(len(usable), np.nan) for name in prism.dimensions}
    for row, number in enumerate(usable):
        ia, ib = refs[number]
        ea, eb = batch.embeddings[ia] or {}, batch.embeddings[ib] or {}
        for name in prism.dimensions:
            x, y = ea.get(name), eb.get(name)
            if x is not None and y is not None:
                scores[name][row] = similarity_many(prism.dimension(name), x, y[None, :])[0]
    labels = np.array([pairs[number].same for number in usable], dtype=bool)
    return scores, labels, errors
