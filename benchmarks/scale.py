"""Dedup and top-10 search at scale: the exact and FAISS backends against the old paths.

What it measures, in one run, on generated embeddings (no images are read: the embedding step
is skipped and the library is called on embeddings directly). Every cell of every table runs in
a fresh Python process (``multiprocessing`` spawn), so its memory is its own: ``RSS growth`` is
the process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) at the end
of the cell minus its resident set after the imports, before any input is built (on Linux the
high-water mark is reset there through ``/proc/self/clear_refs``, so the imports' own peak does
not count). It includes the inputs (shown in brackets), NumPy's temporaries and FAISS's own
(C++) memory, and FAISS's or numba's import (with its compiled code) when the cell uses it. A
cell still running after ``--cell-timeout`` seconds (default 1,200) is killed and shown as
"stopped".

**Dedup** of ``N`` random hash embeddings, for every ``N`` of ``--sizes`` (default 1k, 10k,
100k, 1M), for the hash config ``default`` (``HashConfig()``: flip, windows ``(1.0, 0.7,
0.5)``, 6 hash sets, 144 bytes) and ``single`` (``HashConfig(flip=False, windows=(1.0,))``,
the 0.1-like single set, 24 bytes), chosen with ``--config``. Each embedding is uniform random
bytes (seeded with ``--seed``); such hashes score about 0.6 (default) or 0.5 (single) against
each other, far below the threshold 0.9 (``ImagePrism.dedup``'s default), so every item must
come out as its own representative: the script checks it (``all unique``). The inputs are what
``ImagePrism.dedup`` holds after embedding: one ``{"hash": row}`` dict per item over one
``N x bytes`` matrix; weight 1.0, ``missing_scores="zero"``. Five methods, side by side:

- ``exact``: ``imageprism.dedup.engine.dedup_embeddings(..., backend="exact")``, what
  ``ImagePrism.dedup`` calls after embedding (multi-index hashing finds the candidate pairs,
  then the greedy pass scores only those). The library probes the hash tables with a numba
  kernel (``imageprism.dedup._hamming_kernel``) from ``imageprism.dedup.candidates._COMPILED_FROM``
  (150,000) codes, one code per hash set and item (so from ``N`` = 25,000 for ``default``,
  150,000 for ``single``), when numba is installed; with NumPy below, or without numba. The
  column's name says "numba probing" when numba is importable ("NumPy probing" when not), and
  a time is marked "(NumPy)" when its cell did not import the kernel (below the threshold).
  The cell's time includes importing numba and loading the kernel (compiled by numba on first
  use, then loaded from its cache), as a fresh ``ImagePrism.dedup`` does.
- ``exact, NumPy probing``: the same call with the kernel turned off in its process
  (``candidates._COMPILED_FROM`` set to ``sys.maxsize`` before it; the cell fails if the
  kernel is imported anyway), i.e. the exact backend without numba. ``NumPy = exact`` says
  whether its labels are identical to the ``exact`` column's (they must be: the two probe
  the same pairs). Run up to ``--numpy-limit`` (default 1,000,000) items; above, "not run".
- ``FAISS``: the same call with ``backend="faiss"`` (``IndexBinaryMultiHash`` finds the
  candidates). ``FAISS = exact`` says whether its labels are identical to the exact column's.
- ``previous greedy``: the exact path before the candidate engine: ``greedy_groups_many`` with
  a ``score_many`` that appends each new representative to an ``EmbeddingTable`` and scores the
  item against all of them (``EmbeddingTable.scores``, the hash's ``similarity_many``). It
  compares every item with every representative, ``N (N - 1) / 2`` pairs here, so it runs only
  up to ``--greedy-limit`` (default 10,000) items; above, its time is extrapolated
  quadratically (time per pair at the largest ``N`` it ran at, times ``N (N - 1) / 2``) and the
  table says "extrapolated".
- ``0.1 loop``: the 0.1 algorithm, ``greedy_groups`` with a scalar score
  (``HashDimension.similarity``, today's code, once per pair); up to ``--pairwise-limit``
  (default 2,000) items, extrapolated the same way above.

The table's rows are ``--sizes`` plus the two limits (when below the largest size), so the old
methods are measured as far as they go; exact and FAISS run at every row, exact with NumPy
probing at every row up to ``--numpy-limit``. Each cell is one timed run (not a median: the
large ones are long).

**Planted near-duplicates** (``--planted``, default 100,000 items; 0 skips): 10% of the items
are copies of earlier items (the originals are random as above; each copy sits at a random
position after its original and has 1 to 16 random bits of its 144 or 24 bytes flipped, so it
scores at least ``1 - 16/192 = 0.917`` with its original). The answer is known: each copy's
label is its original, every original is its own representative. The table checks the exact
backend against that answer, exact with NumPy probing (when ``--planted`` is at most
``--numpy-limit``) and FAISS against exact, and the previous greedy against exact on a
``--planted-check`` (default 5,000) item set made the same way. Unlike distinct items, these
have groups to get wrong, so ``NumPy = exact`` here compares non-trivial answers.

**Top-10 search** with ``ImageIndex.search`` itself, over ``--search-n`` (default 1,000,000)
random hash embeddings per config and ``--search-float-n`` (default 1,000,000) 512-d float32
embeddings scored by a cosine dimension (``imageprism.scoring.cosine_scores``, as the model and
face packs score). The index is built from the matrix with ``ImageIndex._from_columns`` (what
``ImageIndex.load`` does; ``table`` is its time) and searched through a prism whose ``embed``
returns the query as given (the queries are embeddings already), so a search is exactly
``ImageIndex.search`` after embedding: ``backend="exact"`` scores every row,
``backend="faiss"`` asks FAISS for each dimension's nearest rows and scores those exactly. The
float data:

- ``clustered``: ``--clusters`` (default 16,384) random unit centres; each row is a centre
  (picked uniformly) plus Gaussian noise of norm about 0.6, normalised (cosine about 0.86 with
  its centre, 0.74 with another row of its cluster, about 0 across clusters), like real
  embeddings of many small groups of similar pictures.
- ``uniform``: random unit vectors. Random high-dimensional data has no neighbour structure
  (every row is about as far from a query as every other, cosine about 0 +- 0.045), so an ANN
  index's lists split it arbitrarily and its recall beyond the first hit is low; shown for
  honesty, not as a use case.

Queries are ``--queries`` (default 20) noisy copies of indexed rows (hashes: 8 random bits
flipped; floats: Gaussian noise of norm about 0.3, cosine about 0.96 with the source), so each
one's best hit is its source (``top-1 = source`` counts them). Latency is the median (and
range) over the queries, after one untimed warm-up query for the exact backend; FAISS's first
search builds its indexes (``FAISS build``: that first search, including one query, reported
apart from the latency of the queries after it). ``recall@10`` is the mean share of the exact
backend's top 10 that FAISS returns (by row); ``ties`` counts a FAISS hit as right when its
score is at least the exact 10th score (hash scores are multiples of 1/192, so many rows may
tie at the 10th place and either one is a correct answer). ``memory``: on the exact row, the
peak RSS growth up to the end of the exact searches (the generated matrix and queries in
brackets; the matrix is dropped once the index holds its copy); on the FAISS row, up to the end
of the FAISS searches, so it includes the exact row's.

A final line compares the numbers with the issue's goals: dedup of 100k distinct images in
under 10 s, of 1M in under 5 min, peak memory under 1 GiB for 100k (RSS growth, inputs
included), each per config and per method ("exact with numba probing" or "with NumPy
probing", as its cell ran; "exact with NumPy probing (numba off)"; FAISS), and an ANN backend
with recall@10 >= 0.95 (the clustered float data).

``--quick`` runs everything at tiny sizes (a smoke test, not a measurement; too small for the
numba kernel, which the unit tests check against the NumPy probing). Run from the repository root
(other jobs on the machine make the timings noisy)::

    .venv/bin/python benchmarks/scale.py [--quick] [--sizes 1000 10000 100000 1000000]
        [--config both] [--greedy-limit 10000] [--pairwise-limit 2000] [--numpy-limit 1000000]
        [--planted 100000] [--planted-check 5000] [--search-n 1000000]
        [--search-float-n 1000000] [--clusters 16384] [--queries 20] [--cell-timeout 1200]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from _common import positive_int
from pydantic import BaseModel, ConfigDict

from imageprism import DimensionSpec, HashConfig, ImagePrism, candidates, hookimpl
from imageprism.builtins.hash import HashDimension
from imageprism.dedup.engine import dedup_embeddings, greedy_groups, greedy_groups_many
from imageprism.index.index import ImageIndex
from imageprism.io.images import PreparedImage
from imageprism.plugin.dimension import Dimension, Metric
from imageprism.plugin.registry import Registry
from imageprism.scoring import EmbeddingTable, cosine_scores

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS: dict[str, HashConfig] = {
    "default": HashConfig(),
    "single": HashConfig(flip=False, windows=(1.0,)),
}
CONFIG_CHOICES = (*CONFIGS, "both")
THRESHOLD = 0.9  # ImagePrism.dedup's default
NAME = "hash"
WEIGHTS = {NAME: 1.0}
METHODS = ("exact", "numpy", "faiss", "greedy", "pairwise")
KERNEL = "imageprism.dedup._hamming_kernel"  # the compiled probing, imported only when it is used
FLOAT_KINDS = ("clustered", "uniform")
K = 10
FLOAT_NAME = "float"
FLOAT_WIDTH = 512
ROWS_PER_CHUNK = 65_536  # rows generated at a time for the float matrices
PLANTED_SHARE = 0.1
MAX_FLIPS = 16  # bits flipped in a planted copy: it scores >= 1 - 16/192 with its original
QUERY_FLIPS = 8  # bits flipped in a hash query
ROW_NOISE = 0.6  # norm of the noise around a cluster centre
QUERY_NOISE = 0.3  # norm of the noise of a float query
MIB = 1 << 20
GIB = 1 << 30

DEFAULTS = {
    "sizes": [1_000, 10_000, 100_000, 1_000_000],
    "greedy_limit": 10_000,
    "pairwise_limit": 2_000,
    "numpy_limit": 1_000_000,
    "planted": 100_000,
    "planted_check": 5_000,
    "search_n": 1_000_000,
    "search_float_n": 1_000_000,
    "clusters": 16_384,
    "queries": 20,
}
QUICK = {
    "sizes": [500, 4_000],
    "greedy_limit": 1_000,
    "pairwise_limit": 300,
    "numpy_limit": 1_000_000,
    "planted": 2_000,
    "planted_check": 500,
    "search_n": 5_000,
    "search_float_n": 5_000,
    "clusters": 100,
    "queries": 3,
}

# goals of the issue
GOAL_100K_SECONDS = 10.0
GOAL_1M_SECONDS = 300.0
GOAL_100K_BYTES = GIB
GOAL_RECALL = 0.95

Embeddings = list[dict[str, np.ndarray]]
Labels = tuple[list[int], list[int | None]]


# -- fresh processes ---------------------------------------------------------------------------


def rss_high_water() -> int:
    """The process's peak resident set size so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass(frozen=True)
