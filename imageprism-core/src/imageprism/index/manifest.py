"""The prism manifest: what a saved index or embeddings file records of the prism that made it.

``prism_manifest`` writes it (dimensions with their fingerprint, metric and
config, weights, the missing-scores rule); ``prism_for`` checks a given prism
against one read back, or rebuilds the prism it describes. A manifest comes
from a file and is untrusted: a mismatch is an ``IndexFileError``.

A manifest carries settings, never model locations used without the user's say:
before a prism is rebuilt from one (so before any model is downloaded, hashed or
run), each dimension's config is checked, and one that names a model the installed
packs do not pin (another hub repository, file or revision, no sha256) or a local
file (``model_path``, ``embed_path``, ``detector_path``, any path-typed field) is an
``UntrustedModelError`` unless the caller passes ``trust_models=True``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from imageprism.errors import ImagePrismError
from imageprism.io.names import display_name
from imageprism.plugin.dimension import Configured
from imageprism.plugin.registry import get_registry
from imageprism.plugin.specs import DimensionSpec
from imageprism.runtime.hub import ModelConfig, ModelFile

if TYPE_CHECKING:
    from imageprism.prism import ImagePrism

__all__ = [
    "TRUST_HINT",
    "IndexFileError",
    "UntrustedModelError",
    "check_manifest",
    "check_model_sources",
    "prism_for",
    "prism_manifest",
    "use_prism_builder",
]

METRICS = ("hamming", "cosine")

TRUST_HINT = (
    "load it only if you trust whoever wrote it: ImageIndex.load(..., trust_models=True) "
    "or `imageprism search --trust-index-models`; or pass your own prism "
    "(`--dimensions`/`--profile`)"
)


class IndexFileError(ImagePrismError, ValueError):
    """An index file is unreadable, or was built with other dimensions than this prism's."""


class UntrustedModelError(IndexFileError):
    """A saved index or embeddings file names a model the installed packs do not pin, or a
    local model file, and the caller did not pass ``trust_models=True``."""


def prism_manifest(prism: ImagePrism) -> dict[str, Any]:
    """What a saved index or embeddings file records of the prism that made it."""
    dimensions = {}
    for name in prism.dimensions:
        dimension = prism.dimension(name)
        config = dimension.config if isinstance(dimension, Configured) else None
        dimensions[name] = {
            "fingerprint": dimension.fingerprint,
            "metric": dimension.metric,
            # providers say where a model runs, not what it computes: a file made on a GPU
            # machine must load on one without that provider
            "config": (
                config.model_dump(mode="json", exclude={"providers"})
                if isinstance(config, BaseModel)
                else None
            ),
        }
    return {
        "dimensions": dimensions,
        "weights": dict(prism.weights),
        "missing_scores": prism.missing_scores,
    }


