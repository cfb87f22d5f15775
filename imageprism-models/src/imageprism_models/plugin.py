"""Entry point of the model pack (registered under the ``imageprism`` group).

The semantic, instance and style dimensions are registered here once they land;
until then the pack registers nothing, and asking for one of them says so.
"""

from collections.abc import Callable

from imageprism.dimension import DimensionSpec
from imageprism.hookspecs import hookimpl


@hookimpl
def imageprism_register_dimensions(register: Callable[[DimensionSpec], None]) -> None:
    """Register the model pack's dimensions (none yet)."""
