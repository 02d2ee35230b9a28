"""Augmentation of the training split: seeded, transformed copies of its jets (``build.augment``).

Each copy changes a jet's constituents and leaves every feature to the build stage's own code, which then
builds the copy exactly as it builds a recorded jet (sequences, invariants, images), so nothing is
approximated in feature space:

- ``rotation``: the constituents turn about the jet axis in the (Delta eta, Delta phi) plane by an angle
  drawn uniformly in [0, 2 pi) per jet;
- ``reflection``: Delta phi changes sign for half of the jets (drawn per jet), before the rotation, so
  that rotations and reflections together give every orientation;
- ``energy_smear``: each constituent's four-momentum is scaled by ``1 + energy_smear * z``, ``z`` a standard
  normal, clipped to [0.5, 1.5] (a 100% fluctuation would be no longer a smear): its direction and its mass
  over energy stay.

Each constituent keeps its pT (before the smear) and its mass; its new rapidity and azimuth are the jet's
plus the new (Delta eta, Delta phi) (Delta eta taken as ``(eta - jet_eta) * sign(jet_eta)``, as ingest
writes it). The jet is then the sum of its constituents again (``jet_pt``, ``jet_eta``, ``jet_phi``,
``jet_energy``, ``jet_mass``) and ``part_deta`` and ``part_dphi`` are taken about the new axis. A rotation
in (Delta eta, Delta phi) is not a Lorentz transformation: pair masses follow the distances
``Delta R`` to first order, so the jet mass moves by about a percent (tested). ``jet_sdmass`` and the
N-subjettiness values are carried over unchanged: the copies feed the constituent and image taggers, and
the BDT's ``highlevel.arrow`` holds the recorded jets only.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jettag.settings import AugmentSpec
from jettag.standardisation import flat

__all__ = ["augment_jets"]

#: the smear's scale factors are clipped to this range
_SCALE_RANGE = (0.5, 1.5)


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _sign(eta: np.ndarray) -> np.ndarray:
    return np.where(eta < 0, -1.0, 1.0)


def augment_jets(jets: ak.Array, spec: AugmentSpec, rng: np.random.Generator) -> ak.Array:
    """One transformed copy of every jet of ``jets`` (ingested jets: ``part_*`` and ``jet_*`` fields),
    drawn from ``rng``; the other fields are carried over."""
    counts = ak.to_numpy(ak.num(jets["part_px"], axis=1)).astype(np.int64)
    n_jets = len(counts)
    px, py, pz, e = (flat(jets[f"part_{c}"]).astype(np.float64) for c in ("px", "py", "pz", "energy"))
    deta, dphi = (flat(jets[name]).astype(np.float64) for name in ("part_deta", "part_dphi"))
    pt = np.hypot(px, py)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    angle = rng.uniform(0.0, 2 * np.pi, n_jets) if spec.rotation else np.zeros(n_jets)
    mirror = rng.random(n_jets) < 0.5 if spec.reflection else np.zeros(n_jets, bool)
    cos, sin = np.repeat(np.cos(angle), counts), np.repeat(np.sin(angle), counts)
    dphi = np.where(np.repeat(mirror, counts), -dphi, dphi)
    deta, dphi = cos * deta - sin * dphi, sin * deta + cos * dphi
    jet_eta = np.repeat(ak.to_numpy(jets["jet_eta"]).astype(np.float64), counts)
    jet_phi = np.repeat(ak.to_numpy(jets["jet_phi"]).astype(np.float64), counts)
    eta, phi = jet_eta + deta * _sign(jet_eta), jet_phi + dphi
    if spec.energy_smear > 0:
        scale = np.clip(1.0 + spec.energy_smear * rng.standard_normal(len(pt)), *_SCALE_RANGE)
        pt, mass = pt * scale, mass * scale
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(mass**2 + (pt * np.cosh(eta)) ** 2)
    jet_of = np.repeat(np.arange(n_jets), counts)
    total = [np.bincount(jet_of, weights=v, minlength=n_jets) for v in (px, py, pz, e)]
    new_pt = np.hypot(total[0], total[1])
    new_eta = np.arcsinh(np.divide(total[2], new_pt, out=np.zeros(n_jets), where=new_pt > 0))
    new_phi = np.arctan2(total[1], total[0])
    new_mass = np.sqrt(np.maximum(total[3] ** 2 - total[0] ** 2 - total[1] ** 2 - total[2] ** 2, 0.0))
    part = {
        "part_px": px, "part_py": py, "part_pz": pz, "part_energy": e,
        "part_deta": (eta - np.repeat(new_eta, counts)) * _sign(np.repeat(new_eta, counts)),
        "part_dphi": _wrap(phi - np.repeat(new_phi, counts)),
    }  # fmt: skip
    copy = jets
    for name, values in part.items():
        copy = ak.with_field(copy, ak.unflatten(values.astype(np.float32), counts), name)
    jet = {"jet_pt": new_pt, "jet_eta": new_eta, "jet_phi": new_phi, "jet_energy": total[3],
           "jet_mass": new_mass}  # fmt: skip
    for name, values in jet.items():
        if name in ak.fields(jets):
            copy = ak.with_field(copy, values.astype(np.float32), name)
    return copy
