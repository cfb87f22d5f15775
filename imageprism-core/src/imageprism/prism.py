"""ImagePrism: compare, embed and dedup images across the chosen dimensions.

Longer than the ~400 lines a module here aims at, for a reason: it is the one
object users hold, and its methods (compare, embed, embed_many, dedup, index)
share the prism's state (built dimensions, weights, cache, store, thread pool);
the work itself lives below it (``dedup``, ``index``, ``io``, ``runtime``).
Splitting its batch embedding into its own module is the next step.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ValidationError

from imageprism.cache import EmbeddingCache
from imageprism.dedup.engine import Backend, dedup_embeddings, groups_of
from imageprism.environment import BATCH_MEMORY
from imageprism.errors import (
    ConfigError,
    ConfigTypeError,
    DimensionError,
    ImageLoadError,
    ImagePrismError,
    ModelFileError,
    PluginError,
    PluginWarning,
)
from imageprism.index.index import ImageIndex, IndexBackend
from imageprism.index.manifest import use_prism_builder
from imageprism.io.images import (
    DEFAULT_MAX_ASPECT_RATIO,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageInput,
    PreparedImage,
    describe,
    prepare,
)
from imageprism.plugin.dimension import Dimension, dimension_problem
from imageprism.plugin.outputs import Culprit, EmbeddingCheck, check_score
from imageprism.plugin.registry import PluginInfo, Registry, get_registry
from imageprism.plugin.specs import ProfileSpec
from imageprism.results import CompareResult, DedupResult, EmbeddingBatch, ImageFailure
from imageprism.runtime.threads import sharing_cores
from imageprism.scoring import (
    MISSING_SCORES,
    MissingScores,
    blend,
    check_threshold,
    normalize_weights,
)

if TYPE_CHECKING:
    from imageprism.dedup.not_duplicates import NotDuplicates
    from imageprism.io.store import EmbeddingStore

Embeddings = dict[str, np.ndarray | None]
DEFAULT_BATCH_MEMORY = 512 * 2**20
"""Memory budget of one batch (512 MiB) when neither ``batch_memory`` nor the
``IMAGEPRISM_BATCH_MEMORY`` environment variable sets it."""
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
Progress = Callable[[int, int | None], None]
"""``progress(done, total)``: how many inputs are processed so far, of how many (None: unknown)."""


def _names(dimensions: str | Iterable[str]) -> list[str]:
    if isinstance(dimensions, str):
        return [dimensions]
    try:
        names = [str(name) for name in dimensions]
    except TypeError as err:
        raise ConfigError(
            f"dimensions must be a list of dimension names, got {dimensions!r}"
        ) from err
    if not names:
        raise ConfigError("dimensions must name at least one dimension, e.g. ['hash']")
    return list(dict.fromkeys(names))


def _reason(err: BaseException) -> str:
    if isinstance(err, ImageLoadError):
        return err.reason
    if isinstance(err, ImagePrismError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _owner(plugin: PluginInfo | None) -> str:
    if plugin is None:
        return "an unregistered plugin"
    return f"plugin {plugin.name!r} ({plugin.distribution or 'unknown distribution'})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _batch_memory(value: int | None) -> int:
    """The batch memory budget: ``value``, else the environment variable, else the default."""
    if value is None:
        text = os.environ.get(BATCH_MEMORY, "").strip()
        if not text:
            return DEFAULT_BATCH_MEMORY
        match = re.fullmatch(r"(\d+)\s*([KMG]?)(?:I?B)?", text.upper())
        if match is None or int(match[1]) < 1:
            raise ConfigError(
                f"{BATCH_MEMORY} must be a number of bytes >= 1, optionally with a suffix "
                f"K, M or G (e.g. 512M), got {text!r}"
            )
        return int(match[1]) * _UNITS[match[2]]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"batch_memory must be a number of bytes >= 1, got {value!r}")
    return value


def _input_bytes(image: ImageInput) -> int:
    """Bytes an input will take once read (0 where unknown before reading)."""
    if isinstance(image, bytes | bytearray | memoryview):
        return len(image)
    if isinstance(image, str | os.PathLike):
        try:
            return max(0, os.stat(image).st_size)
        except (OSError, ValueError):
            return 0
    return 0


def _by_memory(
    items: list[tuple[int, PreparedImage]], budget: int
) -> list[list[tuple[int, PreparedImage]]]:
    """``items`` cut, in order, into runs whose footprints sum to at most ``budget``.

    An image over the budget by itself forms a run of one.
    """
    runs: list[list[tuple[int, PreparedImage]]] = []
    used = budget
    for item in items:
        cost = item[1].footprint
        if used + cost > budget:
            runs.append([])
            used = 0
        runs[-1].append(item)
        used += cost
    return runs


def _open_store(store: Any) -> EmbeddingStore | None:
    if store is None:
        return None
    from imageprism.io.store import EmbeddingStore  # sqlite3 is imported only when a store is used

    if isinstance(store, EmbeddingStore):
        return store
    if isinstance(store, str | os.PathLike):
        return EmbeddingStore(store)
    raise ConfigTypeError(
        f"store must be an EmbeddingStore or the path of one, got {type(store).__name__}"
    )


class ImagePrism:
    """Scores pairs of images on every chosen dimension, and blends them into one score.

    With no arguments only the hash dimension is used and nothing is downloaded.

    Args:
        dimensions: Names of the dimensions to compute (``Dimension.HASH`` or
            ``"hash"``, ...). Default: those weighted by ``profile`` or
            ``weights``, or just ``"hash"``.
        profile: A profile name (``Profile.COPYRIGHT`` or ``"copyright"``) or a
            ``ProfileSpec``; its weights give the weighted score.
        weights: Weights per dimension name (normalised to sum to 1); instead of
            ``profile``. Default: equal weights over ``dimensions``.
        config: Per dimension name, its config model (e.g. ``HashConfig(...)``)
            or a dict of its fields.
        missing_scores: How a dimension that returns None (e.g. no face) counts
            in the weighted score: ``"zero"`` (0.1 behaviour) or
            ``"renormalize"`` (weights rescaled over the dimensions that scored).
        cache_size: Most embeddings the default cache keeps (0 disables it).
        cache: An embedding cache to use (and share) instead of a new one.
        max_pixels: Refuse images with more pixels than this (checked from the
            header, before any pixel is decoded).
        max_aspect_ratio: Refuse images whose long side is more than this many
            times their short side (default 1000, i.e. 1:1000).
        max_file_bytes: Refuse files (and bytes, file objects) larger than this
            (default 256 MiB); paths that are not regular files (FIFOs, sockets,
            devices) are always refused, before being opened.
        batch_size: Images per ``embed_batch`` call.
        batch_memory: Memory budget of a batch in bytes (default: the
            ``IMAGEPRISM_BATCH_MEMORY`` environment variable, else 512 MiB). A batch
            of ``embed_many``/``dedup``/``index`` is cut so that the images in flight,
            counted as their encoded bytes plus 8 bytes a pixel, stay within it; an
            image over the budget by itself is embedded alone.
        threads: Chunks of ``batch_size`` images embedded at once in a batch call
            (``embed_many``, ``dedup``); default: 2 on machines with 2 or more cores.
            Decoding and resizing release the GIL, so threads help.
        registry: The plugin registry; default, the process-wide one.
        store: An ``EmbeddingStore``, or the path of one (created if missing), consulted
            after the in-memory cache: only embeddings it lacks are computed, and each
            finished batch is committed to it, so an interrupted run loses at most
            the batches in flight. ``prism.store.hits`` / ``.written`` count reused
            and new embeddings.

    Raises:
        ConfigError: an argument is invalid (the message names it and what is allowed).
        UnknownDimensionError: a dimension is not registered; a well-known one
            whose pack is missing raises ``PackNotInstalledError`` naming the package.
        UnknownProfileError: the profile is not registered.
    """

    def __init__(
        self,
        dimensions: str | Iterable[str] | None = None,
        *,
        profile: str | ProfileSpec | None = None,
        weights: Mapping[str, float] | None = None,
        config: Mapping[str, BaseModel | Mapping[str, Any]] | None = None,
        missing_scores: MissingScores = "zero",
        cache_size: int | None = None,
        cache: EmbeddingCache | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        batch_size: int = 32,
        batch_memory: int | None = None,
        threads: int | None = None,
        registry: Registry | None = None,
        store: EmbeddingStore | str | os.PathLike[str] | None = None,
    ) -> None:
        if profile is not None and weights is not None:
            raise ConfigError("pass either profile= or weights=, not both")
        if missing_scores not in MISSING_SCORES:
            raise ConfigError(
                f"missing_scores must be one of {', '.join(MISSING_SCORES)}, got {missing_scores!r}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ConfigError(f"max_pixels must be an integer >= 1, got {max_pixels!r}")
        if (
            isinstance(max_aspect_ratio, bool)
            or not isinstance(max_aspect_ratio, int | float)
            or not max_aspect_ratio >= 1  # NaN too
        ):
            raise ConfigError(f"max_aspect_ratio must be a number >= 1, got {max_aspect_ratio!r}")
        if (
            isinstance(max_file_bytes, bool)
            or not isinstance(max_file_bytes, int)
            or max_file_bytes < 1
        ):
            raise ConfigError(f"max_file_bytes must be an integer >= 1, got {max_file_bytes!r}")
        self.batch_memory = _batch_memory(batch_memory)
        if threads is None:
            threads = min(2, os.cpu_count() or 1)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
        self.threads = threads
        self._registry = registry if registry is not None else get_registry()
        self.missing_scores: MissingScores = missing_scores
        self.max_pixels = max_pixels
        self.max_aspect_ratio = max_aspect_ratio
        self.max_file_bytes = max_file_bytes
        self.batch_size = batch_size
        if cache is not None and cache_size is not None:
            raise ConfigError("pass either cache= or cache_size=, not both")
        if cache_size is not None and (
            isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0
        ):
            raise ConfigError(f"cache_size must be an integer >= 0, got {cache_size!r}")
        if config is not None and not isinstance(config, Mapping):
            raise ConfigTypeError(
                f"config must be a dict of dimension name to config, got {type(config).__name__}"
            )
        if weights is not None and not isinstance(weights, Mapping):
            raise ConfigTypeError(
                f"weights must be a dict of dimension name to weight, got {type(weights).__name__}"
            )
        if cache is None:
            cache = EmbeddingCache() if cache_size is None else EmbeddingCache(max_items=cache_size)
        self.cache = cache
        self.store = _open_store(store)
        self._inflight: dict[tuple[str, str], Future[Any]] = {}
        self._inflight_lock = threading.Lock()

        chosen: dict[str, float] | None = None
        if isinstance(profile, ProfileSpec):
            chosen = dict(profile.weights)
        elif profile is not None:
            chosen = dict(self._registry.profile(str(profile)).weights)
        elif weights is not None:
            chosen = normalize_weights({str(k): v for k, v in weights.items()})
        names = _names(dimensions) if dimensions is not None else []
        if chosen is None:
            names = names or ["hash"]
            chosen = {name: 1.0 / len(names) for name in names}
        names += [name for name in chosen if name not in names]
        self.weights: dict[str, float] = chosen
        self._dimensions: dict[str, Dimension] = {
            name: self._build(name, (config or {}).get(name)) for name in names
        }
        # who answers for each dimension's outputs, and the checks they pass where they enter
        self._culprits = {
            name: Culprit.of(f"dimension {name!r}", self._registry.plugin_of(name))
            for name in self._dimensions
        }
        self._checks = {name: EmbeddingCheck(d.metric) for name, d in self._dimensions.items()}
        self._warned: set[str] = set()  # dimensions whose short batches were reported
        unused = [str(name) for name in (config or {}) if str(name) not in self._dimensions]
        if unused:
            raise ConfigError(
                f"config given for {', '.join(map(repr, unused))}, which is not among the "
                f"dimensions: {', '.join(self._dimensions)}"
            )

    def _build(self, name: str, config: BaseModel | Mapping[str, Any] | None) -> Dimension:
        spec = self._registry.dimension(name)
        plugin = self._registry.plugin_of(name)
        model = spec.config_model
        try:
            if config is None:
                validated = model()
            elif isinstance(config, model):
                validated = config
            elif isinstance(config, Mapping):
                validated = model.model_validate(dict(config))
            else:
                raise ConfigTypeError(
                    f"config[{name!r}] must be a {model.__name__} or a dict of its fields, "
                    f"got {type(config).__name__}"
                )
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']} (got {e['input']!r})"
                for e in err.errors()
            )
            raise ConfigError(f"config[{name!r}] is invalid: {problems}") from err
        try:
            dimension = spec.factory(validated)
        except ImagePrismError:
            raise
        except Exception as err:
            raise PluginError(
                f"dimension {name!r} could not be built by {_owner(plugin)}: "
                f"{type(err).__name__}: {err}",
                plugin=plugin.name if plugin else name,
                distribution=plugin.distribution if plugin else None,
                component=f"dimension {name!r}",
            ) from err
        problem = dimension_problem(dimension, name)
        if problem is not None:
            raise PluginError(
                f"dimension {name!r} of {_owner(plugin)} {problem}",
                plugin=plugin.name if plugin else name,
                distribution=plugin.distribution if plugin else None,
                component=f"dimension {name!r}",
            )
        return dimension

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Names of the dimensions this prism computes, in order."""
        return tuple(self._dimensions)

    def dimension(self, name: str) -> Dimension:
        """The dimension object computing ``name``."""
        try:
            return self._dimensions[str(name)]
        except KeyError:
            raise ConfigError(
                f"{name!r} is not among this prism's dimensions: {', '.join(self._dimensions)}"
            ) from None

    # -- embedding -------------------------------------------------------------------------

    def _embed_chunk(
        self, name: str, dimension: Dimension, images: list[PreparedImage]
    ) -> list[np.ndarray | ImagePrismError | None]:
        """Embed a chunk and check what comes back, where it enters (``EmbeddingCheck``).

        Failures come back in place of embeddings, each about its image alone:
        ``ImageLoadError`` when the image cannot be decoded, ``DimensionError``
        (a ``PluginError`` naming the component, plugin, distribution and image)
        when the call raised on it or its embedding is refused (not a 1-D array of
        the metric's dtype, another length than the dimension's first, NaN or
        infinite, all zeros for cosine). A batch call that raises, or returns
        another count of embeddings than images (reported once per dimension as a
        ``PluginWarning``), is retried one image at a time to isolate the bad ones.
        A ``ModelFileError``, or a ``PluginError`` not about one image (a
        component's factory failed), concerns every image and is raised.
        """
        culprit = self._culprits[name]
        try:
            out: list[Any] = list(dimension.embed_batch(images))
        except ModelFileError:
            raise  # no image can be embedded without the model: stop, do not report each
        except PluginError as err:
            if not isinstance(err, DimensionError):
                raise  # about the whole component (e.g. its factory failed), not one image
            if len(images) > 1:
                return self._one_by_one(name, dimension, images)
            return [err]
        except Exception as err:
            if len(images) > 1:
                return self._one_by_one(name, dimension, images)
            if isinstance(err, ImageLoadError):
                return [err]
            source = images[0].source
            return [
                culprit.image_error(
                    f"failed on {source}: {_reason(err)}", dimension=name, source=source
                )
            ]
        if len(out) != len(images):
            if len(images) > 1:
                self._warn_wrong_count(name, len(out), len(images))
                return self._one_by_one(name, dimension, images)
            source = images[0].source
            return [
                culprit.image_error(
                    f"returned {_plural(len(out), 'embedding')} for 1 image ({source}); "
                    "embed_batch must return one embedding or None per image",
                    dimension=name,
                    source=source,
                )
            ]
        problems = self._checks[name].problems(out)
        for position, (image, problem) in enumerate(zip(images, problems, strict=True)):
            if problem is not None:
                out[position] = culprit.image_error(
                    f"returned {problem} for {image.source}", dimension=name, source=image.source
                )
            elif out[position] is not None:
                out[position].setflags(write=False)  # shared with the cache and other callers
        return out

    def _one_by_one(
        self, name: str, dimension: Dimension, images: list[PreparedImage]
    ) -> list[np.ndarray | ImagePrismError | None]:
        """``_embed_chunk`` of each image on its own (to isolate a batch's bad images)."""
        return [r for image in images for r in self._embed_chunk(name, dimension, [image])]

    def _warn_wrong_count(self, name: str, got: int, count: int) -> None:
        """Say, once per dimension, that a batch call returned another count than images."""
        with self._inflight_lock:
            if name in self._warned:
                return
            self._warned.add(name)
        warnings.warn(
            PluginWarning(
                f"{self._culprits[name]} returned {_plural(got, 'embedding')} for "
                f"{count} images from one embed_batch call (it must return one embedding "
                "or None per image); its images are embedded one at a time instead"
            ),
            stacklevel=2,
        )

    def _fingerprint(self, name: str, dimension: Dimension) -> str:
        """The dimension's fingerprint, checked: a non-empty string, else a ``PluginError``."""
        try:
            fingerprint = dimension.fingerprint
        except ImagePrismError:
            raise  # e.g. ModelFileError: a model file to hash is missing
        except Exception as err:
            raise self._culprits[name].error(
                f"failed to give its fingerprint: {_reason(err)}"
            ) from err
        if not isinstance(fingerprint, str) or not fingerprint:
            raise self._culprits[name].error(
                f"has the fingerprint {fingerprint!r}; it must be a non-empty string"
            )
        return fingerprint

    def _chunks(self, indexes: list[int]) -> list[list[int]]:
        """``indexes`` in chunks of at most ``batch_size``, as even as they can be.

        The count of chunks is a multiple of ``threads`` (when there are enough
        images), so no worker is left with a short last chunk while another works.
        """
        count = math.ceil(len(indexes) / self.batch_size)
        if self.threads > 1:
            count = min(len(indexes), math.ceil(count / self.threads) * self.threads)
        size, longer = divmod(len(indexes), count) if count else (0, 0)
        bounds = [0]
        for chunk in range(count):
            bounds.append(bounds[-1] + size + (chunk < longer))
        return [indexes[start:end] for start, end in itertools.pairwise(bounds)]

    def _map_chunks(
        self,
        name: str,
        dimension: Dimension,
        chunks: list[list[PreparedImage]],
        alone: bool = False,
    ) -> list[list[np.ndarray | ImagePrismError | None]]:
        """Embed chunks, ``threads`` at a time (Pillow and ONNX Runtime release the GIL).

        Model calls share the cores ``threads`` ways (``_threads.sharing_cores``), even
        when a batch has a single chunk, so a prism uses one ONNX Runtime session per
        model for all its batch calls; ``alone`` (one image, ``embed``) gives the one
        call every core.
        """

        def embed(chunk: list[PreparedImage]) -> list[np.ndarray | ImagePrismError | None]:
            with sharing_cores(1 if alone else self.threads):
                return self._embed_chunk(name, dimension, chunk)

        if self.threads == 1 or len(chunks) == 1:
            return [embed(chunk) for chunk in chunks]
        return list(self._pool.map(embed, chunks))

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="imageprism")

    def _prepare_one(self, image: ImageInput) -> PreparedImage:
        """``prepare`` with this prism's limits."""
        return prepare(
            image,
            max_pixels=self.max_pixels,
            max_aspect_ratio=self.max_aspect_ratio,
            max_file_bytes=self.max_file_bytes,
        )

    def _prepare(self, image: ImageInput) -> PreparedImage | ImageLoadError:
        """Read, check and digest one input (in a worker thread: hashing releases the GIL)."""
        before = self._file_state(image)
        try:
            prepared = self._prepare_one(image)
            prepared.digest  # noqa: B018 (computed here, off the main thread)
        except ImageLoadError as err:
            return err
        if before is not None and self.store is not None and self._file_state(image) == before:
            self.store.note_file(image, *before, prepared.digest)  # type: ignore[arg-type]
        return prepared

    def _stored_files(
        self, waiting: Sequence[tuple[int, ImageInput]]
    ) -> dict[int, tuple[str, Embeddings]]:
        """Inputs that need not be read: files unchanged (size, mtime) since the store
        recorded their digest, with every dimension's embedding stored."""
        if self.store is None:
            return {}
        known = {
            index: digest
            for index, image in waiting
            if isinstance(image, str | os.PathLike)
            and (digest := self.store.known_digest(image)) is not None
        }
        found: dict[int, Embeddings] = {index: {} for index in known}
        for name, dimension in self._dimensions.items():
            if not known:
                break
            stored = self.store.lookup_many(self._fingerprint(name, dimension), set(known.values()))
            for index, digest in list(known.items()):
                if digest in stored:
                    found[index][name] = stored[digest]
                else:
                    del known[index]
        return {index: (digest, found[index]) for index, digest in known.items()}

    def _file_state(self, image: ImageInput) -> tuple[int, int] | None:
        """``(size, mtime_ns)`` of a file input when a store records files, else None."""
        if self.store is None or not isinstance(image, str | os.PathLike):
            return None
        try:
            state = os.stat(image)
        except OSError:
            return None
        return state.st_size, state.st_mtime_ns

    def _claim(
        self, fingerprint: str, digests: Iterable[str]
    ) -> tuple[dict[str, Any], list[str], dict[str, Future[Any]]]:
        """Split digests into cached values, ones this call embeds, and ones another thread is
        embedding right now (to wait for), so concurrent calls embed each image once."""
        cached: dict[str, Any] = {}
        mine: list[str] = []
        theirs: dict[str, Future[Any]] = {}
        with self._inflight_lock:
            for digest in digests:
                key = (fingerprint, digest)
                found, value = self.cache.lookup(key)
                if found:
                    cached[digest] = value
                elif key in self._inflight:
                    theirs[digest] = self._inflight[key]
                else:
                    self._inflight[key] = Future()
                    mine.append(digest)
        if self.store is not None and mine:
            try:
                stored = self.store.lookup_many(fingerprint, mine)
            except BaseException as err:
                self._settle(fingerprint, dict.fromkeys(mine, err), persist=False)
                raise
            if stored:
                self._settle(fingerprint, stored, persist=False)
                cached.update(stored)
                mine = [digest for digest in mine if digest not in stored]
        return cached, mine, theirs

    def _settle(self, fingerprint: str, values: Mapping[str, Any], *, persist: bool = True) -> None:
        """Publish embeddings (or the errors they gave) to the store, the cache and waiting threads.

        With ``persist`` the embeddings go to the store in one transaction first;
        errors are never stored, so a later run tries those images again.
        """
        good = {d: v for d, v in values.items() if not isinstance(v, BaseException)}
        if persist and good and self.store is not None:
            self.store.put_many(fingerprint, good)
        settled: list[tuple[Future[Any], Any]] = []
        with self._inflight_lock:
            for digest, value in values.items():
                key = (fingerprint, digest)
                if digest in good:
                    self.cache.put(key, value)
                settled.append((self._inflight.pop(key), value))
        for future, value in settled:
            if isinstance(value, BaseException) and not isinstance(
                value, ImageLoadError | DimensionError
            ):
                future.set_exception(value)  # not about this image: the waiting call raises too
            else:
                future.set_result(value)

    def _embed_prepared(
        self, images: Sequence[PreparedImage], alone: bool = False
    ) -> tuple[list[Embeddings], dict[int, ImagePrismError]]:
        """Embed every image on every dimension through the cache.

        ``alone``: a single image whose model calls may use every core (``embed``).

        Returns the embeddings per image and the failures by index (an image
        that fails in one dimension is a failed image).
        """
        results: list[Embeddings] = [{} for _ in images]
        failed: dict[int, ImagePrismError] = {}
        for name, dimension in self._dimensions.items():
            by_digest: dict[str, list[int]] = {}  # equal images embed once
            for index, image in enumerate(images):
                if index not in failed:
                    by_digest.setdefault(image.digest, []).append(index)
            fingerprint = self._fingerprint(name, dimension)
            values, mine, theirs = self._claim(fingerprint, by_digest)
            try:
                chunks = self._chunks([by_digest[digest][0] for digest in mine])
                outs = self._map_chunks(
                    name, dimension, [[images[i] for i in c] for c in chunks], alone
                )
                for chunk, out in zip(chunks, outs, strict=True):
                    done = {images[i].digest: value for i, value in zip(chunk, out, strict=True)}
                    self._settle(fingerprint, done)  # one store commit per chunk
                    values.update(done)
            except BaseException as err:  # e.g. ModelFileError: release waiting threads too
                unsettled = [digest for digest in mine if digest not in values]  # still ours
                self._settle(fingerprint, dict.fromkeys(unsettled, err), persist=False)
                raise
            for digest, future in theirs.items():
                values[digest] = future.result()
            for digest, indexes in by_digest.items():
                value = values[digest]
                for index in indexes:
                    if isinstance(value, ImagePrismError):
                        failed[index] = value
                    else:
                        results[index][name] = value
        for index in failed:
            results[index] = {}
        if self.store is not None:
            self.store.flush()  # the files noted while preparing, when nothing was embedded
        return results, failed

    def _embed_many(
        self, images: Iterable[ImageInput], progress: Progress | None = None
    ) -> tuple[list[Embeddings | None], list[ImageFailure], list[str], list[str | None]]:
        """Embed inputs a few batches at a time, so only those images are in memory.

        Inputs are read ``batch_size * threads`` at a time, or fewer once their bytes
        reach ``batch_memory``; the images read are embedded in runs whose footprints
        (encoded bytes and a full decode) stay within ``batch_memory``, and each
        image's decodes are released as soon as its run is embedded.

        Returns embeddings, failures, sources and content digests (None where the
        input could not be read) in input order.
        """
        total = len(images) if isinstance(images, Sized) else None
        embeddings: list[Embeddings | None] = []
        errors: list[ImageFailure] = []
        sources: list[str] = []
        digests: list[str | None] = []
        waiting: list[tuple[int, ImageInput]] = []

        def flush() -> None:
            for index, (digest, stored) in self._stored_files(waiting).items():
                digests[index], embeddings[index] = digest, stored
            waiting[:] = [(index, image) for index, image in waiting if digests[index] is None]
            inputs = [image for _, image in waiting]
            if self.threads > 1 and len(inputs) > 1:
                ready = list(self._pool.map(self._prepare, inputs))
            else:
                ready = [self._prepare(image) for image in inputs]
            chunk: list[tuple[int, PreparedImage]] = []
            for (index, _), item in zip(waiting, ready, strict=True):
                if isinstance(item, ImageLoadError):
                    errors.append(ImageFailure(index, sources[index], item.reason))
                else:
                    digests[index] = item.digest
                    chunk.append((index, item))
            waiting.clear()
            del ready
            for run in _by_memory(chunk, self.batch_memory):
                results, failed = self._embed_prepared([image for _, image in run])
                for position, (index, image) in enumerate(run):
                    if position in failed:
                        errors.append(ImageFailure(index, image.source, _reason(failed[position])))
                    else:
                        embeddings[index] = results[position]
                    image.release()  # its decodes are no longer needed: free them now
            if progress is not None:
                progress(len(sources), total)

        read = 0  # bytes the waiting inputs will take once read
        for index, image in enumerate(images):
            sources.append(describe(image))
            embeddings.append(None)
            digests.append(None)
            waiting.append((index, image))
            read += _input_bytes(image)
            if len(waiting) >= self.batch_size * self.threads or read >= self.batch_memory:
                flush()
                read = 0
        if waiting:
            flush()
        errors.sort(key=lambda failure: failure.index)
        return embeddings, errors, sources, digests

    def embed(self, image: ImageInput) -> dict[str, np.ndarray | None]:
        """Embed one image on every dimension.

        Returns:
            Per dimension name, its embedding (packed ``uint8`` bits for hamming
            dimensions, a float vector for cosine ones), or None where the
            dimension found nothing to embed.

        Raises:
            ImageLoadError: the image cannot be loaded (names the source).
            DimensionError: a dimension failed on the image (names the plugin and the image).
        """
        results, failed = self._embed_prepared([self._prepare_one(image)], alone=True)
        if failed:
            raise failed[0]
        return results[0]

    def embed_many(
        self, images: Iterable[ImageInput], *, progress: Progress | None = None
    ) -> EmbeddingBatch:
        """Embed many images in batches; a bad image is reported, never fatal.

        Args:
            images: The inputs.
            progress: Called as ``progress(done, total)`` after each batch
                (``total`` is None when ``images`` has no length).

        Returns:
            An ``EmbeddingBatch``: embeddings in input order (None for the inputs
            that failed) and ``errors`` with each failure's index, source and reason.
        """
        embeddings, errors, sources, _ = self._embed_many(images, progress)
        return EmbeddingBatch(embeddings=embeddings, errors=errors, sources=sources)

    # -- scoring ---------------------------------------------------------------------------

    def _scores(self, a: Embeddings, b: Embeddings) -> dict[str, float | None]:
        scores: dict[str, float | None] = {}
        for name, dimension in self._dimensions.items():
            ea, eb = a.get(name), b.get(name)
            if ea is None or eb is None:
                scores[name] = None
                continue
            try:
                score = dimension.similarity(ea, eb)
            except ImagePrismError:
                raise
            except Exception as err:
                raise self._culprits[name].error(f"failed to score a pair: {_reason(err)}") from err
            # a plugin's NaN or infinity means "cannot score", as None does (check_score)
            scores[name] = check_score(score, self._culprits[name])
        return scores

    def compare(self, image_a: ImageInput, image_b: ImageInput) -> CompareResult:
        """Score a pair of images on every dimension, and blend the scores with the weights.

        Raises:
            ImageLoadError: either image cannot be loaded (names the source).
            DimensionError: a dimension failed on an image (names the plugin and the image).
        """
        pair = [self._prepare_one(image) for image in (image_a, image_b)]
        results, failed = self._embed_prepared(pair)
        if failed:
            raise failed[min(failed)]
        scores = self._scores(results[0], results[1])
        return CompareResult(
            scores=scores,
            weighted_score=blend(scores, self.weights, self.missing_scores),
            weights=dict(self.weights),
        )

    def dedup(
        self,
        images: Iterable[ImageInput],
        threshold: float = 0.9,
        *,
        backend: Backend = "exact",
        not_duplicates: NotDuplicates | str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
    ) -> DedupResult:
        """Group near-duplicates greedily, in input order (the 0.1 semantics).

        Each image joins the first representative (in input order) whose
        (weighted) score with it is at least ``threshold``; otherwise it becomes a
        representative. The answer is exactly that of comparing each image with
        every representative, found without doing so: only pairs that can reach
        the threshold on some dimension are scored (see ``imageprism.dedup.engine``).
        Images that fail to load or embed are reported in ``errors`` and take no
        part; every good image still gets its label.

        Args:
            images: The images, in the order that decides representatives.
            threshold: Score in [0, 1] at or above which two images are duplicates.
            backend: ``"exact"`` (default) or ``"faiss"`` (needs ``imageprism-core[faiss]``;
                the same answer for hash dimensions, approximate for cosine ones).
            not_duplicates: Pairs marked as not duplicates (by content), a
                ``NotDuplicates`` or the path of its file: two such images are never in
                one group, whatever their scores.
            progress: Called as ``progress(done, total)`` while embedding.
        """
        threshold = check_threshold(threshold)
        opened = None
        if isinstance(not_duplicates, str | os.PathLike):
            from imageprism.dedup.not_duplicates import NotDuplicates

            # opened first: a damaged marks file stops the run before any embedding
            not_duplicates = opened = NotDuplicates(not_duplicates)
        try:
            embeddings, errors, sources, digests = self._embed_many(images, progress)
            apart = not_duplicates.pairs_among(digests) if not_duplicates is not None else set()
        finally:
            if opened is not None:
                opened.close()
        unique, labels = dedup_embeddings(
            embeddings,
            self._dimensions,
            self.weights,
            self.missing_scores,
            threshold,
            backend=backend,
            apart=apart,
            culprits=self._culprits,
        )
        return DedupResult(
            unique=unique,
            labels=labels,
            groups=groups_of(unique, labels),
            errors=errors,
            sources=sources,
            threshold=threshold,
            digests=digests,
        )

    def index(
        self,
        images: Iterable[ImageInput] = (),
        ids: Sequence[str] | None = None,
        *,
        backend: IndexBackend = "auto",
    ) -> ImageIndex:
        """An ``ImageIndex`` of ``images`` for search (embedded once, in batches).

        Inputs that fail are left out; ``ImageIndex.add`` returns them when you
        need the list. ``backend`` is the index's search backend (see ``ImageIndex``).
        """
        index = ImageIndex(self, backend=backend)
        index.add(images, ids=ids)
        return index

    def __repr__(self) -> str:
        return f"ImagePrism(dimensions={list(self._dimensions)}, weights={self.weights})"


def _prism_from_manifest(manifest: dict[str, Any]) -> ImagePrism:
    """The prism whose settings a saved index or embeddings file records."""
    dimensions = manifest["dimensions"]
    return ImagePrism(
        list(dimensions),
        weights=manifest.get("weights") or None,
        config={n: d["config"] for n, d in dimensions.items() if d.get("config") is not None},
        missing_scores=manifest.get("missing_scores", "zero"),
    )


use_prism_builder(_prism_from_manifest)
