"""imageprism.integrations.ray: embedding batches, reading them back, shard dedup, local Ray."""

from __future__ import annotations

import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fakes import registry_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance, ImageFilter

from imageprism import (
    ConfigError,
    HashConfig,
    ImageIndex,
    ImagePrism,
    ImagePrismError,
    IndexFileError,
    UnknownDimensionError,
)

pytest.importorskip("ray", reason='Ray Data is not installed: pip install "imageprism-core[ray]"')

import pyarrow as pa
import pyarrow.parquet as pq

from imageprism.integrations.ray import (
    EmbedConfig,
    EmbedImages,
    dedup_shard,
    embed_dataset,
    final_labels,
    merge_shard_representatives,
    to_index,
    write_embeddings_file,
)

THRESHOLD = 0.85  # the blends below chain: x ~ mix25 ~ mix50, but x !~ mix50


def _pattern(seed: int) -> Image.Image:
    """A distinct picture: random 6x6 colour blocks, smoothly enlarged."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((96, 96), Image.Resampling.BILINEAR)


def _save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """300 distinct pictures (PNG and JPEG) and three files that are not images."""
    root = tmp_path_factory.mktemp("ray_photos")
    good = [
        _save(_pattern(seed), root / f"{seed:03d}.{'png' if seed % 2 else 'jpg'}")
        for seed in range(300)
    ]
    (root / "notes.jpg").write_bytes(b"not an image at all")
    (root / "empty.png").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(good[0].read_bytes()[:200])
    bad = [root / "notes.jpg", root / "empty.png", root / "truncated.jpg"]
    return {"good": good, "bad": bad}


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pictures with near-duplicates: per base, re-encodings, edits and a blend chain."""
    root = tmp_path_factory.mktemp("ray_clusters")
    out: dict[str, Path] = {}
    for base in range(4):
        x, y = _pattern(100 + base), _pattern(200 + base)
        out[f"{base}x"] = _save(x, root / f"{base}x.png")
        out[f"{base}q30"] = _save(x, root / f"{base}q30.jpg", quality=30)
        out[f"{base}blur"] = _save(x.filter(ImageFilter.GaussianBlur(5)), root / f"{base}blur.png")
        bright = ImageEnhance.Brightness(x).enhance(1.4)
        out[f"{base}bright"] = _save(bright, root / f"{base}bright.png")
        out[f"{base}half"] = _save(x.resize((48, 48)), root / f"{base}half.png")
        for share in (25, 50, 60):
            blend = Image.blend(x, y, share / 100)
            out[f"{base}mix{share}"] = _save(blend, root / f"{base}mix{share}.png")
        out[f"{base}y"] = _save(y, root / f"{base}y.png")
    return out


def _batch(images: list[object], ids: list[str]) -> pa.Table:
    return pa.table({"bytes": pa.array(images, pa.binary()), "path": pa.array(ids, pa.string())})


def _table_of(paths: list[Path], prism_config: EmbedConfig | None = None) -> pa.Table:
    """What EmbedImages makes of these files, read as bytes, ids their names."""
    return EmbedImages(prism_config)(
        _batch([p.read_bytes() for p in paths], [p.name for p in paths])
    )


# -- EmbedImages, one batch at a time ----------------------------------------------------


@pytest.mark.parametrize("batch_format", ["pyarrow", "numpy", "pandas"])
def test_embed_images_gives_embed_many_embeddings_and_keeps_good_rows_around_bad_ones(
    folder, batch_format
):
    good, bad = folder["good"][:20], folder["bad"]
    paths = [bad[0], *good[:10], bad[1], *good[10:], bad[2]]
    images: list[object] = [p.read_bytes() for p in paths] + [None]
    ids = [p.name for p in paths] + ["nothing"]
    table = _batch(images, ids)
    batch = {
        "pyarrow": lambda: table,
        "numpy": lambda: {name: table.column(name).to_numpy() for name in table.column_names},
        "pandas": lambda: table.to_pandas(),
    }[batch_format]()

    out = EmbedImages()(batch)

    expected = ImagePrism().embed_many(paths)
    assert out.column_names == ["path", "hash", "error", "imageprism"]
    assert out.column("path").to_pylist() == ids
    hashes, errors = out.column("hash").to_pylist(), out.column("error").to_pylist()
    for row, embedding in enumerate(expected.embeddings):
        if embedding is None:
            assert hashes[row] is None and errors[row]
        else:
            assert hashes[row] == embedding["hash"].tobytes() and errors[row] is None
    reasons = {failure.index: failure.reason for failure in expected.errors}
    assert {row: errors[row] for row in reasons} == reasons and len(reasons) == 3
    assert hashes[-1] is None and errors[-1] == "no image: the image column is null"


