"""Well-known names: plain strings that also answer ``.value``, like the 0.1 enums did."""

from __future__ import annotations


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
