"""The dedup engine: exact greedy grouping, candidate search, compiled kernel, FAISS, marks.

``engine`` groups embeddings exactly as 0.1's greedy pass did, scoring only the
pairs that ``candidates`` finds can reach the threshold (multi-index hashing for
hamming codes, blocked products for cosine; ``_hamming_kernel`` is the numba
version of the probe loop, ``faiss_backend`` the FAISS one). ``not_duplicates``
keeps the pairs a person marked as not duplicates, which are never grouped.
"""

from imageprism.dedup.engine import dedup_embeddings, greedy_groups, groups_of
from imageprism.scoring import check_threshold

__all__ = ["check_threshold", "dedup_embeddings", "greedy_groups", "groups_of"]