class Stopped:
    """A cell that did not finish: killed at the time limit, or failed (``failed``)."""

    reason: str
    failed: bool = False


def _child(conn: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", function(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def in_fresh_process(function: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """``function(*args)`` in a new Python process, or ``Stopped`` past ``timeout`` seconds
    (the process is killed) or when it fails (the traceback goes to stderr)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, function, args), daemon=True)
    process.start()
    send.close()
    if not receive.poll(timeout):
        process.kill()
        process.join()
        receive.close()
        return Stopped(f"stopped after {duration(timeout)}")
    try:
        status, value = receive.recv()
    except EOFError:  # it died without answering (e.g. killed for memory)
        process.join()
        status, value = "error", f"the process died (exit code {process.exitcode})"
    process.join()
    receive.close()
    if status == "error":
        progress(f"{function.__name__}{args} failed:\n{value}")
        return Stopped("failed (see stderr)", failed=True)
    return value


def _resident() -> int | None:
    """The process's resident set now (Linux: ``VmRSS`` of ``/proc/self/status``), else None."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def _baseline() -> int:
    """Start measuring: the resident set now, from which the peak is counted.

    On Linux the high-water mark is reset to the current resident set first (writing 5 to
    ``/proc/self/clear_refs``), so the imports' own peak does not count; elsewhere the peak
    runs from the process start and the baseline is that peak.
    """
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    current = _resident()
    return rss_high_water() if current is None else current


# -- hash data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashData:
    """``n`` random hash embeddings of one config; with ``planted``, 10% are near copies."""

    config: str
    n: int
    seed: int
    planted: bool = False

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``n x bytes`` matrix and the right labels (each item's representative)."""
        size = HashDimension(CONFIGS[self.config]).embedding_size
        rng = np.random.default_rng([self.seed, self.n, int(self.planted)])
        matrix = rng.integers(0, 256, size=(self.n, size), dtype=np.uint8)
        truth = np.arange(self.n)
        if not self.planted or self.n < 2:
            return matrix, truth
        copies = np.sort(rng.choice(np.arange(1, self.n), round(PLANTED_SHARE * self.n), False))
        is_copy = np.zeros(self.n, dtype=bool)
        is_copy[copies] = True
        originals = np.flatnonzero(~is_copy)
        # each copy's original: any original before it
        before = np.searchsorted(originals, copies)
        truth[copies] = originals[(rng.random(len(copies)) * before).astype(np.int64)]
        bits = size * 8
        for copy in copies:  # originals are never copies, so copying in order is safe
            row = np.unpackbits(matrix[truth[copy]])
            flipped = rng.choice(bits, int(rng.integers(1, MAX_FLIPS + 1)), replace=False)
            row[flipped] ^= 1
            matrix[copy] = np.packbits(row)
        return matrix, truth


