"""Constituent features as arrays: their standardisation (fitted on the training split by the build stage,
stored as JSON, applied by every later stage and by the networks' own inputs) and their padding into
fixed-length arrays, as every stage that scores jets needs it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from jettag.jetclass import PID_FEATURES
from jettag.shards import write_text_atomically

__all__ = ["Standardisation", "feature_fields", "flat", "jagged", "pad"]


def flat(array: ak.Array, dtype: type = np.float64) -> np.ndarray:
    """The values of a jagged array (one list per jet) as one flat numpy array."""
    return ak.to_numpy(ak.flatten(array, axis=1)).astype(dtype)


def jagged(columns: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """Jagged record array (one list of records per jet) from flat columns."""
    return ak.unflatten(ak.zip(columns, depth_limit=1), counts)


def feature_fields(features: ak.Array) -> list[str]:
    """The feature names (record fields) of a jagged feature array; none is an error."""
    names = ak.fields(features)
    if not names:
        raise ValueError("expected a jagged record array of features (one field per feature), got no fields")
    return names


@dataclass
class Standardisation:
    """Per-feature ``(x - mean) / std``, fitted on real constituents; a declared output, stored as JSON.

    Flag features (``PID_FEATURES``: charge and particle-type flags) keep mean 0 and std 1, so they pass
    unchanged. A feature that is constant in the fit sample gets std 1 rather than a division by zero.
    """

    names: list[str]
    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        if not len(self.names) == len(self.mean) == len(self.std):
            raise ValueError(
                f"{len(self.names)} names, {len(self.mean)} means and {len(self.std)} stds do not match"
            )
        if not np.all(self.std > 0):
            raise ValueError(
                f"std must be positive, got {dict(zip(self.names, self.std.tolist(), strict=True))}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Standardisation):
            return NotImplemented
        return (
            self.names == other.names
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.std, other.std)
        )

    @classmethod
    def fit(cls, features: ak.Array) -> Standardisation:
        """Mean and std of each non-flag feature over the real constituents of ``features`` (jagged)."""
        return cls.fit_chunks([features])

    @classmethod
    def fit_chunks(cls, chunks: Iterable[ak.Array]) -> Standardisation:
        """As :meth:`fit`, over chunks read one after the other (Chan et al.'s pairwise update), so a
        training split of any size is fitted in the memory of one chunk."""
        names: list[str] | None = None
        count = mean = m2 = None
        for features in chunks:
            if names is None:
                names = feature_fields(features)
                count, mean, m2 = 0, np.zeros(len(names)), np.zeros(len(names))
            values = np.stack([flat(features[name]) for name in names], axis=1)
            n = len(values)
            if n == 0:
                continue
            chunk_mean = values.mean(axis=0)
            chunk_m2 = ((values - chunk_mean) ** 2).sum(axis=0)
            delta = chunk_mean - mean
            total = count + n
            mean = mean + delta * n / total
            m2 = m2 + chunk_m2 + delta**2 * count * n / total
            count = total
        if names is None or count == 0:
            raise ValueError("cannot fit a standardisation on jets without any constituents")
        std = np.sqrt(m2 / count)
        flags = np.array([name in PID_FEATURES for name in names])
        mean = np.where(flags, 0.0, mean)
        std = np.where(flags | ~(std > 0), 1.0, std)
        return cls(names, mean, std)

    def apply(self, features: ak.Array) -> ak.Array:
        """``features`` with every field standardised (float32); the fields must be the fitted ones."""
        names = feature_fields(features)
        if names != self.names:
            raise ValueError(f"features have fields {names}, the standardisation was fitted on {self.names}")
        counts = ak.to_numpy(ak.num(features, axis=1))
        columns = {
            name: ((flat(features[name]) - m) / s).astype(np.float32)
            for name, m, s in zip(self.names, self.mean, self.std, strict=True)
        }
        return jagged(columns, counts)

    def to_json(self, path: str | Path) -> None:
        """Write plain JSON; floats are written with ``repr`` precision, so :meth:`from_json` is exact.
        Written whole or not at all (:func:`jettag.shards.write_text_atomically`)."""
        content = {"names": self.names, "mean": self.mean.tolist(), "std": self.std.tolist()}
        write_text_atomically(path, json.dumps(content, indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> Standardisation:
        content = json.loads(Path(path).read_text())
        missing = {"names", "mean", "std"} - set(content)
        if missing:
            raise ValueError(f"{path}: standardisation file lacks the keys {sorted(missing)}")
        return cls(content["names"], np.array(content["mean"]), np.array(content["std"]))


def pad(features: ak.Array, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-length arrays from jagged features: ``(values, mask, lengths)``.

    ``values`` is float32 ``[n_jets, max_length, n_features]`` (features in field order), ``mask`` is bool
    ``[n_jets, max_length]`` (True on real constituents) and ``lengths`` is int64 ``min(n, max_length)``.
    Each jet keeps its first ``max_length`` constituents (so order them first); the rest is zero.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    names = feature_fields(features)
    counts = ak.to_numpy(ak.num(features, axis=1)).astype(np.int64)
    stacked = np.stack([flat(features[name], np.float32) for name in names], axis=1)
    lengths = np.minimum(counts, max_length)
    starts = np.cumsum(counts) - counts
    kept_starts = np.cumsum(lengths) - lengths
    jet_of = np.repeat(np.arange(len(counts)), lengths)
    position = np.arange(lengths.sum()) - np.repeat(kept_starts, lengths)
    values = np.zeros((len(counts), max_length, len(names)), dtype=np.float32)
    values[jet_of, position] = stacked[np.repeat(starts, lengths) + position]
    mask = np.arange(max_length) < lengths[:, None]
    return values, mask, lengths
