"""Pythia8 set-up for the processes jettag generates, and PDG-id properties from its particle data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pythia8mc

__all__ = ["PROCESS_CARDS", "ParticleTable", "make_pythia"]

#: process-specific Pythia settings; everything else is Pythia's default (ISR, FSR, MPI, hadronisation on)
PROCESS_CARDS: dict[str, list[str]] = {
    # hadronic ttbar: both W bosons forced to quarks, so each event can give two top jets
    "Tbqq": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"],
    # W + parton, the W forced to quarks (u d, u s, u b, c d, c s, c b): the W recoils against the parton,
    # so pTHat is the W's pT and the jet pT window selects boosted W bosons
    "Wqq": [
        "WeakBosonAndParton:qqbar2Wg = on",
        "WeakBosonAndParton:qg2Wq = on",
        "24:onMode = off",
        "24:onIfAny = 1 2 3 4 5",
    ],
    # Z + parton, Z only (no photon exchange), forced to q qbar with q = u, d, s, c, b: every flavour a Z
    # decays to, b included, since no JetClass class holds Z -> b bbar apart from Zqq
    "Zqq": [
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakZ0:gmZmode = 2",
        "23:onMode = off",
        "23:onIfAny = 1 2 3 4 5",
    ],
    # QCD dijets: all hard 2 -> 2 QCD processes
    "QCD": ["HardQCD:all = on"],
}


def make_pythia(
    process: str,
    seed: int,
    sqrt_s: float,
    pthat_min: float,
    pthat_max: float,
    extra: Sequence[str] = (),
) -> pythia8mc.Pythia:
    """An initialised Pythia for ``process`` with a fixed seed."""
    if process not in PROCESS_CARDS:
        raise ValueError(f"unknown process '{process}' (known: {', '.join(PROCESS_CARDS)})")
    pythia = pythia8mc.Pythia("", False)
    lines = [
        f"Beams:eCM = {sqrt_s}",
        *PROCESS_CARDS[process],
        f"PhaseSpace:pTHatMin = {pthat_min}",
        f"PhaseSpace:pTHatMax = {pthat_max}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        *extra,
    ]
    for line in lines:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for process '{process}' with settings {lines}")
    return pythia


class ParticleTable:
    """Charge, visibility and hadron flag by PDG id, read from Pythia's particle data and cached."""

    def __init__(self, particle_data: pythia8mc.ParticleData) -> None:
        self._data = particle_data
        self._ids = np.empty(0, dtype=np.int64)
        self._charge = np.empty(0, dtype=np.float32)
        self._visible = np.empty(0, dtype=bool)
        self._hadron = np.empty(0, dtype=bool)

    def _learn(self, ids: np.ndarray) -> None:
        new = np.setdiff1d(np.unique(ids), self._ids)
        if new.size == 0:
            return
        charge = [self._data.charge(int(i)) for i in new]
        visible = [self._data.isVisible(int(i)) for i in new]
        hadron = [self._data.isHadron(int(i)) for i in new]
        ids_all = np.concatenate([self._ids, new])
        order = np.argsort(ids_all)
        self._ids = ids_all[order]
        self._charge = np.concatenate([self._charge, np.asarray(charge, np.float32)])[order]
        self._visible = np.concatenate([self._visible, np.asarray(visible, bool)])[order]
        self._hadron = np.concatenate([self._hadron, np.asarray(hadron, bool)])[order]

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(charge, visible, hadron) for each PDG id in ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self._ids, ids).clip(max=max(len(self._ids) - 1, 0))
        if len(self._ids) == 0 or not np.array_equal(self._ids[pos], ids):  # a PDG id not seen before
            self._learn(ids)
            pos = np.searchsorted(self._ids, ids)
        return self._charge[pos], self._visible[pos], self._hadron[pos]