# -- the five dedup methods --------------------------------------------------------------------


def dedup_exact(dimension: HashDimension, embeddings: Embeddings) -> Labels:
    """What ``ImagePrism.dedup`` calls after embedding, with the exact backend."""
    return dedup_embeddings(
        embeddings, {NAME: dimension}, WEIGHTS, "zero", THRESHOLD, backend="exact"
    )


def dedup_numpy(dimension: HashDimension, embeddings: Embeddings) -> Labels:
    """``dedup_exact`` with the compiled kernel turned off: NumPy probing at every size.

    The cell runs in a process of its own, so raising the library's threshold for the kernel
    (``candidates._COMPILED_FROM``, in codes) changes nothing elsewhere.
    """
    if not hasattr(candidates, "_COMPILED_FROM"):
        raise RuntimeError("imageprism.dedup.candidates._COMPILED_FROM is gone: update dedup_numpy")
    candidates._COMPILED_FROM = sys.maxsize
    found = dedup_exact(dimension, embeddings)
    if KERNEL in sys.modules:
        raise RuntimeError(f"{KERNEL} was imported although it was turned off")
    return found


def dedup_faiss(dimension: HashDimension, embeddings: Embeddings) -> Labels:
    """What ``ImagePrism.dedup(backend="faiss")`` calls after embedding."""
    return dedup_embeddings(
        embeddings, {NAME: dimension}, WEIGHTS, "zero", THRESHOLD, backend="faiss"
    )


def dedup_greedy(dimension: HashDimension, embeddings: Embeddings) -> Labels:
    """The exact path before the candidate engine: ``greedy_groups_many`` over an
    ``EmbeddingTable`` of the representatives so far (every item against every one)."""
    dimensions: dict[str, Dimension] = {NAME: dimension}
    representatives = EmbeddingTable([NAME])

    def score_many(item: int, reps: list[int]) -> np.ndarray:
        # ``reps`` only grows, by the items that became representatives, in order
        while len(representatives) < len(reps):
            representatives.append(embeddings[reps[len(representatives)]])
        _, weighted = representatives.scores(dimensions, embeddings[item], WEIGHTS, "zero")
        return weighted

    return greedy_groups_many([True] * len(embeddings), score_many, THRESHOLD)


def dedup_pairwise(dimension: HashDimension, embeddings: Embeddings) -> Labels:
    """The 0.1 loop: ``greedy_groups`` with ``similarity`` called once per pair."""

    def score(item: int, rep: int) -> float | None:
        return dimension.similarity(embeddings[item][NAME], embeddings[rep][NAME])

    return greedy_groups([True] * len(embeddings), score, THRESHOLD)


DEDUPS: dict[str, Callable[[HashDimension, Embeddings], Labels]] = {
    "exact": dedup_exact,
    "numpy": dedup_numpy,
    "faiss": dedup_faiss,
    "greedy": dedup_greedy,
    "pairwise": dedup_pairwise,
}


