"""Entry point of the face pack (registered under the ``imageprism`` group).

It adds the face pack's own hook specifications to core's plugin manager, the
way pytest plugins use ``pytest_addhooks``. The ``face`` dimension and its
detectors and embedders are registered here once they land.
"""

import pluggy

from imageprism.hookspecs import hookimpl
from imageprism_face import hookspecs


@hookimpl
def imageprism_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add the face detector and embedder hooks to imageprism's plugin manager."""
    pluginmanager.add_hookspecs(hookspecs)
