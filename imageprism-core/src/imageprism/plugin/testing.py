"""Conformance suite for dimension plugins (needs pytest: the ``imageprism-core[testing]`` extra).

Subclass ``DimensionContractTests`` in your test suite, set ``dimension_name``
(and ``config`` if the default config needs a model you do not have), list in
``changed_configs`` config changes that must change the fingerprint, and inherit
every test::

    from imageprism.testing import DimensionContractTests

    class TestColorHist(DimensionContractTests):
        dimension_name = "colorhist"
        changed_configs = ({"bins": 16},)

The suite embeds synthetic images of several sizes and aspect ratios (96x72,
20x500, 1200x17, 1x1, 640x480, flat ones too) and checks what imageprism relies
on: one 1-D embedding (or None) per image, in order, of one length whatever the
image; ``float32``/``float64`` for ``"cosine"``, packed ``uint8`` for ``"hamming"``; no NaN,
inf or all-zero cosine vector; every image scores 1.0 with itself; scores are
symmetric and in [0, 1]; the same result twice, and from four threads at once;
a fingerprint that is stable and changes with the config. imageprism's own
dimensions pass the same suite.

The checks are plain functions too (``check_embeddings``, ``check_pair_scores``,
...), usable without subclassing; each raises ``AssertionError`` with a message
that states the offending values (pytest does not rewrite the asserts of an
installed module, so a bare ``assert`` would say nothing).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

try:
    import pytest
except ImportError as _err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'imageprism.testing needs pytest: pip install "imageprism-core[testing]"',
        name=__name__,
    ) from _err

import numpy as np
from pydantic import BaseModel

from imageprism.io.images import PreparedImage, prepare
from imageprism.plugin.dimension import Dimension, ScoresMany, dimension_problem
from imageprism.plugin.outputs import EMBEDDING_DTYPES
from imageprism.plugin.registry import get_registry
from imageprism.plugin.specs import DimensionSpec

__all__ = [
    "SAMPLE_SIZES",
    "DimensionContractTests",
    "check_batch_matches_single",
    "check_deterministic",
    "check_embeddings",
    "check_fingerprint_changes",
    "check_pair_scores",
    "check_self_scores",
    "check_spec",
    "check_thread_safe",
    "flat_arrays",
    "flat_images",
    "sample_arrays",
    "sample_images",
]

#: ``(width, height)`` of the sample images: an embedding's length must not depend on them.
SAMPLE_SIZES: tuple[tuple[int, int], ...] = ((96, 72), (20, 500), (1200, 17), (1, 1), (640, 480))

#: Two embeddings of the same image, or of one image twice, may differ by this much.
TOLERANCE = 1e-5


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True  # pytest shows the failing check, not this helper
    raise AssertionError(message)


def _pattern(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.indices((height, width))
    array: np.ndarray
    if kind == "gradient":
        ramp = cols * 255.0 / max(width - 1, 1)
        down = rows * 255.0 / max(height - 1, 1)
        array = np.stack([ramp, down, 255.0 - ramp], axis=2)
    elif kind == "checks":
        cell = max(1, min(width, height) // 4)
        array = ((rows // cell + cols // cell) % 2 * 255.0)[:, :, None].repeat(3, axis=2)
    elif kind == "noise":
        array = rng.integers(0, 256, size=(height, width, 3)).astype(np.float64)
    elif kind == "stripes":
        array = np.zeros((height, width, 3))
        array[(rows // max(1, height // 8)) % 2 == 0] = (30, 200, 60)
    else:
        raise ValueError(f"unknown pattern {kind!r}")
    return array.astype(np.uint8)


def sample_arrays() -> dict[str, np.ndarray]:
    """The suite's synthetic RGB images (HxWx3 ``uint8``) by name, e.g. ``"noise 1200x17"``.

    Gradients, checks, noise and stripes at each of ``SAMPLE_SIZES`` (width x height; one
    pattern per size, four at 96x72), and two flat images (grey and black).
    """
    rng = np.random.default_rng(0)
    kinds = {
        (96, 72): ("gradient", "checks", "noise", "stripes"),
        (20, 500): ("gradient",),
        (1200, 17): ("noise",),
        (1, 1): ("noise",),
        (640, 480): ("checks",),
    }
    out: dict[str, np.ndarray] = {}
    for width, height in SAMPLE_SIZES:
        for kind in kinds[(width, height)]:
            out[f"{kind} {width}x{height}"] = _pattern(kind, width, height, rng)
    out.update(flat_arrays())
    return out


def flat_arrays() -> dict[str, np.ndarray]:
    """Flat images by name: a flat image must score 1.0 with itself too."""
    return {
        "flat grey 64x48": np.full((48, 64, 3), 128, dtype=np.uint8),
        "flat black 33x33": np.zeros((33, 33, 3), dtype=np.uint8),
    }


def _prepared(arrays: Mapping[str, np.ndarray]) -> list[PreparedImage]:
    images = []
    for name, array in arrays.items():
        image = prepare(np.ascontiguousarray(array))
        image.source = f"<sample {name}>"  # failure messages name the image
        images.append(image)
    return images


def sample_images() -> list[PreparedImage]:
    """``sample_arrays()`` as fresh PreparedImages (their ``source`` names each sample)."""
    return _prepared(sample_arrays())


def flat_images() -> list[PreparedImage]:
    """``flat_arrays()`` as fresh PreparedImages."""
    return _prepared(flat_arrays())


def _describe(vector: np.ndarray) -> str:
    shown = np.array2string(np.asarray(vector).ravel()[:6], precision=4, threshold=6)
    return f"{vector.dtype} shape {vector.shape}, starting {shown}"


def check_spec(spec: DimensionSpec, name: str) -> None:
    """The registered spec: its name, a one-line summary, a factory and a frozen config model."""
    if spec.name != name:
        _fail(f"spec registered for {name!r} is named {spec.name!r}")
    if not spec.summary or "\n" in spec.summary:
        _fail(f"spec {name!r}: summary must be one non-empty line, got {spec.summary!r}")
    if not callable(spec.factory):
        _fail(f"spec {name!r}: factory must be callable, got {spec.factory!r}")
    if not (isinstance(spec.config_model, type) and issubclass(spec.config_model, BaseModel)):
        _fail(f"spec {name!r}: config_model must be a pydantic model, got {spec.config_model!r}")
    if spec.config_model.model_config.get("frozen") is not True:
        _fail(
            f"spec {name!r}: config_model {spec.config_model.__name__} must be frozen "
            "(model_config = ConfigDict(frozen=True), or subclass DimensionConfig)"
        )
    config = spec.config_model()
    again = spec.config_model.model_validate(config.model_dump())
    if again != config:
        _fail(f"spec {name!r}: the default config does not survive a dump: {config!r} -> {again!r}")


def check_embeddings(
    dimension: Dimension, images: Sequence[PreparedImage]
) -> list[np.ndarray | None]:
    """Embed ``images`` in one batch and check every result; return the embeddings.

    One result per image; each None or a 1-D array of a dtype the host takes
    (``imageprism.plugin.EMBEDDING_DTYPES``: ``uint8`` for ``"hamming"``, ``float32`` or
    ``float64`` for ``"cosine"``), finite, not all zero for ``"cosine"`` (its cosine
    would be undefined), and every embedding of the same length.
    """
    name = dimension.name
    result = dimension.embed_batch(images)
    embeddings = list(result)
    if len(embeddings) != len(images):
        _fail(
            f"{name}: embed_batch returned {len(embeddings)} results for {len(images)} images "
            "(it must return one per image, in order; None where an image has nothing to embed)"
        )
    lengths: dict[int, str] = {}
    for image, embedding in zip(images, embeddings, strict=True):
        where = f"{name}: the embedding of {image.source} (size {image.size[0]}x{image.size[1]})"
        if embedding is None:
            continue
        if not isinstance(embedding, np.ndarray):
            _fail(f"{where} is a {type(embedding).__name__}, not a numpy array or None")
        if embedding.ndim != 1:
            _fail(f"{where} has shape {embedding.shape}: it must be 1-D")
        if dimension.metric == "hamming" and embedding.dtype != np.uint8:
            _fail(f"{where} is {embedding.dtype}: a 'hamming' dimension returns packed uint8 bits")
        if dimension.metric == "cosine" and embedding.dtype not in EMBEDDING_DTYPES["cosine"]:
            _fail(f"{where} is {embedding.dtype}: a 'cosine' dimension returns float32 or float64")
        if np.issubdtype(embedding.dtype, np.floating) and not np.all(np.isfinite(embedding)):
            bad = int(np.count_nonzero(~np.isfinite(embedding)))
            _fail(f"{where} has {bad} NaN or inf values: {_describe(embedding)}")
        if dimension.metric == "cosine" and not np.any(embedding):
            _fail(
                f"{where} is all zeros ({_describe(embedding)}): its cosine is undefined "
                "and it would score 0.0 with everything, itself included"
            )
        lengths.setdefault(len(embedding), f"{image.source} ({image.size[0]}x{image.size[1]})")
    if len(lengths) > 1:
        seen = "; ".join(f"{length} for {label}" for length, label in lengths.items())
        _fail(f"{name}: embedding lengths vary with the image (they must not): {seen}")
    return embeddings


def _same(a: np.ndarray | None, b: np.ndarray | None) -> str | None:
    """Why two embeddings of one image differ, or None when they agree."""
    if (a is None) != (b is None):
        return f"{'None' if a is None else 'an embedding'} vs {'None' if b is None else 'one'}"
    if a is None or b is None:
        return None
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"{_describe(a)} vs {_describe(b)}"
    if np.issubdtype(a.dtype, np.floating):
        if not np.allclose(a, b, rtol=1e-4, atol=TOLERANCE):
            gap = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            return f"largest difference {gap:.3g} ({_describe(a)} vs {_describe(b)})"
    elif not np.array_equal(a, b):
        return f"{int(np.count_nonzero(a != b))} values differ ({_describe(a)} vs {_describe(b)})"
    return None


def check_batch_matches_single(dimension: Dimension, images: Sequence[PreparedImage]) -> None:
    """One batch gives what each image gives alone; an empty batch gives an empty list."""
    empty = list(dimension.embed_batch([]))
    if empty:
        _fail(f"{dimension.name}: embed_batch([]) returned {len(empty)} results, not []")
    together = check_embeddings(dimension, images)
    for image, batched in zip(images, together, strict=True):
        alone = dimension.embed_batch([image])
        if len(alone) != 1:
            _fail(f"{dimension.name}: embed_batch of one image returned {len(alone)} results")
        why = _same(batched, alone[0])
        if why:
            _fail(f"{dimension.name}: {image.source} embedded in a batch and alone differ: {why}")


def _score(
    dimension: Dimension, a: np.ndarray, b: np.ndarray, what: str, *, allow_none: bool = False
) -> float | None:
    score = dimension.similarity(a, b)
    if score is None:
        if allow_none:
            return None
        _fail(f"{dimension.name}: similarity of {what} is None; it must be 1.0")
    if not isinstance(score, float | int | np.floating) or isinstance(score, bool):
        _fail(f"{dimension.name}: similarity of {what} is a {type(score).__name__}, not a float")
    value = float(score)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        _fail(f"{dimension.name}: similarity of {what} is {value!r}, outside [0, 1]")
    return value


def check_self_scores(dimension: Dimension, images: Sequence[PreparedImage]) -> None:
    """Every image with an embedding (a flat one too) scores 1.0 with itself, and with its copy."""
    for image, embedding in zip(images, check_embeddings(dimension, images), strict=True):
        if embedding is None:
            continue
        for other in (embedding, embedding.copy()):
            score = _score(dimension, embedding, other, f"{image.source} with itself")
            if score is None or abs(score - 1.0) > TOLERANCE:
                _fail(
                    f"{dimension.name}: {image.source} scores {score!r} with itself, not 1.0 "
                    f"(embedding {_describe(embedding)})"
                )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


def check_pair_scores(dimension: Dimension, images: Sequence[PreparedImage]) -> None:
    """Scores of every pair: symmetric, in [0, 1], not all 1.0, at most the cosine for
    ``"cosine"``, and equal to ``similarity_many``'s when the dimension offers it.

    Needs at least two images with an embedding.
    """
    name = dimension.name
    pairs = [
        (image, embedding)
        for image, embedding in zip(images, check_embeddings(dimension, images), strict=True)
        if embedding is not None
    ]
    if len(pairs) < 2:
        _fail(
            f"{name}: only {len(pairs)} of {len(images)} images gave an embedding, so no pair "
            "could be scored; a dimension that embeds only some images (faces, text) must "
            "override the suite's make_images fixture with images it can embed"
        )
    scores: list[float] = []
    for i, (image_a, a) in enumerate(pairs):
        row: list[float] = []
        for image_b, b in pairs[i + 1 :]:
            what = f"{image_a.source} and {image_b.source}"
            ab = _score(dimension, a, b, what, allow_none=True)
            ba = _score(dimension, b, a, f"{image_b.source} and {image_a.source}", allow_none=True)
            if (ab is None) != (ba is None) or (
                ab is not None and ba is not None and abs(ab - ba) > 1e-6
            ):
                _fail(f"{name}: similarity is not symmetric for {what}: {ab!r} vs {ba!r}")
            if ab is None:  # the protocol allows a pair that cannot be scored
                row.append(math.nan)
                continue
            if dimension.metric == "cosine" and ab > max(_cosine(a, b), 0.0) + 1e-5:
                _fail(
                    f"{name}: {what} score {ab!r}, above the cosine of their embeddings "
                    f"({_cosine(a, b)!r}, or 0 when negative); a 'cosine' dimension "
                    "promises it never is"
                )
            row.append(ab)
            scores.append(ab)
        if isinstance(dimension, ScoresMany) and row:
            others = np.stack([e for _, e in pairs[i + 1 :]])
            many = np.asarray(dimension.similarity_many(a, others), dtype=np.float64)
            single = np.array(row)
            if many.shape != single.shape or not np.allclose(
                many, single, atol=1e-5, equal_nan=True
            ):
                _fail(
                    f"{name}: similarity_many of {image_a.source} gives {many.tolist()}, "
                    f"similarity gives {single.tolist()} (NaN where None)"
                )
    if not scores:
        _fail(f"{name}: no pair of the {len(pairs)} embedded images could be scored (all None)")
    if all(score >= 0.99 for score in scores):
        _fail(
            f"{name}: every pair of {len(pairs)} different images scored at least 0.99 "
            f"(lowest {min(scores)!r}): the dimension does not tell them apart"
        )


def check_deterministic(
    dimension: Dimension, make_images: Callable[[], Sequence[PreparedImage]]
) -> None:
    """Embedding the same images twice (fresh PreparedImages each time) gives the same result."""
    first_images, second_images = make_images(), make_images()
    first = check_embeddings(dimension, first_images)
    second = check_embeddings(dimension, second_images)
    for image, a, b in zip(first_images, first, second, strict=True):
        why = _same(a, b)
        if why:
            _fail(f"{dimension.name}: {image.source} embedded twice gives two results: {why}")


def check_thread_safe(
    dimension: Dimension,
    make_images: Callable[[], Sequence[PreparedImage]],
    threads: int = 4,
) -> None:
    """``threads`` threads embedding at once get what one thread gets alone."""
    serial_images = make_images()
    serial = check_embeddings(dimension, serial_images)
    inputs = [make_images() for _ in range(threads)]
    results: list[list[np.ndarray | None] | BaseException | None] = [None] * threads
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        try:
            start.wait()
            results[index] = list(dimension.embed_batch(inputs[index]))
        except BaseException as err:  # reported below, with the thread's number
            results[index] = err

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            _fail(
                f"{dimension.name}: embed_batch raised in thread {index} of {threads} running "
                f"at once: {type(result).__name__}: {result}"
            )
        if not isinstance(result, list):
            _fail(f"{dimension.name}: thread {index} got {result!r} from embed_batch, not a list")
        if len(result) != len(serial):
            _fail(f"{dimension.name}: thread {index} got {len(result)} results, not {len(serial)}")
        for image, alone, together in zip(serial_images, serial, result, strict=True):
            why = _same(alone, together)
            if why:
                _fail(
                    f"{dimension.name}: {image.source} embedded by {threads} threads at once "
                    f"differs from a serial run (thread {index}): {why}"
                )


def _build(spec: DimensionSpec, config: BaseModel | Mapping[str, Any] | None) -> Any:
    if config is None:
        config = spec.config_model()
    elif not isinstance(config, BaseModel):
        config = spec.config_model.model_validate(dict(config))
    return spec.factory(config)


def _as_dict(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, BaseModel):
        return config.model_dump(exclude_unset=True)
    return dict(config)


def check_fingerprint_changes(
    spec: DimensionSpec,
    config: BaseModel | Mapping[str, Any] | None,
    changes: Sequence[Mapping[str, Any]],
) -> None:
    """The fingerprint is non-empty text, the same for the same config, and different
    for each of ``changes`` (fields set on top of ``config``)."""
    base = _build(spec, config).fingerprint
    if not isinstance(base, str) or not base:
        _fail(f"{spec.name}: fingerprint must be a non-empty str, got {base!r}")
    again = _build(spec, config).fingerprint
    if again != base:
        _fail(
            f"{spec.name}: two dimensions built from one config have fingerprints "
            f"{base!r} and {again!r}"
        )
    for change in changes:
        changed = {**_as_dict(config), **dict(change)}
        other = _build(spec, changed).fingerprint
        if other == base:
            _fail(
                f"{spec.name}: the fingerprint stays {base!r} when the config changes by "
                f"{dict(change)!r}; it must change with anything that changes embeddings"
            )


class DimensionContractTests:
    """The behaviour every dimension must have; subclass and set ``dimension_name``.

    Attributes:
        dimension_name: The registered name of the dimension under test.
        config: Its config (a model or a dict of fields), None for the default.
        changed_configs: Field changes (dicts applied on top of ``config``) each of
            which must change the fingerprint; ``test_fingerprint_changes_with_the_config``
            skips, saying so, while this is empty.

    Override the ``images`` fixture when your dimension embeds only some images
    (e.g. faces): it must give at least two images your dimension embeds.
    """

    dimension_name: ClassVar[str] = ""
    config: ClassVar[BaseModel | dict[str, Any] | None] = None
    changed_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()

    @pytest.fixture
    def spec(self) -> DimensionSpec:
        """The spec registered under ``dimension_name``."""
        if not self.dimension_name:
            _fail(f"set dimension_name on {type(self).__name__} (a DimensionContractTests)")
        return get_registry().dimension(self.dimension_name)

    @pytest.fixture
    def dimension(self, spec: DimensionSpec) -> Dimension:
        """The dimension built from ``config``."""
        built: Dimension = _build(spec, self.config)
        return built

    @pytest.fixture
    def make_images(self) -> Callable[[], Sequence[PreparedImage]]:
        """Makes a fresh copy of the test images (for the determinism and thread checks)."""
        return sample_images

    @pytest.fixture
    def images(self, make_images: Callable[[], Sequence[PreparedImage]]) -> list[PreparedImage]:
        """The images embedded by the tests (by default ``sample_images()``)."""
        return list(make_images())

    def test_spec_is_complete(self, spec: DimensionSpec) -> None:
        """Name, one-line summary, factory, frozen config model with valid defaults."""
        check_spec(spec, self.dimension_name)

    def test_dimension_implements_the_protocol(self, dimension: Dimension) -> None:
        """The built object is a ``Dimension`` of that name with a known metric."""
        problem = dimension_problem(dimension, self.dimension_name)
        if problem:
            _fail(f"{self.dimension_name}: {problem}")

    def test_fingerprint_is_stable_text(self, spec: DimensionSpec) -> None:
        """The same config gives the same non-empty fingerprint."""
        check_fingerprint_changes(spec, self.config, ())

    def test_fingerprint_changes_with_the_config(self, spec: DimensionSpec) -> None:
        """Each of ``changed_configs`` changes the fingerprint."""
        if not self.changed_configs:
            pytest.skip(
                f"set changed_configs on {type(self).__name__}: config changes (e.g. "
                "({'bins': 16},)) that must change the fingerprint"
            )
        check_fingerprint_changes(spec, self.config, self.changed_configs)

    def test_embeddings_have_one_length_dtype_and_finite_values(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        """One embedding per image, of one length whatever the size; dtype per metric;
        no NaN, inf or all-zero cosine vector."""
        check_embeddings(dimension, images)

    def test_embed_batch_returns_one_embedding_per_image_in_order(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        """A batch gives what each image gives alone; ``[]`` gives ``[]``."""
        check_batch_matches_single(dimension, images)

    def test_an_image_scores_one_with_itself(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        """Every image, flat ones included, scores 1.0 with itself."""
        check_self_scores(dimension, [*images, *flat_images()])

    def test_scores_are_symmetric_within_zero_and_one_and_tell_images_apart(
        self, dimension: Dimension, images: list[PreparedImage]
    ) -> None:
        """Pair scores are symmetric, in [0, 1], and not all 1.0."""
        check_pair_scores(dimension, images)

    def test_embeddings_are_deterministic(
        self, dimension: Dimension, make_images: Callable[[], Sequence[PreparedImage]]
    ) -> None:
        """The same images embedded twice give the same embeddings."""
        check_deterministic(dimension, make_images)

    def test_embedding_is_thread_safe(
        self, dimension: Dimension, make_images: Callable[[], Sequence[PreparedImage]]
    ) -> None:
        """Four threads embedding at once get what a serial run gets."""
        check_thread_safe(dimension, make_images)