@dataclass(frozen=True)
class DedupCell:
    """One method on one data set: time, memory, and how its labels compare with the truth."""

    seconds: float
    inputs: int  # RSS growth once the inputs are built
    peak: int  # RSS growth at the end of the cell
    baseline: int  # the process's RSS after the imports
    labels: np.ndarray
    unique: int
    groups: int
    wrong: int  # labels that differ from the right answer
    compiled: bool | None  # whether the compiled kernel was imported (None: it was already)


def dedup_cell(method: str, data: HashData) -> DedupCell:
    """Run one dedup method on ``data`` (in a fresh process: see ``in_fresh_process``)."""
    dimension = HashDimension(CONFIGS[data.config])
    baseline = _baseline()
    matrix, truth = data.build()
    embeddings = [{NAME: row} for row in matrix]
    inputs = rss_high_water() - baseline
    loaded = KERNEL in sys.modules
    start = time.perf_counter()
    unique, labels = DEDUPS[method](dimension, embeddings)
    seconds = time.perf_counter() - start
    peak = rss_high_water() - baseline
    found = np.array([-1 if label is None else label for label in labels], dtype=np.int64)
    return DedupCell(
        seconds=seconds,
        inputs=inputs,
        peak=peak,
        baseline=baseline,
        labels=found,
        unique=len(unique),
        groups=len(set(found[found != np.arange(len(found))].tolist())),
        wrong=int((found != truth).sum()),
        compiled=None if loaded else KERNEL in sys.modules,
    )


def pairs(n: int) -> int:
    """Comparisons greedy dedup makes when all ``n`` items are distinct."""
    return n * (n - 1) // 2


# -- search ------------------------------------------------------------------------------------


