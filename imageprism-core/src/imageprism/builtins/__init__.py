"""What core ships as ordinary plugins: the hash dimension and the built-in profiles.

Each module here is named by an entry point in the ``imageprism`` group of
imageprism-core's own metadata, exactly as a third-party plugin's module would
be, and registers through the same hooks; nothing else in core refers to them
by name except to import their public types (``HashConfig``, ``Profile``).
"""

__all__ = ["hash", "profiles"]
