"""What a plugin registers: specs of dimensions, profiles and presets, and the config base.

Every spec is a frozen pydantic model (``ComponentSpec``), validated when it is
made, so a plugin's mistake is reported where it is made and names the field.
The face pack's detector and embedder specs are ``ComponentSpec`` too.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageprism._compat import PositionalFields
from imageprism.errors import ConfigError

__all__ = [
    "ComponentSpec",
    "DimensionConfig",
    "DimensionSpec",
    "Preset",
    "ProfileSpec",
    "normalize_weights",
]


def normalize_weights(
    weights: Mapping[str, float], *, argument: str = "weights"
) -> dict[str, float]:
    """Return ``weights`` scaled to sum to 1, dropping zero weights.

    Raises:
        ConfigError: a weight is negative, not finite or not a number, or none is positive.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ConfigError(f"{argument} must be a non-empty mapping of dimension name to weight")
    checked: dict[str, float] = {}
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ConfigError(f"{argument}[{name!r}] must be a number >= 0, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{argument}[{name!r}] must be a finite number >= 0, got {weight!r}")
        if weight > 0:
            checked[str(name)] = float(weight)
    total = sum(checked.values())
    if total <= 0:
        raise ConfigError(f"{argument} must give at least one dimension a weight > 0")
    return {name: weight / total for name, weight in checked.items()}


class ComponentSpec(BaseModel):
    """Base of every spec a plugin registers: frozen, no unknown fields, any Python value allowed.

    Attributes:
        name: What users select the component by; unique across plugins (a name two
            third-party plugins register is refused for both; a first-party one keeps it).
        summary: One line for ``imageprism plugins``.
        model_files: The model files it needs (``ModelFile``s, for ``models list`` and
            ``models pull``).
        licence: A note on the licence of the code and of any model it downloads;
            ``imageprism plugins`` shows it ("" shows the distribution's licence).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    summary: str
    model_files: tuple[Any, ...] = ()
    licence: str = ""


class DimensionConfig(PositionalFields, BaseModel):
    """Base for dimension configs: frozen, no unknown fields, fields also by position.

    Subclass it for a plugin's config; positional arguments follow the field
    order, so ``HashConfig(("phash",), 16)`` works as it did in 0.1.

    Configs travel in index and embeddings files, which are untrusted: a field that
    says where a model comes from is refused there unless it is the pinned default
    (or the caller passes ``trust_models=True``). Path-typed fields and fields named
    ``repo_id``, ``filename``, ``revision``, ``sha256``, ``url``, ``path`` or ending in
    ``_path``, ``_repo``, ``_file``, ``_revision``, ``_sha256``, ``_url``, ``_dir`` count;
    mark any other such field with ``Field(json_schema_extra={"model_location": True})``
    (or ``False`` to say a matching name is not one). Bound every field that sets a
    resource (threads, sizes) with ``le=``: a file can carry any value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class DimensionSpec(ComponentSpec):
    """What a plugin registers to provide a dimension.

    Attributes:
        name: The dimension's name, unique across plugins.
        factory: Builds the dimension (a ``Dimension``) from a validated config
            (an instance of ``config_model``).
        config_model: The dimension's pydantic config model (frozen); its
            defaults must be valid, so ``config_model()`` is the default config.
        summary: One line for ``imageprism plugins``.
        model_files: The model files the dimension needs (for ``models pull``).
        licence: A note on the licence of the code and of any model it downloads.
    """

    factory: Callable[[Any], Any]
    config_model: type[BaseModel]


class ProfileSpec(BaseModel):
    """A profile as a plugin registers it: a name and weights per dimension.

    Weights are normalised to sum to 1.

    Attributes:
        name: What users select the profile by; unique across plugins.
        weights: Weight per dimension name (normalised to sum to 1).
        summary: One line for ``imageprism plugins``: what the profile finds.
        licence: A note on the licence of the profile (its weights are the plugin's
            work); "" when it is the plugin's distribution's licence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    weights: dict[str, float]
    summary: str = ""
    licence: str = ""

    @field_validator("weights")
    @classmethod
    def _normalise(cls, weights: dict[str, float]) -> dict[str, float]:
        return normalize_weights(weights)


class Preset(BaseModel):
    """A named threshold for a dimension or a profile, with how well it did where measured.

    Attributes:
        name: The preset's name, e.g. ``"exact"``, ``"near-duplicate"``, ``"similar"``.
        target: The dimension or profile name it applies to.
        threshold: Score in [0, 1] at or above which a pair counts as a match.
        precision: Share of the pairs matched at ``threshold`` that are true
            matches on ``benchmark``; None when not measured.
        recall: Share of the true matches of ``benchmark`` matched at ``threshold``;
            None when not measured.
        benchmark: The named set it was measured on (see ``BENCHMARKS``); None
            when not measured.
        note: What the threshold assumes (e.g. a face embedder) or where it comes from.
        config: The dimension settings the threshold was measured with (e.g.
            ``{"embedder": "dlib"}``): scores on other settings have another scale,
            so ``check`` refuses them.
        summary: One line for ``imageprism plugins``: what a match at this threshold is.
        licence: A note on the licence of the numbers (e.g. of the benchmark data they
            were measured on); "" when it is the plugin's distribution's licence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    target: str
    threshold: float = Field(ge=0.0, le=1.0)
    precision: float | None = Field(default=None, ge=0.0, le=1.0)
    recall: float | None = Field(default=None, ge=0.0, le=1.0)
    benchmark: str | None = None
    note: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    summary: str = ""
    licence: str = ""

    def check(self, config: BaseModel | None) -> None:
        """Refuse a dimension config whose settings differ from those the preset assumes.

        Raises:
            ConfigError: a setting in ``self.config`` has another value in ``config``.
        """
        given = config.model_dump(mode="json") if config is not None else {}
        differing = {
            key: given.get(key) for key, value in self.config.items() if given.get(key) != value
        }
        if differing:
            raise ConfigError(
                f"preset {self.name!r} of {self.target!r} was measured with "
                f"{self.config}; this {self.target} has {differing}: calibrate it instead "
                "(imageprism calibrate)"
            )

    @field_validator("name", "target")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()