def _shown(value: object, limit: int = 100) -> str:
    """A value from a file, for a message: its repr (control characters escaped), cut short."""
    text = repr(str(value) if isinstance(value, PurePath) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problem(path: object, message: str) -> IndexFileError:
    return IndexFileError(f"{display_name(str(path))} is malformed: {message}")


def check_manifest(manifest: Any, path: object, file_format: str) -> dict[str, Any]:
    """``manifest`` checked for the shape ``prism_manifest`` writes (types, not trust).

    Raises:
        IndexFileError: it is not a ``file_format`` manifest, or a part has the wrong type.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != file_format:
        raise IndexFileError(f"{display_name(str(path))} is not an {file_format} file")
    count = manifest.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _problem(path, f"count must be a whole number >= 0, got {_shown(count)}")
    dimensions = manifest.get("dimensions")
    if not isinstance(dimensions, dict) or not dimensions:
        raise _problem(path, "dimensions must map dimension names to their settings")
    for name, info in dimensions.items():
        if not isinstance(info, dict):
            raise _problem(path, f"dimension {name!r}: settings must be an object")
        if not isinstance(info.get("fingerprint"), str):
            raise _problem(path, f"dimension {name!r}: fingerprint must be a string")
        if info.get("metric") not in METRICS:
            raise _problem(
                path,
                f"dimension {name!r}: metric must be one of {METRICS}, "
                f"got {_shown(info.get('metric'))}",
            )
        if not isinstance(info.get("config"), dict | None):
            raise _problem(path, f"dimension {name!r}: config must be an object or null")
        length = info.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
            raise _problem(path, f"dimension {name!r}: length must be a whole number")
    weights = manifest.get("weights")
    if weights is not None and not (
        isinstance(weights, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in weights.values())
    ):
        raise _problem(path, "weights must map dimension names to numbers")
    if not isinstance(manifest.get("missing_scores", "zero"), str):
        raise _problem(path, "missing_scores must be a string")
    return manifest


def _mentions_path(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_mentions_path(arg) for arg in typing.get_args(annotation))
    return False


_LOCATION_NAMES = frozenset({"repo_id", "filename", "revision", "sha256", "url", "path"})
_LOCATION_SUFFIXES = (
    "_path", "_repo", "_repo_id", "_file", "_filename", "_revision", "_sha256", "_url", "_dir",
)  # fmt: skip


def _is_location(name: str, field: FieldInfo) -> bool:
    """Whether a config field says where a model comes from (a hub file or a local path).

    A field may say so itself with ``json_schema_extra={"model_location": True}`` (or
    False); otherwise path-typed fields and the hub fields' names count.
    """
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "model_location" in extra:
        return bool(extra["model_location"])
    return (
        name in _LOCATION_NAMES
        or name.endswith(_LOCATION_SUFFIXES)
        or _mentions_path(field.annotation)
    )


def _same_file(a: ModelFile, b: ModelFile) -> bool:
    return (a.repo_id, a.filename, a.revision, a.sha256) == (
        b.repo_id,
        b.filename,
        b.revision,
        b.sha256,
    )


def _pinned_by_pack(config: BaseModel, spec: DimensionSpec) -> bool:
    """Whether a model config's hub fields resolve to a file the dimension's pack pins."""
    if not isinstance(config, ModelConfig) or config.model_path is not None:
        return False
    pinned = [f for f in getattr(spec, "model_files", ()) if isinstance(f, ModelFile)]
    if not pinned:
        return False
    default = getattr(spec.factory, "default_model", None)
    if not isinstance(default, ModelFile):
        default = pinned[0]
    chosen = config.model_file(default)
    return chosen.pinned and any(_same_file(chosen, f) for f in pinned)


def _config_problem(
    name: str, spec: DimensionSpec, config: dict[str, Any], path: object
) -> str | None:
    """What in a dimension's config from a file points at a model not pinned by the packs.

    Raises:
        IndexFileError: the config is not valid for the dimension.
    """
    model = spec.config_model
    try:
        validated = model.model_validate(config)
    except ValidationError as err:
        fields = ", ".join(".".join(map(str, e["loc"])) or "value" for e in err.errors())
        raise IndexFileError(
            f"{display_name(str(path))}: the config of dimension {name!r} is invalid "
            f"(fields: {display_name(fields)}); make the file again"
        ) from err
    pinned = _pinned_by_pack(validated, spec)
    for field_name, field in type(validated).model_fields.items():
        if not _is_location(field_name, field):
            continue
        value = getattr(validated, field_name)
        if value == field.get_default(call_default_factory=True):
            continue
        if _mentions_path(field.annotation) or isinstance(value, PurePath):
            return f"field {field_name!r} names a local file ({_shown(value)})"
        if not pinned:
            return (
                f"field {field_name!r} ({_shown(value)}) names a model the installed packs "
                "do not pin"
            )
    return None


def check_model_sources(manifest: dict[str, Any], path: object, hint: str = TRUST_HINT) -> None:
    """Refuse a manifest whose configs name unpinned models or local files.

    Runs before any dimension is built, so nothing is downloaded, hashed or run.
    ``hint`` ends the message: how to load the file anyway.

    Raises:
        IndexFileError: a dimension is unknown (or its pack is not installed).
        UntrustedModelError: a config names a model not pinned by the installed packs,
            or a local file.
    """
    registry = get_registry()
    for name, info in manifest["dimensions"].items():
        try:
            spec = registry.dimension(name)
        except ImagePrismError as err:
            raise IndexFileError(
                f"cannot rebuild the prism of {display_name(str(path))}: {err}"
            ) from err
        config = info.get("config")
        if config is None:
            continue
        problem = _config_problem(str(name), spec, config, path)
        if problem is not None:
            raise UntrustedModelError(
                f"{display_name(str(path))}: dimension {name!r}: {problem}; such a file "
                f"could make imageprism download and run any model; {hint}"
            )


def prism_for(
    manifest: dict[str, Any],
    prism: ImagePrism | None,
    path: object,
    *,
    trust_models: bool = False,
) -> ImagePrism:
    """``prism`` checked against a manifest (or, when None, the prism the manifest records).

    Args:
        manifest: The manifest read from the file (checked by ``check_manifest``).
        prism: The caller's prism, or None to rebuild the one the manifest records.
        path: The file, for messages.
        trust_models: Rebuild even when a config names a model not pinned by the
            installed packs, or a local model file.

    Raises:
        IndexFileError: the dimensions or their fingerprints differ.
        UntrustedModelError: without ``trust_models``, a config names an unpinned
            model or a local file.
    """
    if prism is None:
        if not trust_models:  # callers check earlier too, before reading the arrays
            check_model_sources(manifest, path)
        prism = _prism_of(manifest, path)
    ours = {name: prism.dimension(name).fingerprint for name in prism.dimensions}
    theirs = {name: info["fingerprint"] for name, info in manifest["dimensions"].items()}
    if ours != theirs:
        differing = sorted(
            name for name in set(ours) | set(theirs) if ours.get(name) != theirs.get(name)
        )
        raise IndexFileError(
            f"{display_name(str(path))} was made with other dimensions or settings than "
            "this prism: "
            f"{', '.join(differing)} differ (file: {theirs}; prism: {ours}); "
            "make it again with this prism"
        )
    return prism


_build_prism: Callable[[dict[str, Any]], ImagePrism] | None = None


def use_prism_builder(build: Callable[[dict[str, Any]], ImagePrism]) -> None:
    """Set how ``load`` without a prism rebuilds one from a manifest's settings.

    ``imageprism.prism`` sets it when it is imported (always, through ``import
    imageprism``): the index sits below the prism in the layers and cannot import it.
    """
    global _build_prism
    _build_prism = build


def _prism_of(manifest: dict[str, Any], path: object) -> ImagePrism:
    """The prism an index was built with, from its manifest."""
    if _build_prism is None:
        raise IndexFileError(f"cannot rebuild the prism of index {path}: import imageprism first")
    try:
        return _build_prism(manifest)
    except ImagePrismError as err:
        raise IndexFileError(f"cannot rebuild the prism of index {path}: {err}") from err
