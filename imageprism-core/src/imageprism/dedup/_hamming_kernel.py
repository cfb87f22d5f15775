"""Compiled probing for multi-index hashing (``imageprism.dedup.candidates``), with numba.

Imported only when numba is installed (extra ``numba``). The NumPy path in
``candidates`` finds the same pairs; this one does it without materialising
every probed pair, which is what makes a million images with the default
six-set hash fit in minutes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, value):  # type: ignore[no-untyped-def]  # numba typing callback
    """The number of set bits of a uint64 (LLVM's ctpop: one instruction on x86-64)."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@numba.njit(nogil=True, cache=True)
def bucket_order(keys: np.ndarray, starts: np.ndarray) -> np.ndarray:  # pragma: no cover - jit
    """Positions of ``keys`` sorted by key, stable (a counting sort on ``starts``)."""
    filled = starts[:-1].copy()
    order = np.empty(len(keys), dtype=np.int64)
    for position in range(len(keys)):
        key = keys[position]
        order[filled[key]] = position
        filled[key] += 1
    return order


@numba.njit(nogil=True, cache=True)
def probe_block(
    keys: np.ndarray,
    words: np.ndarray,
    owners: np.ndarray,
    starts: np.ndarray,
    masks: np.ndarray,
    lowest: np.ndarray,
    radius: int,
    first: int,
    last: int,
    enough: int,
) -> tuple[np.ndarray, int]:  # pragma: no cover - jit
    """Owner pairs ``(a, b)``, ``a < b``, of codes within ``radius`` found from one block.

    ``keys``, ``words`` and ``owners`` are in bucket order (``starts[k]`` is where
    key ``k``'s bucket begins). Each code at ``first..last`` is checked against the
    codes after it in its own bucket and, for each flip ``masks[m]`` whose lowest
    bit ``lowest[m]`` is 0 in its key, against the whole bucket of ``key ^ mask``:
    so every pair of codes is looked at once per block. Stops before the next code
    once ``enough`` pairs are listed, and says where it stopped (to resume there).
    Pairs may repeat (one pair of owners matches through several pairs of codes).
    """
    found = np.empty((max(enough, 16), 2), dtype=np.int64)
    count = 0
    width = words.shape[1]
    reach = np.uint64(radius)  # unsigned throughout: numba widens int64 + uint64 to float
    for position in range(first, last):
        if count >= enough:
            return found[:count], position
        key = keys[position]
        owner = owners[position]
        for m in range(-1, len(masks)):
            if m < 0:
                low, high = position + 1, starts[key + 1]
            else:
                if (key >> lowest[m]) & 1:
                    continue
                probe = key ^ masks[m]
                low, high = starts[probe], starts[probe + 1]
            for other in range(low, high):
                them = owners[other]
                if them == owner:
                    continue
                distance = np.uint64(0)
                for w in range(width):
                    distance += _popcount(words[position, w] ^ words[other, w])  # type: ignore[call-arg]
                    if distance > reach:
                        break
                if distance > reach:
                    continue
                if count == len(found):
                    grown = np.empty((2 * len(found), 2), dtype=np.int64)
                    grown[:count] = found
                    found = grown
                found[count, 0] = min(owner, them)
                found[count, 1] = max(owner, them)
                count += 1
    return found[:count], last
