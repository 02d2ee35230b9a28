"""Deterministic train / validation / test assignment per jet.

By default (``split_by: hash``) each jet's split follows from a 64-bit hash of its file's name and its
entry number in that file (and a seed), so it never changes when files are added, removed, reordered or
read in other chunk sizes. With ``split_by: file`` a file's jets all go to the split its name says
(``train.h5``, ``val.h5``, ``test.h5``, ``toplandscape_test.parquet``), so a published sample keeps its
own split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jettag.jetclass import SPLITS

__all__ = ["SPLIT_BY", "assign_splits", "jet_uniform", "split_of_file"]

#: how jets are split: by a hash of file name and entry, or by the split each file's name says
SPLIT_BY = ("hash", "file")

#: words of a file name that name a split
_SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "test": "test", "testing": "test"}  # fmt: skip

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return x ^ (x >> np.uint64(31))


def jet_uniform(path: str | Path, entries: np.ndarray, seed: int = 0) -> np.ndarray:
    """A number in [0, 1) per jet, fixed by the file's name, the entry and the seed."""
    digest = hashlib.blake2b(f"{Path(path).name}|{seed}".encode(), digest_size=8).digest()
    key = np.uint64(int.from_bytes(digest, "little"))
    with np.errstate(over="ignore"):
        x = _splitmix64(key ^ _splitmix64(np.asarray(entries, dtype=np.uint64)))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def split_of_file(path: str | Path) -> str:
    """The split a file's name says: one of its words (split at anything but letters and digits) is
    train, val or test (or training, valid, validation, testing); a name with none, or two, is refused."""
    words = re.split(r"[^0-9a-z]+", Path(path).stem.lower())
    named = sorted({_SPLIT_WORDS[w] for w in words if w in _SPLIT_WORDS})
    if len(named) != 1:
        found = f"it names {' and '.join(named)}" if named else "it names none"
        raise ValueError(
            f"{path}: with ingest.split_by: file, a file's name must say its split (a word train, val or "
            f"test, e.g. train.h5), but {found}"
        )
    return named[0]


def assign_splits(u: np.ndarray, fractions: Mapping[str, float]) -> np.ndarray:
    """Index into :data:`SPLITS` per jet, from its uniform number and the split fractions."""
    edges = np.cumsum([fractions[name] for name in SPLITS])
    edges[-1] = 1.0  # fractions sum to one; guard against rounding
    return np.searchsorted(edges, u, side="right").clip(max=len(SPLITS) - 1)
