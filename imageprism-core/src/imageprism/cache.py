"""A thread-safe, bounded embedding cache keyed on (dimension fingerprint, content digest)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from imageprism.errors import ConfigError

CacheKey = tuple[str, str]
"""``(dimension fingerprint, content digest)``."""

_MISSING = object()


class EmbeddingCache:
    """Least-recently-used cache of embeddings, bounded by entry count and by bytes.

    ``None`` embeddings (e.g. "no face in this image") are cached too, so an
    image is never embedded twice for the same dimension while it is cached.

    Args:
        max_items: Most entries kept (0 disables caching).
        max_bytes: Most embedding bytes kept.
    """

    def __init__(self, max_items: int = 10_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
            raise ConfigError(f"max_items must be an integer >= 0, got {max_items!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, np.ndarray | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lookup(self, key: CacheKey) -> tuple[bool, np.ndarray | None]:
        """``(True, embedding)`` if cached (the embedding may be None), else ``(False, None)``."""
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                self.misses += 1
                return False, None
            self._entries.move_to_end(key)
            self.hits += 1
            return True, value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def put(self, key: CacheKey, value: np.ndarray | None) -> None:
        """Store an embedding (or None), evicting least recently used entries past the bounds."""
        size = 0 if value is None else int(value.nbytes)
        if self.max_items == 0 or size > self.max_bytes:
            return
        if value is not None:
            value = value.copy()
            value.setflags(write=False)  # a caller must not change what others will read
        with self._lock:
            old = self._entries.pop(key, _MISSING)
            if old is not _MISSING and old is not None:
                self._bytes -= int(old.nbytes)  # type: ignore[attr-defined]
            self._entries[key] = value
            self._bytes += size
            while len(self._entries) > self.max_items or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                if evicted is not None:
                    self._bytes -= int(evicted.nbytes)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of embeddings held now."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
