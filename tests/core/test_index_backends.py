"""ImageIndex backends: FAISS search agrees with the exact scan."""

import numpy as np
import pytest
from fakes import registry_with
from PIL import Image

from imageprism import ImagePrism
from imageprism.errors import ConfigError
from imageprism.index.index import ImageIndex

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (extra: faiss)")


def _pictures(count, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        out.append(Image.fromarray(small).resize((64, 64), Image.Resampling.BILINEAR))
    return out


@pytest.mark.parametrize(
    "config", [{}, {"flip": False, "windows": [1.0]}, {"combine": "max"}, {"combine": "min"}]
)
def test_faiss_top_k_equals_the_exact_top_k_for_hashes(config):
    prism = ImagePrism(config={"hash": config})
    pictures = _pictures(120)
    exact = prism.index(pictures, backend="exact")
    fast = ImageIndex(prism, backend="faiss")
    fast.add(pictures)
    for query in [pictures[3], pictures[50].rotate(3), _pictures(1, seed=9)[0]]:
        want = [(h.id, h.weighted_score) for h in exact.search(query, k=7)]
        got = [(h.id, h.weighted_score) for h in fast.search(query, k=7)]
        # equal scores may come in either order only when tied
        assert sorted(got, key=lambda h: (-h[1], h[0])) == sorted(want, key=lambda h: (-h[1], h[0]))
        assert [s for _, s in got] == [s for _, s in want]


def test_faiss_index_finds_new_images_after_add():
    prism = ImagePrism()
    pictures = _pictures(30)
    index = ImageIndex(prism, backend="faiss")
    index.add(pictures[:20])
    assert index.search(pictures[25], k=1)[0].weighted_score < 1.0
    index.add(pictures[20:])
    assert index.search(pictures[25], k=1)[0].index == 25


def test_auto_backend_stays_exact_for_small_indexes():
    index = ImagePrism().index(_pictures(5))
    assert index.backend == "auto" and not index._uses_faiss()


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match="backend must be"):
        ImageIndex(ImagePrism(), backend="annoy")


def test_faiss_top_k_equals_the_exact_top_k_for_a_cosine_dimension():
    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    pictures = _pictures(60, seed=4)
    exact = prism.index(pictures, backend="exact")
    fast = prism.index(pictures, backend="faiss")
    for query in pictures[:5]:
        want = [h.index for h in exact.search(query, k=5)]
        assert [h.index for h in fast.search(query, k=5)] == want


def _index_of(prism, rows, backend):
    matrix = np.stack(rows)
    return ImageIndex._from_columns(
        prism,
        [str(i) for i in range(len(rows))],
        {"hash": (matrix, np.ones(len(rows), bool))},
        "test",
        backend,
    )


def test_faiss_top_k_is_exact_when_the_score_is_not_the_code_distance(monkeypatch):
    # combine="min": ten rows 8 bits off in one hash (sum 8, worst 8) rank below one row
    # 3 bits off in each (sum 9, worst 3); a nearest-code search would rank them first
    prism = ImagePrism(config={"hash": {"combine": "min", "flip": False, "windows": [1.0]}})
    query = np.zeros(24, np.uint8)
    rows = []
    for _ in range(10):
        row = query.copy()
        row[0] = 0xFF
        rows.append(row)
    best = query.copy()
    best[[0, 8, 16]] = 0x07
    rows.append(best)
    monkeypatch.setattr(prism, "embed", lambda _: {"hash": query})
    for backend in ("exact", "faiss"):
        assert _index_of(prism, rows, backend).search("q", k=1)[0].index == 10


def test_faiss_search_without_a_query_embedding_scans_every_row(monkeypatch):
    from fakes import registry_with

    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], registry=registry)
    index = prism.index(_pictures(8), backend="faiss")
    monkeypatch.setattr(prism, "embed", lambda _: {"colour": None})
    assert len(index.search("q", k=3)) == 3