def test_embed_images_reads_paths_and_reports_a_missing_file(folder, tmp_path):
    paths = [str(p) for p in folder["good"][:5]] + [str(tmp_path / "gone.jpg")]
    config = EmbedConfig(image_column="path", id_column="path")

    out = EmbedImages(config)(pa.table({"path": paths}))

    assert out.column("path").to_pylist() == paths
    assert out.column("error").to_pylist() == [None] * 5 + ["no such file"]
    expected = ImagePrism().embed_many(paths[:5]).embeddings
    assert out.column("hash").to_pylist()[:5] == [e["hash"].tobytes() for e in expected]


def test_embed_images_names_the_column_it_cannot_find(folder):
    with pytest.raises(ConfigError, match=r"no column 'image'.*bytes, path"):
        EmbedImages(EmbedConfig(image_column="image"))(_batch([b"x"], ["a"]))


def test_embed_config_refuses_clashing_columns_and_unknown_dimensions():
    for id_column in ("hash", "error", "imageprism"):
        with pytest.raises(ConfigError, match="output columns must differ"):
            EmbedConfig(id_column=id_column).prism()
    with pytest.raises(UnknownDimensionError):
        EmbedConfig(dimensions="no-such-dimension").prism()
    with pytest.raises(ValueError, match="batch_size"):
        EmbedConfig(batch_size=0)
    with pytest.raises(ValueError, match="extra"):
        EmbedConfig(dimension=["hash"])


def test_embed_config_is_plain_picklable_data_that_builds_the_same_prism():
    config = EmbedConfig(dimensions="hash", config={"hash": HashConfig(hash_size=16)})
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config and config.config == {"hash": HashConfig(hash_size=16).model_dump()}
    direct = ImagePrism(config={"hash": HashConfig(hash_size=16)})
    assert copy.prism().dimension("hash").fingerprint == direct.dimension("hash").fingerprint


# -- reading the results back --------------------------------------------------------------


def _write_shards(table: pa.Table, folder: Path, sizes: list[int]) -> Path:
    folder.mkdir()
    start = 0
    for number, size in enumerate(sizes):
        pq.write_table(table.slice(start, size), folder / f"part-{number}.parquet")
        start += size
    return folder


def test_parquet_shards_become_the_index_and_embeddings_file_of_the_good_rows(folder, tmp_path):
    paths = [*folder["good"][:30], *folder["bad"]]
    shards = _write_shards(_table_of(paths), tmp_path / "shards", [10, 15, 8])
    prism = ImagePrism()
    direct = prism.index(folder["good"][:30], ids=[p.name for p in folder["good"][:30]])

    index = to_index(shards, prism)
    npz = write_embeddings_file(shards, tmp_path / "e.npz", prism)
    parquet = write_embeddings_file([shards], tmp_path / "e.parquet", prism)

    for built in (index, ImageIndex.from_embeddings(npz), ImageIndex.from_embeddings(parquet)):
        assert built.ids == direct.ids
        hits = built.search(folder["good"][7], k=3)
        assert [(h.id, h.weighted_score) for h in hits] == [
            (h.id, h.weighted_score) for h in direct.search(folder["good"][7], k=3)
        ]


def test_readers_refuse_rows_made_with_other_settings_or_not_by_embed_images(folder, tmp_path):
    table = _table_of(folder["good"][:4])
    other = ImagePrism(config={"hash": HashConfig(hash_size=16)})
    with pytest.raises(IndexFileError, match=r"other dimensions or settings.*hash"):
        to_index(table, other)
    registry, _ = registry_with("colour")
    with pytest.raises(IndexFileError, match=r"other dimensions or settings.*colour"):
        to_index(table, ImagePrism(["hash", "colour"], registry=registry))
    with pytest.raises(IndexFileError, match="no 'imageprism' column"):
        to_index(table.drop_columns(["imageprism"]), ImagePrism())
    mixed = pa.concat_tables(
        [table, _table_of(folder["good"][4:6], EmbedConfig(config={"hash": {"hash_size": 16}}))]
    )
    with pytest.raises(IndexFileError, match="mixes rows made with different settings"):
        to_index(mixed, ImagePrism())
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFileError, match="holds no .parquet files"):
        to_index(tmp_path / "empty", ImagePrism())
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(IndexFileError, match="cannot read .*junk.parquet"):
        to_index(tmp_path / "junk.parquet", ImagePrism())


