"""Integrations of imageprism with other frameworks, each behind its own extra.

- ``imageprism.integrations.ray``: embed images with Ray Data past one machine, read the
  results back as an index or an embeddings file, and dedup them shard by shard
  (``pip install "imageprism-core[ray]"``).
"""

__all__ = ["ray"]
