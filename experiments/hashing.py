"""GrowthBook's hash: FNV-1a 32 over UTF-16 code units, versions 1 and 2.

Source: growthbook/growthbook ``packages/sdk-js/src/util.ts`` (``hash``); the JS loop
``h ^= str.charCodeAt(i)`` walks UTF-16 code units, so a character outside the Basic
Multilingual Plane (an emoji) contributes its two surrogates, not one code point.

``hash_values`` is the vectorised form used to assign a million customers in well under
a second: it walks character positions over a whole column at once. Strings are held as
numpy UTF-32 arrays, where every code point below U+10000 equals its single UTF-16 code
unit; the rare rows with astral characters take the exact scalar path.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_OFFSET = 0x811C9DC5
_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
_CHUNK = 1 << 18  # rows per vectorised block: bounds the UTF-32 matrix to tens of MB


def _code_units(text: str) -> Iterable[int]:
    if text.isascii():
        return text.encode("ascii")
    return np.frombuffer(text.encode("utf-16-le"), dtype="<u2").tolist()


def fnv1a32(text: str, state: int = _OFFSET) -> int:
    """FNV-1a 32-bit over the UTF-16 code units of ``text``, continuing from ``state``."""
    h = state
    for unit in _code_units(text):
        h = ((h ^ unit) * _PRIME) & _MASK
    return h


def hash_value(seed: str, value: str, version: int = 2) -> float | None:
    """GrowthBook ``hash(seed, value, version)``: a float in [0, 1), or None for an unknown version.

    v2: ``fnv(str(fnv(seed + value))) % 10000 / 10000``; v1 (legacy, used by namespaces):
    ``fnv(value + seed) % 1000 / 1000``.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def _fnv_matrix(state: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Continue FNV-1a for each row over its first ``lengths[i]`` code units in ``codes``."""
    h = state.astype(np.uint32, copy=True)
    prime = np.uint32(_PRIME)
    for j in range(codes.shape[1]):
        stepped = (h ^ codes[:, j]) * prime  # uint32 arithmetic wraps modulo 2**32, as FNV wants
        h = np.where(lengths > j, stepped, h)
    return h


def _fnv_decimal(h1: np.ndarray) -> np.ndarray:
    """FNV-1a of ``str(h1)`` for every uint32 in ``h1`` (the second round of hash v2)."""
    wide = h1.astype(np.uint64)
    powers = 10 ** np.arange(9, -1, -1, dtype=np.uint64)
    digits = ((wide[:, None] // powers[None, :]) % 10).astype(np.uint32) + np.uint32(ord("0"))
    n_digits = np.maximum(1, np.floor(np.log10(np.maximum(wide, 1))).astype(np.int64) + 1)
    # Right-align: position j of the 10-wide matrix is live when j >= 10 - n_digits.
    h = np.full(h1.shape, _OFFSET, dtype=np.uint32)
    prime = np.uint32(_PRIME)
    for j in range(10):
        stepped = (h ^ digits[:, j]) * prime
        h = np.where(j >= 10 - n_digits, stepped, h)
    return h


def _hash_block(seed: str, values: np.ndarray, version: int) -> np.ndarray:
    arr = values.astype(np.str_)
    width = max(arr.dtype.itemsize // 4, 1)
    codes = np.ascontiguousarray(arr).view(np.uint32).reshape(len(arr), width)
    lengths = np.char.str_len(arr)
    if version == 2:
        h = _fnv_matrix(np.full(len(arr), fnv1a32(seed), dtype=np.uint32), codes, lengths)
        out = (_fnv_decimal(h) % np.uint32(10000)) / 10000
    else:
        h = _fnv_matrix(np.full(len(arr), _OFFSET, dtype=np.uint32), codes, lengths)
        for unit in _code_units(seed):
            h = (h ^ np.uint32(unit)) * np.uint32(_PRIME)
        out = (h % np.uint32(1000)) / 1000
    astral = np.flatnonzero((codes >= 0x10000).any(axis=1))
    for i in astral:  # surrogate pairs: exact scalar path
        out[i] = hash_value(seed, str(arr[i]), version)
    return out


def hash_values(seed: str, values: Iterable[str], version: int = 2) -> np.ndarray:
    """Vectorised ``hash_value`` over ``values`` (strings): float64 array in [0, 1).

    Equal to ``[hash_value(seed, v, version) for v in values]``. Values must not contain
    NUL characters (numpy strips trailing NULs).
    """
    if version not in (1, 2):
        raise ValueError(f"hash version must be 1 or 2 (got {version!r})")
    if not hasattr(values, "__len__"):
        values = list(values)
    arr = np.asarray(values, dtype=object)
    out = np.empty(len(arr), dtype=np.float64)
    for lo in range(0, len(arr), _CHUNK):
        out[lo : lo + _CHUNK] = _hash_block(seed, arr[lo : lo + _CHUNK], version)
    return out