def test_a_cosine_dimension_without_some_embeddings_survives_the_round_trip(folder, tmp_path):
    registry, _ = registry_with("colour")
    prism = ImagePrism(["colour"], config={"colour": {"none_when_dark": True}}, registry=registry)
    embedder = EmbedImages()
    embedder.prism = prism  # the workers' registry would hold the plugin; here the test's does
    dark = _save(Image.new("RGB", (32, 32), (5, 5, 5)), tmp_path / "dark.png")
    only_dark = embedder(_batch([dark.read_bytes()], ["dark"]))
    mixed = embedder(_batch([p.read_bytes() for p in folder["good"][:3]], ["a", "b", "c"]))
    assert only_dark.column("colour").to_pylist() == [None]
    assert only_dark.column("error").to_pylist() == [None]  # no embedding is not a failure

    index = to_index(pa.concat_tables([only_dark, mixed]), prism)

    assert index.ids == ["dark", "a", "b", "c"]
    matrix, present = index._table.columns()["colour"]
    assert present.tolist() == [False, True, True, True]
    expected = prism.embed_many(folder["good"][:3]).embeddings
    np.testing.assert_array_equal(
        matrix[1:], np.stack([e["colour"] for e in expected]).astype(np.float32)
    )


# -- dedup in shards -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_table(clusters) -> tuple[list[str], pa.Table, np.ndarray]:
    """The cluster pictures embedded, and the hash score of every pair."""
    names = sorted(clusters)
    table = _table_of([clusters[n] for n in names])
    matrix = np.stack([np.frombuffer(v, np.uint8) for v in table.column("hash").to_pylist()])
    hash_dimension = ImagePrism().dimension("hash")
    scores = np.stack([hash_dimension.similarity_many(row, matrix) for row in matrix])
    return names, table, scores


def _shard(table: pa.Table, rows: list[int]) -> pa.Table:
    return table.take(pa.array(rows, pa.int64()))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_merged_shards_link_every_row_to_a_final_representative_that_no_other_matches(
    cluster_table, clusters, data
):
    names, table, scores = cluster_table
    order = data.draw(st.permutations(range(len(names))))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(names) - 1), max_size=5)))
    parts = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    nested = data.draw(st.booleans()) and len(parts) >= 2
    prism = ImagePrism()
    position = {clusters[name].name: i for i, name in enumerate(names)}  # by id

    shards = [dedup_shard(_shard(table, part), prism, THRESHOLD) for part in parts]
    if nested:
        half = len(shards) // 2
        levels = [
            merge_shard_representatives(shards[:half], prism),
            merge_shard_representatives(shards[half:], prism),
        ]
        top = merge_shard_representatives(levels, prism)
        finals = [
            final_labels(shard, levels[0] if n < half else levels[1], top)
            for n, shard in enumerate(shards)
        ]
    else:
        levels, top = [], merge_shard_representatives(shards, prism)
        finals = [final_labels(shard, top) for shard in shards]
        slim = merge_shard_representatives([s.representatives_only() for s in shards], prism)
        assert (slim.ids, slim.labels) == (top.ids, top.labels)
        assert [final_labels(shard, slim) for shard in shards] == finals

    # the first shard alone is exactly ImagePrism.dedup of its pictures, in its order
    alone = prism.dedup([clusters[names[i]] for i in parts[0]], threshold=THRESHOLD)
    assert shards[0].labels == alone.labels
    # every link of every chain is a match: row -> shard rep -> merge rep (-> top rep)
    for result in [*shards, *levels, top]:
        for row, rep in enumerate(result.labels):
            a, b = position[result.ids[row]], position[result.ids[rep]]
            assert scores[a, b] >= THRESHOLD
    # final representatives are representatives of the top merge, pairwise no match
    final_reps = {top.ids[r] for r in top.representatives}
    assert {label for labels in finals for label in labels} <= final_reps
    reps = sorted(position[r] for r in final_reps)
    for i, a in enumerate(reps):
        for b in reps[i + 1 :]:
            assert scores[a, b] < THRESHOLD
    assert sum(len(labels) for labels in finals) == len(names)  # nobody lost


