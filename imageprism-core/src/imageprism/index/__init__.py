"""Saved embeddings: the searchable ``ImageIndex`` file and plain embeddings files.

``index`` holds ``ImageIndex`` (exact or FAISS search, saved to one zip file
whose manifest records the prism's settings); ``embeddings_file`` writes and
reads ``embed -o`` output (NumPy ``.npz`` or Parquet) with the same manifest.
"""

from imageprism.index.index import ImageIndex, SearchHit
from imageprism.index.manifest import IndexFileError, UntrustedModelError

__all__ = ["ImageIndex", "IndexFileError", "SearchHit", "UntrustedModelError"]