class FloatConfig(BaseModel):
    """The benchmark cosine dimension has no settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CosineDimension:
    """Scores float embeddings as the model and face packs do (``cosine_scores``); it embeds
    nothing (the benchmark's embeddings are generated)."""

    name = FLOAT_NAME
    fingerprint = "benchmark-cosine"
    metric: Metric = "cosine"

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        raise NotImplementedError("the scale benchmark scores generated embeddings only")

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        return cosine_scores(a, others)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(cosine_scores(a, np.asarray(b)[None, :])[0])


class _CosinePlugin:
    @hookimpl
    def imageprism_register_dimensions(self, register: Callable[[DimensionSpec], None]) -> None:
        register(
            DimensionSpec(
                name=FLOAT_NAME,
                factory=lambda config: CosineDimension(),
                config_model=FloatConfig,
                summary="the scale benchmark's cosine dimension",
            )
        )


class EmbeddedQueryPrism(ImagePrism):
    """An ``ImagePrism`` whose ``embed`` returns its argument: the queries are embeddings."""

    def embed(self, image: Any) -> dict[str, np.ndarray | None]:
        return dict(image)


@dataclass(frozen=True)
class SearchData:
    """What one search cell indexes: ``kind`` is a hash config name, ``clustered`` or
    ``uniform`` (float)."""

    kind: str
    n: int
    clusters: int
    queries: int
    seed: int

    @property
    def label(self) -> str:
        if self.kind in CONFIGS:
            return f"hash `{self.kind}`"
        return f"float32 {FLOAT_WIDTH}-d, {self.kind}"

    def prism(self) -> ImagePrism:
        if self.kind in CONFIGS:
            return EmbeddedQueryPrism(config={NAME: CONFIGS[self.kind]})
        registry = Registry(entry_points=[], plugins=[("scale-benchmark", _CosinePlugin())])
        return EmbeddedQueryPrism([FLOAT_NAME], registry=registry)

    def build(self) -> tuple[str, np.ndarray, np.ndarray, list[np.ndarray]]:
        """The dimension name, the ``n``-row matrix, the queries' source rows and the queries."""
        kinds = (*CONFIGS, *FLOAT_KINDS)
        rng = np.random.default_rng([self.seed, self.n, kinds.index(self.kind)])
        sources = rng.choice(self.n, size=min(self.n, self.queries), replace=False)
        if self.kind in CONFIGS:
            size = HashDimension(CONFIGS[self.kind]).embedding_size
            matrix = rng.integers(0, 256, size=(self.n, size), dtype=np.uint8)
            queries = []
            for source in sources:
                row = np.unpackbits(matrix[source])
                row[rng.choice(len(row), QUERY_FLIPS, replace=False)] ^= 1
                queries.append(np.packbits(row))
            return NAME, matrix, sources, queries
        matrix = np.empty((self.n, FLOAT_WIDTH), dtype=np.float32)
        centres = _unit(rng.standard_normal((self.clusters, FLOAT_WIDTH), dtype=np.float32))
        for start in range(0, self.n, ROWS_PER_CHUNK):
            rows = min(ROWS_PER_CHUNK, self.n - start)
            noise = rng.standard_normal((rows, FLOAT_WIDTH), dtype=np.float32)
            if self.kind == "clustered":
                noise *= ROW_NOISE / np.sqrt(FLOAT_WIDTH)
                noise += centres[rng.integers(0, self.clusters, rows)]
            matrix[start : start + rows] = _unit(noise)
        noise = rng.standard_normal((len(sources), FLOAT_WIDTH), dtype=np.float32)
        queries = list(_unit(matrix[sources] + noise * (QUERY_NOISE / np.sqrt(FLOAT_WIDTH))))
        return FLOAT_NAME, matrix, sources, queries


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@dataclass(frozen=True)
class SearchCell:
    """Both backends over one index: build, latency, recall."""

    n: int
    row_bytes: int
    inputs: int  # RSS growth once the matrix and queries are built
    table_seconds: float
    exact_peak: int  # RSS growth after the table and the exact searches
    exact_seconds: list[float]
    exact_top1: int
    faiss_build: float | None = None
    faiss_seconds: list[float] = field(default_factory=list)
    faiss_peak: int | None = None  # RSS growth after the FAISS build and searches
    faiss_top1: int = 0
    recall: float | None = None
    recall_ties: float | None = None


def search_cell(data: SearchData, with_faiss: bool) -> SearchCell:
    """Index ``data`` and time top-10 searches with both backends (in a fresh process)."""
    prism = data.prism()
    baseline = _baseline()
    name, matrix, sources, queries = data.build()
    inputs = rss_high_water() - baseline
    start = time.perf_counter()
    index = ImageIndex._from_columns(
        prism, [str(i) for i in range(data.n)], {name: (matrix, np.ones(data.n, bool))}, "bench"
    )
    table_seconds = time.perf_counter() - start
    row_bytes = matrix.shape[1] * matrix.dtype.itemsize
    del matrix  # the index holds its own copy

    def search(query: np.ndarray) -> tuple[float, list[int], list[float]]:
        begin = time.perf_counter()
        hits = index.search({name: query}, k=K)
        elapsed = time.perf_counter() - begin
        return elapsed, [h.index for h in hits], [h.weighted_score or 0.0 for h in hits]

    index.backend = "exact"
    search(queries[0])  # warm-up
    exact = [search(query) for query in queries]
    cell = SearchCell(
        n=data.n,
        row_bytes=row_bytes,
        inputs=inputs,
        table_seconds=table_seconds,
        exact_peak=rss_high_water() - baseline,
        exact_seconds=[seconds for seconds, _, _ in exact],
        exact_top1=sum(int(rows[0] == s) for (_, rows, _), s in zip(exact, sources, strict=True)),
    )
    if not with_faiss:
        return cell
    index.backend = "faiss"
    build, _, _ = search(queries[0])  # builds the FAISS indexes
    fast = [search(query) for query in queries]
    recall, ties = [], []
    for (_, want, want_scores), (_, got, got_scores) in zip(exact, fast, strict=True):
        recall.append(len(set(want) & set(got)) / len(want))
        ties.append(sum(score >= want_scores[-1] for score in got_scores) / len(want))
    return replace(
        cell,
        faiss_build=build,
        faiss_seconds=[seconds for seconds, _, _ in fast],
        faiss_peak=rss_high_water() - baseline,
        faiss_top1=sum(int(rows[0] == s) for (_, rows, _), s in zip(fast, sources, strict=True)),
        recall=float(np.mean(recall)),
        recall_ties=float(np.mean(ties)),
    )


# -- formatting --------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """Seconds, with minutes, hours or days alongside when they are long."""
    text = f"{seconds:.3g} s" if seconds < 1000 else f"{seconds:,.0f} s"
    if seconds >= 2 * 86_400:
        text += f" (~{seconds / 86_400:.1f} days)"
    elif seconds >= 2 * 3600:
        text += f" (~{seconds / 3600:.1f} h)"
    elif seconds >= 120:
        text += f" (~{seconds / 60:.1f} min)"
    return text


def mib(size: float) -> str:
    return f"{size / MIB:,.0f} MiB" if size >= 100 * MIB else f"{size / MIB:,.1f} MiB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else duration(seconds)


def config_label(name: str) -> str:
    """The config's name, its settings and its embedding size."""
    config = CONFIGS[name]
    size = HashDimension(config).embedding_size
    return f"`{name}` (flip={config.flip}, windows={config.windows}; {size} bytes per embedding)"


Cells = dict[tuple[str, int], DedupCell | Stopped]


def codes_per_item(name: str) -> int:
    """Hamming codes the exact backend probes per embedding of a config (one per hash set)."""
    dimension = HashDimension(CONFIGS[name])
    row = np.zeros((1, dimension.embedding_size), dtype=np.uint8)
    return max(codes.shape[1] for codes, _ in dimension.hamming_codes(row, THRESHOLD))


def exact_heading(with_numba: bool) -> str:
    """The exact column's name: how it probes."""
    return "exact (numba probing)" if with_numba else "exact (NumPy probing: numba not installed)"


def kernel_note(with_numba: bool, name: str | None = None) -> str:
    """When the exact column uses the compiled kernel, for a table's heading (with ``name``,
    from which ``N`` for that config)."""
    if not with_numba:
        return "numba is not installed, so exact probes with NumPy at every size"
    codes = f"{candidates._COMPILED_FROM:,} codes"
    if name is not None:
        per_item = codes_per_item(name)
        smallest = -(-candidates._COMPILED_FROM // per_item)
        codes += f" ({per_item} per embedding: N >= {smallest:,})"
    return f"exact probes with the numba kernel from {codes}, with NumPy below (marked (NumPy))"


def time_cells(cell: DedupCell | Stopped | None, missing: str = "not run") -> list[str]:
    """Time and memory of a new-method cell."""
    if cell is None:
        return [missing, "-"]
    if isinstance(cell, Stopped):
        return [cell.reason, "-"]
    return [duration(cell.seconds), f"{mib(cell.peak)} ({mib(cell.inputs)})"]


def exact_cells(cell: DedupCell | Stopped | None, with_numba: bool) -> list[str]:
    """``time_cells`` of the exact method, its time marked where the kernel did not run."""
    shown = time_cells(cell)
    if with_numba and isinstance(cell, DedupCell) and not cell.compiled:
        shown[0] += " (NumPy)" if cell.compiled is False else " (kernel unknown)"
    return shown


def numpy_cells(cells: Cells, n: int, limit: int) -> list[str]:
    """Time, memory and ``= exact`` of the NumPy-probing method at ``n``."""
    missing = f"not run (N > --numpy-limit {limit:,})" if n > limit else "not run"
    cell = cells.get(("numpy", n))
    return [*time_cells(cell, missing), same_labels(cells.get(("exact", n)), cell)]


def unique_cell(cell: DedupCell | Stopped | None, n: int) -> str:
    if not isinstance(cell, DedupCell):
        return "-"
    return "yes" if cell.unique == n and not cell.wrong else f"NO ({n - cell.unique:,} grouped)"


def same_labels(a: DedupCell | Stopped | None, b: DedupCell | Stopped | None) -> str:
    if not isinstance(a, DedupCell) or not isinstance(b, DedupCell):
        return "-"
    differing = int((a.labels != b.labels).sum())
    return "yes" if not differing else f"NO ({differing:,} labels differ)"


def quadratic_cells(cells: Cells, method: str, n: int, scale: float) -> list[str]:
    """Time, per-pair time and memory of an old method at ``n``: measured, or extrapolated from
    the largest ``N`` it ran at."""
    cell = cells.get((method, n))
    if isinstance(cell, DedupCell):
        per_pair = cell.seconds / max(1, pairs(n))
        return [duration(cell.seconds), f"{per_pair * scale:,.1f}", mib(cell.peak)]
    if isinstance(cell, Stopped):
        return [cell.reason, "-", "-"]
    measured = sorted(
        m for (name, m), c in cells.items() if name == method and isinstance(c, DedupCell)
    )
    if not measured:
        return ["not run", "-", "-"]
    base = measured[-1]
    per_pair = cells[(method, base)].seconds / max(1, pairs(base))  # type: ignore[union-attr]
    return [
        f"{duration(per_pair * pairs(n))} (extrapolated)",
        f"{per_pair * scale:,.1f} (from N={base:,})",
        "not run",
    ]


def dedup_table(
    name: str, cells: Cells, rows: Sequence[int], with_numba: bool, numpy_limit: int
) -> str:
    """The dedup table of one config: the five methods side by side, one row per ``N``."""
    lines = [
        f"Dedup of N distinct random hash embeddings, config {config_label(name)}, threshold "
        f"{THRESHOLD}; memory = peak RSS growth of a fresh process (inputs in brackets); "
        f"{kernel_note(with_numba, name)}",
        "",
        f"| N | {exact_heading(with_numba)}: time | exact: memory | all unique "
        "| exact, NumPy probing: time | NumPy: memory | NumPy = exact "
        "| FAISS: time | FAISS: memory "
        "| FAISS = exact | previous greedy: time | ns/pair | memory | 0.1 loop: time "
        "| µs/pair | memory |",
        "|---:|---:|---:|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in rows:
        exact, faiss = cells.get(("exact", n)), cells.get(("faiss", n))
        row = [f"{n:,}", *exact_cells(exact, with_numba), unique_cell(exact, n)]
        row += numpy_cells(cells, n, numpy_limit)
        row += [*time_cells(faiss), same_labels(exact, faiss)]
        row += quadratic_cells(cells, "greedy", n, 1e9)
        row += quadratic_cells(cells, "pairwise", n, 1e6)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def planted_table(
    planted: dict[str, Cells], n: int, check: int, with_numba: bool, numpy_limit: int
) -> str:
    """The planted near-duplicates table: one row per config."""
    lines = [
        f"Dedup of {n:,} hash embeddings of which {PLANTED_SHARE:.0%} are near copies (1-"
        f"{MAX_FLIPS} bits flipped) of earlier items, threshold {THRESHOLD}; "
        f"{kernel_note(with_numba)}",
        "",
        f"| config | {exact_heading(with_numba)}: time | exact: memory | groups "
        "| representatives | exact = planted answer | exact, NumPy probing: time "
        "| NumPy: memory | NumPy = exact | FAISS: time | FAISS: memory | FAISS = exact "
        f"| on {check:,} items: previous greedy = exact |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|---|",
    ]
    for name, cells in planted.items():
        exact, faiss = cells.get(("exact", n)), cells.get(("faiss", n))
        row = [f"`{name}`", *exact_cells(exact, with_numba)]
        if isinstance(exact, DedupCell):
            right = "yes" if not exact.wrong else f"NO ({exact.wrong:,} labels differ)"
            row += [f"{exact.groups:,}", f"{exact.unique:,}", right]
        else:
            row += ["-", "-", "-"]
        row += numpy_cells(cells, n, numpy_limit)
        row += [*time_cells(faiss), same_labels(exact, faiss)]
        row.append(same_labels(cells.get(("exact", check)), cells.get(("greedy", check))))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def latency(seconds: Sequence[float]) -> tuple[str, str]:
    return ms(statistics.median(seconds)), f"{ms(min(seconds))}-{ms(max(seconds))}"


def search_table(searches: Sequence[tuple[SearchData, SearchCell | Stopped]]) -> str:
    """The search table: exact and FAISS over each index, one row per backend."""
    lines = [
        f"Top-{K} search with ImageIndex.search (after embedding the query); memory = peak "
        "RSS growth of a fresh process (inputs in brackets)",
        "",
        f"| embeddings | N | bytes/row | backend | table / FAISS build | memory | top-{K} latency "
        f"(median) | range | top-1 = source | recall@{K} | recall@{K} (ties) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for data, cell in searches:
        head = f"| {data.label} | {data.n:,} |"
        if isinstance(cell, Stopped):
            lines.append(f"{head} - | both | {cell.reason} | - | - | - | - | - | - |")
            continue
        queries = len(cell.exact_seconds)
        median, spread = latency(cell.exact_seconds)
        lines.append(
            f"{head} {cell.row_bytes:,} | exact | {duration(cell.table_seconds)} (table) "
            f"| {mib(cell.exact_peak)} ({mib(cell.inputs)}) | {median} | {spread} "
            f"| {cell.exact_top1}/{queries} | 1 (by definition) | 1 |"
        )
        if cell.faiss_build is None or cell.faiss_peak is None:
            lines.append(
                f"{head} {cell.row_bytes:,} | FAISS | not installed | - | - | - | - | - | - |"
            )
            continue
        median, spread = latency(cell.faiss_seconds)
        lines.append(
            f"{head} {cell.row_bytes:,} | FAISS | {duration(cell.faiss_build)} (first search) "
            f"| {mib(cell.faiss_peak)} | {median} | {spread} | {cell.faiss_top1}/{queries} "
            f"| {cell.recall:.3f} | {cell.recall_ties:.3f} |"
        )
    return "\n".join(lines)


# -- goals -------------------------------------------------------------------------------------


def method_label(method: str, cell: DedupCell | Stopped | None) -> str:
    """A new method's name in the goals line; the exact one's says how it probed."""
    if method == "numpy":
        return "exact with NumPy probing (numba off)"
    if method == "exact" and isinstance(cell, DedupCell) and cell.compiled is not None:
        return f"exact with {'numba' if cell.compiled else 'NumPy'} probing"
    return {"exact": "exact", "faiss": "FAISS"}[method]


def goals_line(
    dedups: dict[str, Cells],
    searches: Sequence[tuple[SearchData, SearchCell | Stopped]],
) -> str:
    """The issue's goals, each met or not by the measured numbers (never extrapolated)."""

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    parts = []
    for goal, n, limit, memory in (
        ("dedup of 100k distinct < 10 s", 100_000, GOAL_100K_SECONDS, False),
        ("dedup of 1M distinct < 5 min", 1_000_000, GOAL_1M_SECONDS, False),
        ("peak memory for 100k < 1 GiB", 100_000, GOAL_100K_BYTES, True),
    ):
        found = []
        for name, cells in dedups.items():
            for method in ("exact", "numpy", "faiss"):
                cell = cells.get((method, n))
                who = f"{method_label(method, cell)} `{name}`"
                if isinstance(cell, DedupCell):
                    value = cell.peak if memory else cell.seconds
                    shown = mib(value) if memory else duration(value)
                    found.append(f"{verdict(value < limit)} with {who} ({shown})")
                elif isinstance(cell, Stopped):
                    found.append(f"NOT MET with {who} ({cell.reason})")
        parts.append(f"{goal}: " + (", ".join(found) or "not measured (N not in --sizes)"))
    recalls = [
        f"{verdict(cell.recall >= GOAL_RECALL)} on {data.label} ({cell.recall:.3f})"
        for data, cell in searches
        if isinstance(cell, SearchCell) and cell.recall is not None and data.kind == "clustered"
    ]
    others = [
        f"{data.label}: {cell.recall:.3f}"
        for data, cell in searches
        if isinstance(cell, SearchCell) and cell.recall is not None and data.kind != "clustered"
    ]
    parts.append(
        f"FAISS recall@{K} >= {GOAL_RECALL}: "
        + (", ".join(recalls) or "not measured")
        + (f" (for reference, {'; '.join(others)})" if others else "")
    )
    return "Goals: " + "; ".join(parts) + "."


# -- command line ------------------------------------------------------------------------------


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/scale.py", "--sizes", *map(str, args.sizes)]
    for option in (*DEFAULTS, "config", "cell_timeout", "seed"):
        if option != "sizes":
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return shlex.join(command)


def memory_total() -> str:
    """The machine's RAM, when the OS says."""
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB RAM, "
    except (ValueError, OSError, AttributeError):
        return ""


def load() -> str:
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _count(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments, with ``--quick``'s sizes where the command line gives none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes everywhere (a smoke test, in seconds)"
    )
    parser.add_argument(
        "--sizes",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="numbers of distinct embeddings to dedup (default: 1000 10000 100000 1000000)",
    )
    parser.add_argument(
        "--config",
        choices=CONFIG_CHOICES,
        default="both",
        help="hash config: default (flip, windows (1.0, 0.7, 0.5)), single (no flip, windows "
        "(1.0,)) or both (default: both)",
    )
    for option, text in (
        ("greedy_limit", "largest N the previous greedy runs at; above, extrapolated"),
        ("pairwise_limit", "largest N the 0.1 loop runs at; above, extrapolated"),
        ("numpy_limit", "largest N exact with NumPy probing runs at; above, not run"),
        ("planted", "items of the planted near-duplicates set (0: skip it)"),
        ("planted_check", "items of the planted set on which the previous greedy checks exact"),
        ("search_n", "hash embeddings in each search index (0: skip)"),
        ("search_float_n", f"{FLOAT_WIDTH}-d float32 embeddings in each search index (0: skip)"),
        ("clusters", "cluster centres of the clustered float data"),
        ("queries", "search queries per index"),
    ):
        zero_ok = option in ("planted", "search_n", "search_float_n")
        parser.add_argument(
            f"--{option.replace('_', '-')}",
            type=_count if zero_ok else positive_int,
            metavar="N",
            help=f"{text} (default: {DEFAULTS[option]:,}; --quick: {QUICK[option]:,})",
        )
    parser.add_argument(
        "--cell-timeout",
        type=positive_int,
        default=1200,
        metavar="SECONDS",
        help="kill a cell (one method, one size) still running after this (default: 1200)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    for option, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    args.sizes = sorted(set(args.sizes))
    return args


def run_dedups(args: argparse.Namespace, with_faiss: bool) -> tuple[dict[str, Cells], list[int]]:
    """Every method at every row size, per config."""
    largest = args.sizes[-1]
    rows = sorted(
        {
            *args.sizes,
            *(limit for limit in (args.greedy_limit, args.pairwise_limit) if limit < largest),
        }
    )
    limits = {
        "numpy": args.numpy_limit,
        "greedy": args.greedy_limit,
        "pairwise": args.pairwise_limit,
    }
    names = list(CONFIGS) if args.config == "both" else [args.config]
    dedups: dict[str, Cells] = {}
    for name in names:
        cells: Cells = {}
        for n in rows:
            for method in METHODS:
                if method == "faiss" and not with_faiss:
                    cells[(method, n)] = Stopped("faiss not installed")
                    continue
                if n > limits.get(method, n):
                    continue
                cell = in_fresh_process(
                    dedup_cell, (method, HashData(name, n, args.seed)), args.cell_timeout
                )
                cells[(method, n)] = cell
                shown = cell.reason if isinstance(cell, Stopped) else duration(cell.seconds)
                progress(f"dedup {name} N={n:,} {method}: {shown}")
        dedups[name] = cells
    return dedups, rows


def run_planted(args: argparse.Namespace, with_faiss: bool) -> dict[str, Cells]:
    """The planted near-duplicates set per config, and the greedy check on a smaller one."""
    names = list(CONFIGS) if args.config == "both" else [args.config]
    planted: dict[str, Cells] = {}
    for name in names:
        cells: Cells = {}
        runs = [
            ("exact", args.planted),
            ("exact", args.planted_check),
            ("greedy", args.planted_check),
        ]
        if with_faiss:
            runs.insert(1, ("faiss", args.planted))
        if args.planted <= args.numpy_limit:
            runs.insert(1, ("numpy", args.planted))
        for method, n in runs:
            data = HashData(name, n, args.seed, planted=True)
            cell = in_fresh_process(dedup_cell, (method, data), args.cell_timeout)
            cells[(method, n)] = cell
            shown = cell.reason if isinstance(cell, Stopped) else duration(cell.seconds)
            progress(f"planted {name} N={n:,} {method}: {shown}")
        planted[name] = cells
    return planted


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run every cell and print the tables; 1 when a check failed."""
    args = parse(argv)
    with_faiss = find_spec("faiss") is not None
    with_numba = find_spec("numba") is not None
    load_before = load()
    dedups, rows = run_dedups(args, with_faiss)
    planted = run_planted(args, with_faiss) if args.planted else {}
    searches: list[tuple[SearchData, SearchCell | Stopped]] = []
    names = list(CONFIGS) if args.config == "both" else [args.config]
    sized = [(kind, args.search_n) for kind in names] + [
        (kind, args.search_float_n) for kind in FLOAT_KINDS
    ]
    for kind, n in sized:
        if not n:
            continue
        data = SearchData(kind, n, args.clusters, args.queries, args.seed)
        searches.append(
            (data, in_fresh_process(search_cell, (data, with_faiss), args.cell_timeout))
        )
        progress(f"search {data.label}: done")

    print()
    for name, cells in dedups.items():
        print(dedup_table(name, cells, rows, with_numba, args.numpy_limit))
        print()
    if planted:
        print(
            planted_table(planted, args.planted, args.planted_check, with_numba, args.numpy_limit)
        )
        print()
    if searches:
        print(search_table(searches))
        print()
    print(goals_line(dedups, searches))
    print()
    baselines = [
        cell.baseline
        for cells in [*dedups.values(), *planted.values()]
        for cell in cells.values()
        if isinstance(cell, DedupCell)
    ]
    baseline = f"{mib(statistics.median(baselines))}" if baselines else "unknown"
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, {memory_total()}Python "
        f"{platform.python_version()}, NumPy {version('numpy')}, "
        f"{'faiss-cpu ' + version('faiss-cpu') if with_faiss else 'no FAISS'}, "
        f"{'numba ' + version('numba') if with_numba else 'no numba'}, imageprism "
        f"{version('imageprism-core')}); load average {load_before} before, {load()} after "
        f"(other jobs share the CPUs: timings are noisy); seed {args.seed}. One timed run per "
        f"cell, each in a fresh process (its RSS after the imports, not counted: {baseline}); "
        f"previous greedy run up to N={args.greedy_limit:,}, 0.1 loop up to "
        f"N={args.pairwise_limit:,}, exact with NumPy probing up to N={args.numpy_limit:,}; "
        f"search: median of {args.queries} queries. Reproduce (from "
        f"the repository root): `{reproduce_command(args)}`"
    )
    return 1 if failed(dedups, planted, searches) else 0


def failed(
    dedups: dict[str, Cells],
    planted: dict[str, Cells],
    searches: Sequence[tuple[SearchData, SearchCell | Stopped]],
) -> bool:
    """Whether a check failed: a cell failed, a dedup answer is wrong, or a search missed its
    source."""
    for cells in [*dedups.values(), *planted.values()]:
        if any(isinstance(cell, Stopped) and cell.failed for cell in cells.values()):
            return True
        answers = {key: cell for key, cell in cells.items() if isinstance(cell, DedupCell)}
        if any(cell.wrong for cell in answers.values()):
            return True
        for (_, n), cell in answers.items():
            exact = answers.get(("exact", n))
            if exact is not None and not np.array_equal(cell.labels, exact.labels):
                return True
    return any(
        (isinstance(cell, Stopped) and cell.failed)
        or (isinstance(cell, SearchCell) and cell.exact_top1 < len(cell.exact_seconds))
        for _, cell in searches
    )


if __name__ == "__main__":
    sys.exit(main())
