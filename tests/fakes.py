"""Small in-process dimensions and registries for tests that need more than hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from imageprism import DimensionSpec, PreparedImage, hookimpl
from imageprism.plugin.registry import CORE_DISTRIBUTION, ENTRY_POINT_GROUP, Registry
from imageprism.results import DedupResult


class MeanColourConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    none_when_dark: bool = False
    fail_on_red: bool = False


class MeanColourDimension:
    """Cosine of mean-colour vectors; counts every image it embeds.

    With ``none_when_dark`` a dark image has no embedding (like "no face"); with
    ``fail_on_red`` a batch containing a mostly red image raises, like a model
    that chokes on one input.
    """

    metric = "cosine"

    def __init__(self, name: str, config: MeanColourConfig) -> None:
        self.name = name
        self.config = config
        self.fingerprint = f"{name}:{config.model_dump_json()}"
        self.embedded: list[str] = []

    def embed_batch(self, images: Sequence[PreparedImage]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for image in images:
            mean = image.array(min_side=8).reshape(-1, 3).mean(axis=0) + 1.0
            if self.config.fail_on_red and mean[0] > 150 and mean[1] < 80 and len(images) >= 1:
                raise RuntimeError("model exploded on a red image")
            out.append(None if self.config.none_when_dark and mean.max() < 40 else mean)
        self.embedded.extend(image.digest for image in images)
        return out

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class FakePack:
    """A plugin object registering MeanColour dimensions under the given names."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.built: dict[str, MeanColourDimension] = {}

    def _factory(self, name: str) -> Callable[[MeanColourConfig], MeanColourDimension]:
        def build(config: MeanColourConfig) -> MeanColourDimension:
            self.built[name] = MeanColourDimension(name, config)
            return self.built[name]

        return build

    @hookimpl
    def imageprism_register_dimensions(self, register):
        for name in self.names:
            register(
                DimensionSpec(
                    name=name,
                    factory=self._factory(name),
                    config_model=MeanColourConfig,
                    summary=f"fake {name}",
                )
            )


def core_entry_points() -> list[metadata.EntryPoint]:
    """The entry points imageprism-core declares (hash and the built-in profiles)."""
    return [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == CORE_DISTRIBUTION
    ]


def registry_with(*names: str) -> tuple[Registry, FakePack]:
    """Core plus a fake pack providing ``names``."""
    pack = FakePack(*names)
    return Registry(entry_points=core_entry_points(), plugins=[("fake", pack)]), pack


def content_digest(data: bytes) -> str:
    """The content digest imageprism records for a file's bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def dedup_result(paths: list[Path], groups: list[list[int]]) -> DedupResult:
    """A dedup result over ``paths`` with the given groups (digests of the files as they are)."""
    labels: list[int | None] = list(range(len(paths)))
    for group in groups:
        for member in group:
            labels[member] = group[0]
    return DedupResult(
        unique=sorted({label for label in labels if label is not None}),
        labels=labels,
        groups=groups,
        errors=[],
        sources=[str(p) for p in paths],
        threshold=0.9,
        digests=[content_digest(p.read_bytes()) for p in paths],
    )


def entry_points_from(
    folder: Path, distribution: str, plugins: dict[str, object]
) -> list[metadata.EntryPoint]:
    """Entry points named after ``plugins`` (name -> plugin object), declared by a
    distribution ``distribution`` 1.0 written under ``folder``, as if pip-installed.

    Each object becomes an attribute of this module for the entry point to load.
    """
    info = folder / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = []
    for name, plugin in plugins.items():
        attribute = f"_entry_point_{distribution}_{name}".replace("-", "_")
        globals()[attribute] = plugin
        lines.append(f"{name} = {__name__}:{attribute}\n")
    (info / "entry_points.txt").write_text("[imageprism]\n" + "".join(lines))
    return list(metadata.PathDistribution(info).entry_points)