def test_sharding_changes_the_grouping_exactly_where_the_docs_say(clusters, cluster_table):
    names, table, scores = cluster_table
    x, mix25, mix50 = (names.index(n) for n in ("2x", "2mix25", "2mix50"))
    # the chain this relies on: mix25 matches both, x and mix50 do not match each other
    assert scores[mix25, x] >= THRESHOLD and scores[mix25, mix50] >= THRESHOLD
    assert scores[x, mix50] < THRESHOLD
    prism = ImagePrism()
    one_pass = prism.dedup([clusters[names[i]] for i in (x, mix50, mix25)], threshold=THRESHOLD)
    assert one_pass.labels == [0, 1, 0]  # mix25 joins x, the first representative it matches

    # own shard first: mix25 joins mix50 in its shard, and x and mix50 stay apart
    first = dedup_shard(_shard(table, [x]), prism, THRESHOLD)
    second = dedup_shard(_shard(table, [mix50, mix25]), prism, THRESHOLD)
    merged = merge_shard_representatives([first, second], prism)
    assert final_labels(second, merged) == ["2mix50.png", "2mix50.png"]

    # two hops: mix50 joins mix25 in its shard, mix25 joins x in the merge
    second = dedup_shard(_shard(table, [mix25, mix50]), prism, THRESHOLD)
    merged = merge_shard_representatives([first, second], prism)
    assert final_labels(second, merged) == ["2x.png", "2x.png"]  # mix50 below t with x


def test_shard_dedup_reports_failed_rows_and_merges_keep_them(folder):
    table = _table_of([folder["bad"][0], *folder["good"][:3], folder["bad"][1]])
    shard = dedup_shard(table, ImagePrism(), 0.9)
    assert shard.ids == [p.name for p in folder["good"][:3]]
    assert [(e.index, e.source) for e in shard.errors] == [(0, "notes.jpg"), (4, "empty.png")]
    merged = merge_shard_representatives([shard], ImagePrism())
    assert merged.errors == shard.errors
    assert merged.to_dict()["errors"] == [e.to_dict() for e in shard.errors]


def test_merging_refuses_mismatched_shards(folder):
    prism = ImagePrism()
    table = _table_of(folder["good"][:4])
    shard = dedup_shard(table, prism, 0.9)
    with pytest.raises(ConfigError, match="at least one shard"):
        merge_shard_representatives([], prism)
    with pytest.raises(ConfigError, match="different thresholds"):
        merge_shard_representatives([shard, dedup_shard(table, prism, 0.8)], prism)
    with pytest.raises(ConfigError, match="ids must be unique across shards"):
        merge_shard_representatives([shard, shard], prism)
    with pytest.raises(IndexFileError, match="shard 0 was made with other dimensions"):
        merge_shard_representatives([shard], ImagePrism(config={"hash": {"hash_size": 16}}))
    other = dedup_shard(_table_of(folder["good"][4:6]), prism, 0.9)
    with pytest.raises(ConfigError, match="is not in merge 0"):
        final_labels(other, merge_shard_representatives([shard], prism))


def test_embed_dataset_checks_its_arguments_before_any_worker_starts():
    class Untouchable:
        def map_batches(self, *args, **kwargs):
            raise AssertionError("map_batches must not be reached")

    for workers in (0, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
            embed_dataset(Untouchable(), workers=workers)
    with pytest.raises(ConfigError, match="rows_per_batch must be an integer >= 1"):
        embed_dataset(Untouchable(), rows_per_batch=0)
    with pytest.raises(ConfigError, match="output columns must differ"):
        embed_dataset(Untouchable(), EmbedConfig(id_column="error"))


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ImagePrismError, match=r'pip install "imageprism-core\[ray\]"'):
        embed_dataset(object())


