"""Dedup and top-10 search at scale: time and memory of the exact paths, on random embeddings.

What it measures, in one process, on embeddings drawn at random (no images are read: the
embedding step is skipped and the internal paths are called on embeddings directly):

- Dedup of ``N`` distinct hash embeddings, for every ``N`` of ``--sizes`` (default 1,000 and
  10,000). Each embedding is ``HashDimension(config).embedding_size`` uniform random bytes
  (seeded with ``--seed``), for the hash config ``default`` (``HashConfig()``: flip, windows
  ``(1.0, 0.7, 0.5)``, 144 bytes) and/or ``single`` (``HashConfig(flip=False,
  windows=(1.0,))``, the 0.1-like single set of hashes, 24 bytes), chosen with ``--config``
  (default: both). Random hashes score about 0.6 (default) or 0.5 (single) against each
  other, far below the threshold of 0.9 (``ImagePrism.dedup``'s default), so every item
  becomes a representative and is compared with all the earlier ones: ``N (N - 1) / 2``
  pairs, the worst case of greedy dedup. The script checks that every item came out unique.

  - ``exact vectorised``: what ``ImagePrism.dedup`` does after embedding, unchanged:
    ``greedy_groups_many`` with a ``score_many`` that appends the new representatives to an
    ``EmbeddingTable`` and scores the item against all of them with
    ``EmbeddingTable.scores`` (the hash dimension's ``similarity_many``, weight 1.0,
    ``missing_scores="zero"``).
  - ``0.1 pairwise loop``: the 0.1 algorithm, ``greedy_groups`` with a scalar score,
    ``HashDimension.similarity`` (today's code) called once per (item, representative)
    pair. It is run only for ``N <= --pairwise-limit`` (default 3,000); for larger ``N`` its
    time is extrapolated quadratically from the largest ``N`` it ran at (time per pair times
    ``N (N - 1) / 2``), and the table says "extrapolated".
  - The exact method is extrapolated the same way, from its time per pair at the largest
    measured ``N``, to 100,000 and 1,000,000 (unless measured), marked "extrapolated"; its
    peak memory is extrapolated linearly (a straight line through the two largest measured
    ``N``; proportionally when only one was measured).
  - ``FAISS``: an approximate backend does not exist yet; the column says "not implemented".

  Each method and ``N`` runs twice on the same embeddings. The first run is timed (one run,
  not a median: these are long) and gives ``RSS growth``, the rise of the process's peak
  resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) from before the
  embeddings are built to after the dedup. That is a high-water mark: a run that stays under
  an earlier run's peak shows little or no growth. The second run is traced with
  ``tracemalloc`` (which slows Python code, hence the separate run) and gives the peak
  traced memory from building the inputs (``N`` dicts ``{"hash": row}`` over one ``N x
  bytes`` matrix, as ``ImagePrism.dedup`` holds one embedding dict per image) to the end of
  the dedup; the inputs' own share is shown in brackets.

- Top-10 search latency with the exact scoring of ``ImageIndex.search`` (after the query is
  embedded): ``EmbeddingTable.scores`` over every row (in chunks of 65,536 rows), then the
  same ranking (``np.lexsort`` on the weighted score, earliest first on ties) cut to the
  first 10. Over ``--search-n`` (default 1,000,000) random hash embeddings per hash config,
  and over ``--search-float-n`` (default 200,000: 1,000,000 would need 2 GB for the matrix
  alone, plus the growth copy) random unit-length 512-d float32 embeddings, scored by a
  dimension whose ``similarity_many`` is ``imageprism_models.embedding.cosine_scores`` (what
  the model pack's cosine dimensions use: one matrix product per chunk). Queries are
  ``--queries`` (default 7) indexed rows drawn at random, each searched once after one
  untimed warm-up query; the table gives the median latency (and the range), and checks that
  each query finds itself first. ``query memory`` is the ``tracemalloc`` peak of one more
  search (the per-chunk temporaries). The search is exact, so its recall@10 is 1 by
  construction ("n/a (exact)"); the ANN row is "not implemented".

A final line compares the numbers with the issue's goals: dedup of 100k distinct images in
under 10 s, of 1M in under 5 min, peak memory under 1 GiB for 100k, and an ANN backend with
recall@10 >= 0.95.

Run from the repository root::

    .venv/bin/python benchmarks/scale.py [--sizes 1000 10000] [--config both]
        [--pairwise-limit 3000] [--search-n 1000000] [--search-float-n 200000] [--queries 7]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shlex
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _common import positive_int

from imageprism import HashConfig
from imageprism.dedup import greedy_groups, greedy_groups_many
from imageprism.dimension import Dimension, Metric
from imageprism.dimensions.hash import HashDimension
from imageprism.images import PreparedImage
from imageprism.scoring import EmbeddingTable
from imageprism_models.embedding import cosine_scores, unit_rows

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS: dict[str, HashConfig] = {
    "default": HashConfig(),
    "single": HashConfig(flip=False, windows=(1.0,)),
}
CONFIG_CHOICES = (*CONFIGS, "both")
DEFAULT_SIZES = (1_000, 10_000)
EXTRAPOLATE_TO = (100_000, 1_000_000)
THRESHOLD = 0.9  # ImagePrism.dedup's default
NAME = "hash"
WEIGHTS = {NAME: 1.0}
K = 10
FLOAT_NAME = "float"
FLOAT_WIDTH = 512
ROWS_PER_CHUNK = 65_536  # rows generated at a time when building the search tables
MIB = 1 << 20
GIB = 1 << 30

# goals of the issue
GOAL_100K_SECONDS = 10.0
GOAL_1M_SECONDS = 300.0
GOAL_100K_BYTES = GIB
GOAL_RECALL = 0.95

Embeddings = list[dict[str, np.ndarray]]
Dedup = Callable[[HashDimension, Embeddings], tuple[list[int], list[int | None]]]


# -- the two dedup paths -----------------------------------------------------------------------


def dedup_exact(
    dimension: HashDimension, embeddings: Embeddings
) -> tuple[list[int], list[int | None]]:
    """``ImagePrism.dedup`` after embedding: ``greedy_groups_many`` over an ``EmbeddingTable``
    of the representatives so far."""
    dimensions: dict[str, Dimension] = {NAME: dimension}
    representatives = EmbeddingTable([NAME])

    def score_many(item: int, reps: list[int]) -> np.ndarray:
        # ``reps`` only grows, by the items that became representatives, in order
        while len(representatives) < len(reps):
            representatives.append(embeddings[reps[len(representatives)]])
        _, weighted = representatives.scores(dimensions, embeddings[item], WEIGHTS, "zero")
        return weighted

    return greedy_groups_many([True] * len(embeddings), score_many, THRESHOLD)


def dedup_pairwise(
    dimension: HashDimension, embeddings: Embeddings
) -> tuple[list[int], list[int | None]]:
    """The 0.1 loop: ``greedy_groups`` with ``similarity`` called once per pair."""

    def score(item: int, rep: int) -> float | None:
        return dimension.similarity(embeddings[item][NAME], embeddings[rep][NAME])

    return greedy_groups([True] * len(embeddings), score, THRESHOLD)


# -- measuring ---------------------------------------------------------------------------------


def max_rss_bytes() -> int:
    """The process's peak resident set size so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def pairs(n: int) -> int:
    """Comparisons greedy dedup makes when all ``n`` items are distinct."""
    return n * (n - 1) // 2


