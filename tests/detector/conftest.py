"""Beams of single particles, one per event, shot through the detector: the card's numbers by sampling."""

from __future__ import annotations

import numpy as np
import pytest

from jettag.detector import DetectorCard, load_card, simulate
from jettag.particles import Particles

#: charge and hadron flag of the particles the tests shoot
KINDS = {211: (1.0, True), -211: (-1.0, True), 13: (-1.0, False), 11: (-1.0, False), 22: (0.0, False),
         130: (0.0, True), 2112: (0.0, True)}  # fmt: skip


@pytest.fixture(scope="session")
def atlas() -> DetectorCard:
    return load_card("atlas")


@pytest.fixture(scope="session")
def cms() -> DetectorCard:
    return load_card("cms")


def beam(pdg: int, pt: float, eta: float, n: int, phi: float | np.ndarray = 0.3) -> Particles:
    """``n`` events of one massless particle each, from the origin, at fixed pT, eta (and phi)."""
    charge, hadron = KINDS[pdg]
    phi = np.broadcast_to(np.asarray(phi, dtype=float), (n,))
    fields = {
        "px": np.full(n, pt) * np.cos(phi),
        "py": np.full(n, pt) * np.sin(phi),
        "pz": np.full(n, pt * np.sinh(eta)),
        "E": np.full(n, pt * np.cosh(eta)),
        "id": np.full(n, pdg),
        "charge": np.full(n, charge, dtype=np.float32),
        "hadron": np.full(n, hadron),
        **{k: np.zeros(n) for k in ("x", "y", "z")},
    }
    return Particles(np.ones(n, dtype=np.int64), fields)


def shoot(particles: Particles, card: DetectorCard, seed: int = 1) -> Particles:
    return simulate(particles, card, np.random.default_rng(seed))