# -- a local Ray instance --------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine with 2 CPUs and a small object store (fits a small /dev/shm)."""
    import ray

    # Ray's socket paths must stay short (108 bytes), so not under pytest's deep tmp_path
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
        _temp_dir=temp,
    )
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_shards(local_ray, folder, tmp_path_factory) -> tuple[object, Path]:
    """The folder read by Ray, embedded by two actors, and written as Parquet shards."""
    images = local_ray.data.read_binary_files(str(folder["good"][0].parent), include_paths=True)
    embedded = embed_dataset(images, EmbedConfig(), workers=2).materialize()
    shards = tmp_path_factory.mktemp("ray_shards")
    embedded.write_parquet(str(shards))
    return embedded, shards


def test_ray_embeddings_equal_single_process_embed_many(ray_shards, folder):
    embedded, _ = ray_shards
    paths = [*folder["good"], *folder["bad"]]

    rows = {Path(row["path"]).name: row for row in embedded.iter_rows()}

    assert len(rows) == len(paths)
    expected = ImagePrism().embed_many(paths)
    for path, embedding in zip(paths, expected.embeddings, strict=True):
        if embedding is not None:
            assert rows[path.name]["hash"] == embedding["hash"].tobytes()
            assert rows[path.name]["error"] is None
    failed = {paths[f.index].name: f.reason for f in expected.errors}
    assert {n: r["error"] for n, r in rows.items() if r["error"] is not None} == failed
    assert set(failed) == {p.name for p in folder["bad"]}


def test_ray_results_become_an_index_from_the_dataset_or_its_parquet_shards(ray_shards, folder):
    embedded, shards = ray_shards
    prism = ImagePrism()
    good = sorted(p.name for p in folder["good"])
    for source in (embedded, shards):
        index = to_index(source, prism)
        assert sorted(Path(i).name for i in index.ids) == good
        (hit,) = index.search(folder["good"][5], k=1)
        assert Path(hit.id).name == folder["good"][5].name and hit.weighted_score == 1.0


def test_the_module_docstring_recipe_dedups_parquet_shards_in_ray_tasks(
    local_ray, ray_shards, folder
):
    _, shards = ray_shards
    files = [str(f) for f in sorted(shards.glob("*.parquet"))]
    config = EmbedConfig()

    @local_ray.remote
    def dedup_one(path):
        shard = dedup_shard(path, config.prism(), threshold=0.9)
        Path(path + ".dedup").write_bytes(pickle.dumps(shard))
        return shard.representatives_only()

    @local_ray.remote
    def label_one(path, merged):
        shard = pickle.loads(Path(path + ".dedup").read_bytes())
        table = pa.table({"id": shard.ids, "representative": final_labels(shard, merged)})
        pq.write_table(table, path + ".labels.parquet")

    representatives = local_ray.get([dedup_one.remote(f) for f in files])
    merged = merge_shard_representatives(representatives, config.prism())
    local_ray.get([label_one.remote(f, local_ray.put(merged)) for f in files])

    labels = pa.concat_tables([pq.read_table(f + ".labels.parquet") for f in files])
    assert len(files) > 1 and len(labels) == len(folder["good"])  # every good row, once
    finals = set(labels.column("representative").to_pylist())
    assert finals == {merged.ids[rep] for rep in merged.representatives}
    assert sorted(Path(e.source).name for e in merged.errors) == sorted(
        p.name for p in folder["bad"]
    )


def test_embed_images_runs_as_a_ray_actor_class_on_paths(local_ray, folder, tmp_path):
    paths = [str(p) for p in folder["good"][:40]] + [str(tmp_path / "gone.png")]
    dataset = local_ray.data.from_items([{"path": p} for p in paths])

    embedded = dataset.map_batches(
        EmbedImages,
        fn_constructor_kwargs={"config": EmbedConfig(image_column="path", batch_size=8)},
        batch_size=16,
        compute=local_ray.data.ActorPoolStrategy(size=1),
    )

    rows = {row["path"]: row for row in embedded.iter_rows()}
    assert rows[paths[-1]]["error"] == "no such file" and rows[paths[-1]]["hash"] is None
    expected = ImagePrism().embed_many(paths[:-1]).embeddings
    assert [rows[p]["hash"] for p in paths[:-1]] == [e["hash"].tobytes() for e in expected]