def random_embeddings(dimension: HashDimension, n: int, seed: int) -> Embeddings:
    """``n`` random hash embeddings, one ``{"hash": row}`` dict per image (rows of one matrix)."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 256, size=(n, dimension.embedding_size), dtype=np.uint8)
    return [{NAME: row} for row in matrix]


@dataclass
class DedupRun:
    """One method at one ``N``: the timed run and the traced run."""

    n: int
    seconds: float
    rss_growth: int
    peak: int
    inputs: int

    @property
    def per_pair(self) -> float:
        return self.seconds / max(1, pairs(self.n))


def check_distinct(method: str, n: int, unique: list[int], labels: list[int | None]) -> None:
    """Fail loudly unless every item came out as its own representative."""
    if len(unique) != n or labels != list(range(n)):
        raise RuntimeError(
            f"{method} at N={n}: {n - len(unique)} random embeddings were grouped as "
            "duplicates; the benchmark assumes all are distinct"
        )


def run_dedup(name: str, method: Dedup, dimension: HashDimension, n: int, seed: int) -> DedupRun:
    """Time ``method`` on ``n`` random embeddings, then run it again under ``tracemalloc``."""
    gc.collect()
    rss_before = max_rss_bytes()
    embeddings = random_embeddings(dimension, n, seed)
    start = time.perf_counter()
    unique, labels = method(dimension, embeddings)
    seconds = time.perf_counter() - start
    rss_growth = max_rss_bytes() - rss_before
    check_distinct(name, n, unique, labels)
    del embeddings, unique, labels
    gc.collect()

    tracemalloc.start()
    try:
        embeddings = random_embeddings(dimension, n, seed)
        inputs = tracemalloc.get_traced_memory()[0]
        method(dimension, embeddings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del embeddings
    gc.collect()
    return DedupRun(n, seconds, rss_growth, peak, inputs)


def linear_memory(runs: Sequence[DedupRun], n: int) -> float:
    """Peak memory at ``n``, on the line through the two largest measured sizes."""
    last = runs[-1]
    if len(runs) < 2 or runs[-2].n == last.n:
        return last.peak * n / last.n
    before = runs[-2]
    slope = (last.peak - before.peak) / (last.n - before.n)
    return last.peak + slope * (n - last.n)


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
    return f"{size / MIB:,.1f} MiB"


def config_label(name: str) -> str:
    """The config's name, its settings and its embedding size."""
    config = CONFIGS[name]
    size = HashDimension(config).embedding_size
    return f"`{name}` (flip={config.flip}, windows={config.windows}; {size} bytes per embedding)"


