"""Compatibility with the published 0.1 surface and with 0.2's module paths, in one place.

Why this exists: code written against 0.1 uses the dimension and profile names
as enum members (``Dimension.HASH.value``), and code written against early 0.2
imports modules that have since moved into subpackages by role
(``imageprism.calibrate`` is now ``imageprism.thresholds.calibrate``). Both keep
working through what is defined here, so the rest of the package is written
against the current layout only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Protocol


class Name(str):
    """A well-known dimension or profile name; equal to, and usable as, the plain string.

    ``Dimension.HASH == "hash"`` and ``Dimension.HASH.value == "hash"`` (0.1 code
    used ``.value`` on its enums).
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        """The name as a plain ``str``."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return str.__repr__(self)


class WellKnownNames(type(Protocol)):  # type: ignore[misc]
    """Metaclass of the ``Dimension`` protocol: the 0.1 enum's constants and calls.

    The constants live on the metaclass so ``Dimension.HASH`` works while they
    stay out of the protocol's members (an implementation need not define them);
    ``list(Dimension)`` and ``Dimension("hash")`` behave like the 0.1 enum.
    """

    HASH = Name("hash")
    SEMANTIC = Name("semantic")
    INSTANCE = Name("instance")
    STYLE = Name("style")
    FACE = Name("face")

    def __iter__(cls) -> Iterator[Name]:
        return iter((cls.HASH, cls.SEMANTIC, cls.INSTANCE, cls.STYLE, cls.FACE))

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls.__qualname__ == "Dimension" and cls.__module__ == "imageprism.plugin.dimension":
            # Dimension("hash") names a dimension (an implementation is still built as usual)
            (value,) = args
            return Name(value)
        return super().__call__(*args, **kwargs)


class ProfileNames(type):
    """Metaclass of ``Profile``: ``list(Profile)`` gives the six built-in names, as 0.1's enum."""

    def __iter__(cls) -> Iterator[Name]:
        names = ("ECOMMERCE", "COPYRIGHT", "DEDUP", "VISUAL_SEARCH", "IDENTITY", "FORGERY")
        return iter(getattr(cls, name) for name in names)


class PositionalFields:
    """Mixin for pydantic models: fields may also be given by position, in field order.

    0.1's configs were dataclasses, so ``HashConfig(("phash",), 16)`` worked; it
    still does for every ``DimensionConfig``.
    """

    def __init__(self, *args: Any, **data: Any) -> None:
        if args:
            fields = list(type(self).model_fields)  # type: ignore[attr-defined]
            if len(args) > len(fields):
                raise TypeError(
                    f"{type(self).__name__} takes at most {len(fields)} positional arguments "
                    f"({', '.join(fields)}), got {len(args)}"
                )
            for field_name, value in zip(fields, args, strict=False):
                if field_name in data:
                    raise TypeError(f"{type(self).__name__} got {field_name!r} twice")
                data[field_name] = value
        super().__init__(**data)


def face_config() -> type:
    """``FaceConfig`` for ``from imageprism import FaceConfig`` (0.1 exported it from core).

    It now lives in the separately licensed face pack, imported only when asked for.

    Raises:
        PackNotInstalledError: the face pack is not installed.
    """
    from imageprism.errors import PackNotInstalledError

    try:
        from imageprism_face import FaceConfig
    except ImportError as err:
        raise PackNotInstalledError(
            "FaceConfig comes with the face pack: pip install imageprism-face",
            package="imageprism-face",
        ) from err
    return FaceConfig


#: Module paths of 0.2 before the subpackages, and where each module lives now.
#: ``import imageprism.calibrate`` gives the very module ``imageprism.thresholds.calibrate``.
MOVED_MODULES: dict[str, str] = {
    f"imageprism.{old}": f"imageprism.{new}"
    for old, new in {
        "calibrate": "thresholds.calibrate",
        "candidates": "dedup.candidates",
        "dimension": "plugin",
        "dimensions": "builtins",
        "dimensions.hash": "builtins.hash",
        "doctor": "cli.doctor",
        "embeddings_file": "index.embeddings_file",
        "faiss_backend": "dedup.faiss_backend",
        "folders": "io.folders",
        "hookspecs": "plugin.hookspecs",
        "hub": "runtime.hub",
        "images": "io.images",
        "names": "_compat",
        "not_duplicates": "dedup.not_duplicates",
        "onnx": "runtime.onnx",
        "plugins": "plugin.registry",
        "presets": "thresholds.presets",
        "profiles": "builtins.profiles",
        "store": "io.store",
        "video": "io.video",
    }.items()
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a moved module under its old name as the same module object."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just set the alias's spec on the shared module; give
        # the module back its own (importlib.reload and pickling read it).
        alias = module.__spec__
        if alias is not None and alias.loader_state is not None:
            module.__spec__ = alias.loader_state


def install_moved_module_finder() -> None:
    """Let the old module paths (``MOVED_MODULES``) be imported; idempotent."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())  # before PathFinder: see MOVED_MODULES
