"""The errors imageprism raises: one root, a few subclasses.

Each subclass also inherits the built-in exception it narrows, so code that
catches ``KeyError`` or ``ValueError`` keeps working.
"""


class ImagePrismError(Exception):
    """Root of every error imageprism raises on purpose."""


class ConfigError(ImagePrismError, ValueError):
    """An argument or configuration value is invalid; the message names it and what is allowed."""


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value has the wrong type (a TypeError, as in 0.1)."""


class UnknownDimensionError(ImagePrismError, KeyError):
    """A dimension name is not registered by any installed plugin."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownProfileError(ImagePrismError, KeyError):
    """A profile name is not registered by any installed plugin."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PackNotInstalledError(UnknownDimensionError, ImportError):
    """A well-known dimension was asked for but the pack that provides it is missing.

    The message says which package to install.
    """

    def __init__(self, message: str, *, package: str) -> None:
        super().__init__(message)
        self.package = package


class PluginError(ImagePrismError):
    """A plugin broke its contract: it failed to import or register, a factory or a call
    raised, or it returned something the host refuses (wrong count, length or dtype, NaN).

    The message names the component, the plugin (its entry point) and its distribution.

    Attributes:
        plugin: The entry-point name of the plugin that answers for the fault.
        distribution: That plugin's distribution (None when unknown).
        component: What failed, e.g. ``"dimension 'colour'"`` or ``"face embedder 'acme'"``
            (None when the whole plugin failed).
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str,
        distribution: str | None,
        component: str | None = None,
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution
        self.component = component


class DimensionError(PluginError, RuntimeError):
    """A dimension (or a component it uses) failed on one image, for a reason other than
    loading it: its call raised, or what it returned for that image was refused.

    A ``PluginError`` about one image: batch calls (``embed_many``, ``dedup``,
    ``index``) report it in ``errors`` and go on; ``embed`` and ``compare`` raise it.
    The message names the component, its plugin and distribution, and the image.

    Attributes:
        dimension: The dimension the image was being embedded for.
        source: The image.
    """

    def __init__(
        self,
        message: str,
        *,
        dimension: str,
        source: str,
        plugin: str | None = None,
        distribution: str | None = None,
        component: str | None = None,
    ) -> None:
        super().__init__(
            message,
            plugin=dimension if plugin is None else plugin,
            distribution=distribution,
            component=f"dimension {dimension!r}" if component is None else component,
        )
        self.dimension = dimension
        self.source = source


class PluginWarning(UserWarning):
    """A plugin broke its contract in a way the host worked around, e.g. ``embed_batch``
    returned too few embeddings and the images were embedded one by one instead.

    Filter it like any warning (``warnings.simplefilter("error", PluginWarning)`` to
    make it fatal while testing a plugin).
    """


class ImageLoadError(ImagePrismError, ValueError):
    """An input could not be turned into an image; names the source and the cause."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cannot load image {source}: {reason}")
        self.source = source
        self.reason = reason


class ModelFileError(ImagePrismError, OSError):
    """A model file is missing, unverifiable, corrupt or cannot be downloaded.

    The message names the file, where it was looked for, and how to get it onto
    an offline machine.
    """


class StoreFileError(ImagePrismError, ValueError):
    """An embedding store or not-duplicates file cannot be used.

    The message names the file and why: not an SQLite database, another
    program's database, a schema version this imageprism does not know, or a
    failed read or write.
    """


class UndoManifestError(ImagePrismError, ValueError):
    """An undo manifest is missing, unreadable or not one imageprism wrote."""


class UntrustedManifestError(UndoManifestError):
    """An undo manifest's signature does not verify: not written by this user's imageprism.

    Nothing was changed. ``roots`` and ``to`` are the folders it records; the
    user may confirm them (``undo(..., trust_roots=True)``, CLI ``--trust-roots``).
    """

    def __init__(self, message: str, *, roots: list[str], to: str | None) -> None:
        super().__init__(message)
        self.roots = roots
        self.to = to