def dedup_table(
    name: str, exact: Sequence[DedupRun], pairwise: Sequence[DedupRun], sizes: Sequence[int]
) -> str:
    """The dedup table of one config: both methods side by side, one row per ``N``."""
    header = (
        "| N | pairs | exact vectorised: time | ns/pair | peak tracemalloc (inputs) "
        "| RSS growth | 0.1 pairwise loop: time | µs/pair | peak tracemalloc (inputs) "
        "| RSS growth | FAISS |"
    )
    lines = [
        f"Dedup of N distinct random hash embeddings, config {config_label(name)}, "
        f"threshold {THRESHOLD}",
        "",
        header,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    measured_exact = {run.n: run for run in exact}
    measured_pairwise = {run.n: run for run in pairwise}
    rows = sorted({*sizes, *EXTRAPOLATE_TO})
    for n in rows:
        cells = [f"{n:,}", f"{pairs(n):,}"]
        for method, measured, runs, scale in (
            ("exact", measured_exact, exact, 1e9),
            ("pairwise", measured_pairwise, pairwise, 1e6),
        ):
            if n in measured:
                run = measured[n]
                cells += [
                    duration(run.seconds),
                    f"{run.per_pair * scale:,.1f}",
                    f"{mib(run.peak)} ({mib(run.inputs)})",
                    mib(run.rss_growth),
                ]
            elif runs:
                base = runs[-1]
                memory = (
                    f"{mib(linear_memory(runs, n))} (extrapolated)"
                    if method == "exact"
                    else "not run"
                )
                cells += [
                    f"{duration(base.per_pair * pairs(n))} (extrapolated)",
                    f"{base.per_pair * scale:,.1f} (from N={base.n:,})",
                    memory,
                    "not run",
                ]
            else:
                cells += ["not run (no measured size)", "n/a", "not run", "not run"]
        cells.append("not implemented")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- search ------------------------------------------------------------------------------------


class CosineDimension:
    """Scores float embeddings as the model pack's cosine dimensions do (``cosine_scores``);
    it embeds nothing (the benchmark's embeddings are random)."""

    name = FLOAT_NAME
    fingerprint = "benchmark-cosine"
    metric: Metric = "cosine"

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        raise NotImplementedError("the scale benchmark scores random embeddings only")

    def similarity_many(self, a: np.ndarray, others: np.ndarray) -> np.ndarray:
        return cosine_scores(a, others)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(cosine_scores(a, np.asarray(b)[None, :])[0])


@dataclass
class SearchRun:
    """Search latency over one table."""

    label: str
    n: int
    row_bytes: int
    build_seconds: float
    seconds: list[float]
    query_peak: int


def top_k(
    table: EmbeddingTable,
    dimensions: Mapping[str, Dimension],
    query: dict[str, np.ndarray],
    k: int,
) -> np.ndarray:
    """``ImageIndex.search`` after embedding the query: score every row, rank, keep ``k``."""
    weights = {name: 1.0 for name in dimensions}
    _, weighted = table.scores(dimensions, query, weights, "zero")
    ranking = np.where(np.isnan(weighted), -np.inf, weighted)
    return np.lexsort((np.arange(len(ranking)), -ranking))[:k]


def build_table(
    name: str, n: int, chunks: Iterator[np.ndarray], wanted: Sequence[int]
) -> tuple[EmbeddingTable, dict[int, np.ndarray]]:
    """An ``EmbeddingTable`` of the ``n`` rows of ``chunks``, and copies of the ``wanted`` rows."""
    table = EmbeddingTable([name])
    kept: dict[int, np.ndarray] = {}
    wanted_set = set(wanted)
    position = 0
    for chunk in chunks:
        for row in chunk:
            table.append({name: row})
            if position in wanted_set:
                kept[position] = row.copy()
            position += 1
    if position != n:
        raise RuntimeError(f"built {position} rows instead of {n}")
    return table, kept


def hash_chunks(rng: np.random.Generator, n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, ROWS_PER_CHUNK):
        rows = min(ROWS_PER_CHUNK, n - start)
        yield rng.integers(0, 256, size=(rows, size), dtype=np.uint8)


def float_chunks(rng: np.random.Generator, n: int) -> Iterator[np.ndarray]:
    for start in range(0, n, ROWS_PER_CHUNK):
        rows = min(ROWS_PER_CHUNK, n - start)
        yield unit_rows(rng.standard_normal((rows, FLOAT_WIDTH), dtype=np.float32))


def run_search(
    label: str,
    name: str,
    dimension: Dimension,
    n: int,
    make_chunks: Callable[[np.random.Generator], Iterator[np.ndarray]],
    queries: int,
    seed: int,
) -> SearchRun:
    """Build a table of ``n`` random rows, then time top-10 searches for indexed rows."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(n, size=min(n, queries + 2), replace=False)
    gc.collect()
    start = time.perf_counter()
    table, kept = build_table(name, n, make_chunks(rng), picked.tolist())
    build_seconds = time.perf_counter() - start
    dimensions = {name: dimension}
    matrix, _ = table.columns()[name]
    assert matrix is not None
    row_bytes = matrix.shape[1] * matrix.dtype.itemsize

    def search(position: int) -> float:
        begin = time.perf_counter()
        order = top_k(table, dimensions, {name: kept[position]}, K)
        elapsed = time.perf_counter() - begin
        if int(order[0]) != position:
            raise RuntimeError(f"{label}: row {position} did not find itself first ({order})")
        return elapsed

    warm_up, *timed, traced = picked.tolist()
    search(warm_up)
    seconds = [search(int(position)) for position in timed]
    tracemalloc.start()
    try:
        search(traced)
        query_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return SearchRun(label, n, row_bytes, build_seconds, seconds, query_peak)


def search_table(runs: Sequence[SearchRun]) -> str:
    """The search table in markdown, with the (missing) ANN backend as its last row."""
    lines = [
        f"Top-{K} search, exact scoring as ImageIndex.search (after embedding the query)",
        "",
        f"| embeddings | N | bytes/row | table | top-{K} latency (median) | range "
        f"| query memory | build | recall@{K} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        median = statistics.median(run.seconds)
        lines.append(
            f"| {run.label} | {run.n:,} | {run.row_bytes} | {mib(run.n * run.row_bytes)} "
            f"| {median * 1000:,.1f} ms | {min(run.seconds) * 1000:,.1f}-"
            f"{max(run.seconds) * 1000:,.1f} ms | {mib(run.query_peak)} "
            f"| {run.build_seconds:.1f} s | n/a (exact) |"
        )
    lines.append("| ANN (FAISS) | - | - | - | not implemented | - | - | - | not implemented |")
    return "\n".join(lines)


# -- goals -------------------------------------------------------------------------------------


def exact_at(runs: Sequence[DedupRun], n: int) -> tuple[float, float, str]:
    """The exact method's seconds and peak memory at ``n``, and "measured" or "extrapolated"."""
    for run in runs:
        if run.n == n:
            return run.seconds, float(run.peak), "measured"
    return runs[-1].per_pair * pairs(n), linear_memory(runs, n), "extrapolated"


def goals_line(exact: Mapping[str, Sequence[DedupRun]]) -> str:
    """The issue's goals, each met or not met by the (measured or extrapolated) numbers."""

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    parts = []
    for goal, n, limit, which in (
        ("dedup of 100k distinct < 10 s", 100_000, GOAL_100K_SECONDS, 0),
        ("dedup of 1M distinct < 5 min", 1_000_000, GOAL_1M_SECONDS, 0),
        ("peak memory for 100k < 1 GiB", 100_000, GOAL_100K_BYTES, 1),
    ):
        found = []
        for name, runs in exact.items():
            values = exact_at(runs, n)
            value = values[which]
            shown = duration(value) if which == 0 else mib(value)
            found.append(f"{verdict(value < limit)} with `{name}` ({shown} {values[2]})")
        parts.append(f"{goal}: " + ", ".join(found))
    parts.append(
        f"ANN recall@{K} >= {GOAL_RECALL}: NOT MET (no ANN/FAISS backend yet; the exact "
        f"search's recall@{K} is 1 by construction)"
    )
    return "Goals (exact vectorised dedup, tracemalloc peak): " + "; ".join(parts) + "."


# -- command line ------------------------------------------------------------------------------


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line (from the repository root) that reruns this benchmark."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO_ROOT):
        python = python.relative_to(REPO_ROOT)
    command = [str(python), "benchmarks/scale.py", "--sizes", *map(str, args.sizes)]
    command += ["--config", args.config, "--pairwise-limit", str(args.pairwise_limit)]
    command += ["--search-n", str(args.search_n), "--search-float-n", str(args.search_float_n)]
    command += ["--queries", str(args.queries), "--seed", str(args.seed)]
    return shlex.join(command)


def memory_total() -> str:
    """The machine's RAM, when the OS says."""
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB RAM, "
    except (ValueError, OSError, AttributeError):
        return ""


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the dedup and search measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=positive_int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        metavar="N",
        help="numbers of distinct embeddings to dedup (default: 1000 10000)",
    )
    parser.add_argument(
        "--config",
        choices=CONFIG_CHOICES,
        default="both",
        help="hash config: default (flip, windows (1.0, 0.7, 0.5)), single (no flip, windows "
        "(1.0,)) or both (default: both)",
    )
    parser.add_argument(
        "--pairwise-limit",
        type=positive_int,
        default=3000,
        metavar="N",
        help="largest N the 0.1 pairwise loop runs at; above it, extrapolated (default: 3000)",
    )
    parser.add_argument(
        "--search-n",
        type=positive_int,
        default=1_000_000,
        metavar="N",
        help="hash embeddings in the search table (default: 1000000)",
    )
    parser.add_argument(
        "--search-float-n",
        type=positive_int,
        default=200_000,
        metavar="N",
        help=f"{FLOAT_WIDTH}-d float32 embeddings in the search table (default: 200000)",
    )
    parser.add_argument(
        "--queries", type=positive_int, default=7, help="timed search queries (default: 7)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)

    sizes = sorted(set(args.sizes))
    names = list(CONFIGS) if args.config == "both" else [args.config]
    exact: dict[str, list[DedupRun]] = {}
    pairwise: dict[str, list[DedupRun]] = {}
    for name in names:
        dimension = HashDimension(CONFIGS[name])
        exact[name], pairwise[name] = [], []
        for n in sizes:
            run = run_dedup("exact", dedup_exact, dimension, n, args.seed)
            exact[name].append(run)
            progress(f"dedup {name} N={n:,} exact: {duration(run.seconds)}, {mib(run.peak)}")
            if n <= args.pairwise_limit:
                run = run_dedup("pairwise", dedup_pairwise, dimension, n, args.seed)
                pairwise[name].append(run)
                progress(f"dedup {name} N={n:,} pairwise: {duration(run.seconds)}")

    searches = []
    for name in names:
        dimension = HashDimension(CONFIGS[name])
        size = dimension.embedding_size
        searches.append(
            run_search(
                f"hash `{name}` (uint8, XOR + popcount)",
                NAME,
                dimension,
                args.search_n,
                lambda rng, size=size: hash_chunks(rng, args.search_n, size),
                args.queries,
                args.seed,
            )
        )
        gc.collect()  # the table is gone with run_search's frame
        progress(f"search hash {name}: done")
    searches.append(
        run_search(
            f"float32 {FLOAT_WIDTH}-d (cosine_scores)",
            FLOAT_NAME,
            CosineDimension(),
            args.search_float_n,
            lambda rng: float_chunks(rng, args.search_float_n),
            args.queries,
            args.seed,
        )
    )
    progress("search float: done")

    print()
    for name in names:
        print(dedup_table(name, exact[name], pairwise[name], sizes))
        print()
    print(search_table(searches))
    print()
    print(goals_line(exact))
    print()
    float_note = (
        f" (not {args.search_n:,}: {args.search_n * FLOAT_WIDTH * 4 / GIB:.1f} GiB of float32)"
        if args.search_float_n < args.search_n
        else ""
    )
    print(
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}, {memory_total()}Python "
        f"{platform.python_version()}, NumPy {version('numpy')}, imageprism "
        f"{version('imageprism-core')}); seed {args.seed}; dedup threshold {THRESHOLD}, one "
        f"timed run per cell plus one tracemalloc run; pairwise loop run up to N="
        f"{args.pairwise_limit:,}; search: median of {args.queries} queries after 1 warm-up; "
        f"float search over {args.search_float_n:,} rows{float_note}. Reproduce (from the "
        f"repository root): `{reproduce_command(args)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
