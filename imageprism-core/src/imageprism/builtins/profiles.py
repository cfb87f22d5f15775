"""The six built-in profiles (named weightings of dimensions) and their names.

Core registers them through the ``imageprism`` entry-point group (this module is
that plugin); other plugins may register more. Blending scores with a profile's
weights is ``imageprism.scoring.blend``.
"""

from __future__ import annotations

from collections.abc import Callable

from imageprism._compat import Name, ProfileNames
from imageprism.plugin.hookspecs import hookimpl
from imageprism.plugin.specs import ProfileSpec


class Profile(metaclass=ProfileNames):
    """Names of profiles: ``Profile.COPYRIGHT == "copyright"``.

    The set of profiles is open (plugins register more as ``ProfileSpec``), so
    this is not an enum; ``list(Profile)`` gives the six built-in names and
    ``Profile("copyright")`` makes one. Plain strings work wherever a profile
    name is expected.
    """

    ECOMMERCE = Name("ecommerce")
    COPYRIGHT = Name("copyright")
    DEDUP = Name("dedup")
    VISUAL_SEARCH = Name("visual_search")
    IDENTITY = Name("identity")
    FORGERY = Name("forgery")

    def __new__(cls, value: str) -> Name:  # type: ignore[misc]
        return Name(value)


BUILTIN_PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        name=Profile.ECOMMERCE,
        weights={"instance": 0.7, "semantic": 0.2, "style": 0.1},
        summary="the same product in different shots",
    ),
    ProfileSpec(
        name=Profile.COPYRIGHT,
        weights={"hash": 0.5, "instance": 0.3, "semantic": 0.2},
        summary="re-uses of a picture, edited or not",
    ),
    ProfileSpec(
        name=Profile.DEDUP,
        weights={"hash": 0.6, "instance": 0.3, "semantic": 0.1},
        summary="near-duplicate files",
    ),
    ProfileSpec(
        name=Profile.FORGERY,
        weights={"hash": 0.5, "instance": 0.3, "semantic": 0.1, "face": 0.1},
        summary="a picture altered from another",
    ),
    ProfileSpec(
        name=Profile.IDENTITY,
        weights={"face": 0.8, "instance": 0.1, "semantic": 0.1},
        summary="the same person",
    ),
    ProfileSpec(
        name=Profile.VISUAL_SEARCH,
        weights={"semantic": 0.4, "instance": 0.3, "style": 0.2, "hash": 0.1},
        summary="pictures that look alike",
    ),
)


@hookimpl
def imageprism_register_profiles(register: Callable[[ProfileSpec], None]) -> None:
    """Register the six built-in profiles."""
    for profile in BUILTIN_PROFILES:
        register(profile)
