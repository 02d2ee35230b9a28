"""Particles of many events or jets as flat numpy arrays plus a count per event (or jet)."""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

__all__ = ["Particles"]


@dataclass
class Particles:
    """Particles of several events (or jets) as flat numpy arrays, with the count per event (or jet)."""

    counts: np.ndarray
    fields: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def take(self, index: np.ndarray, counts: np.ndarray) -> Particles:
        return Particles(counts, {name: values[index] for name, values in self.fields.items()})

    def momenta(self) -> ak.Array:
        """Jagged ``Momentum4D`` array (one list per event) for FastJet."""
        flat = ak.zip({k: self.fields[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
        return ak.unflatten(flat, self.counts)
