"""Lorentz-invariant constituent features from the four-vectors alone, for small training samples.

A network that reads the seven standard features must learn the jet's invariant mass and its prongs from a
few thousand jets; pairwise masses and kt distances hand them over (arXiv:2201.08187, arXiv:2208.07814).
Each group is switched on in ``build.invariants`` and appended, in the order of
:data:`jettag.jetclass.INVARIANT_FEATURES`, after the standard (and PID) features; masses and kt distances
are divided by the jet pT, so that they are dimensionless like the rest:

- ``running_mass``: ``run_mass``, the invariant mass of the constituents read so far (this one included),
  in the sequence's order; at a jet's last constituent it is the jet mass (of the constituents kept).
- ``previous``: ``mass_prev`` and ``kt_prev``, the invariant mass of this constituent and the one before it
  in the sequence, and their kt distance ``min(pT_i, pT_j) * Delta R_ij``; 0 for the first constituent.
- ``harder``: ``mass_harder`` and ``kt_harder``, the same with the constituent's nearest (in Delta R)
  harder neighbour, i.e. among the jet's constituents of higher pT (earlier in the decreasing-pT order, ties
  by input order); 0 for the hardest. It does not depend on the sequence's order.
- ``jet``: ``mass_fraction = p_i . P / P^2`` and ``log_e_rest = log(p_i . P / sqrt(P^2))``, with ``P``
  the sum of all the jet's constituents: the constituent's energy in the jet's rest frame, over the jet
  mass and as a logarithm. The fractions of a jet add up to 1.

Delta R is taken in the jet-relative (``part_deta``, ``part_dphi``) plane, the difference in phi wrapped.
Everything runs on flat arrays and jagged offsets; the nearest harder neighbour is found on padded blocks
of jets, ``[jets, n, n]`` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np

from jettag.jetclass import INVARIANT_FEATURES
from jettag.standardisation import flat

__all__ = ["invariant_features"]

#: floor of a mass squared, an energy and a log argument (GeV^2, GeV)
_FLOOR = 1e-6
#: jets per block of the pairwise search for the nearest harder neighbour
_BLOCK = 256


def _mass(e: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


def _delta_r(deta1: np.ndarray, dphi1: np.ndarray, deta2: np.ndarray, dphi2: np.ndarray) -> np.ndarray:
    dphi = (dphi1 - dphi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(deta1 - deta2, dphi)


def _nearest_harder(pt: np.ndarray, deta: np.ndarray, dphi: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Flat index of each constituent's nearest harder neighbour in its jet, -1 for the hardest."""
    starts = np.cumsum(counts) - counts
    result = np.full(len(pt), -1, np.int64)
    for first in range(0, len(counts), _BLOCK):
        block = np.arange(first, min(first + _BLOCK, len(counts)))
        n = int(counts[block].max(initial=0))
        if n < 2:
            continue
        # the block's jets padded to n constituents, in their input order
        slot = np.arange(n)[None, :]
        real = slot < counts[block][:, None]
        index = np.where(real, starts[block][:, None] + slot, 0)
        p, e, f = pt[index], deta[index], dphi[index]
        # harder: higher pT, or equal pT and earlier in the input (the stable decreasing-pT order)
        harder = (p[:, None, :] > p[:, :, None]) | ((p[:, None, :] == p[:, :, None]) & (slot < slot.T)[None])
        harder &= real[:, None, :] & real[:, :, None]
        distance = _delta_r(e[:, :, None], f[:, :, None], e[:, None, :], f[:, None, :])
        distance = np.where(harder, distance, np.inf)
        nearest = distance.argmin(axis=2)
        found = np.isfinite(distance.min(axis=2)) & real
        result[index[found]] = index[np.nonzero(found)[0], nearest[found]]
    return result


def invariant_features(jets: ak.Array, order: ak.Array, groups: Sequence[str]) -> dict[str, np.ndarray]:
    """The features of ``groups`` (keys of :data:`INVARIANT_FEATURES`) as flat float64 arrays, one value per
    constituent of ``jets`` in the order ``order`` gives (jagged local indices, as
    :func:`jettag.features.sequences.order_constituents` returns), all constituents (not yet cut)."""
    unknown = sorted(set(groups) - set(INVARIANT_FEATURES))
    if unknown:
        raise ValueError(
            f"unknown invariant feature groups {unknown}; known: {', '.join(INVARIANT_FEATURES)}"
        )
    counts = ak.to_numpy(ak.num(jets["part_px"], axis=1)).astype(np.int64)
    starts = np.cumsum(counts) - counts
    # flat positions of the constituents in the sequence's order
    position = flat(order, np.int64) + np.repeat(starts, counts)
    e, px, py, pz = (flat(jets[f"part_{c}"])[position] for c in ("energy", "px", "py", "pz"))
    deta, dphi = flat(jets["part_deta"])[position], flat(jets["part_dphi"])[position]
    pt = np.hypot(px, py)
    jet_pt = np.repeat(np.maximum(ak.to_numpy(jets["jet_pt"]).astype(np.float64), _FLOOR), counts)
    first = np.zeros(len(e), bool)
    first[starts[counts > 0]] = True
    columns: dict[str, np.ndarray] = {}
    if "running_mass" in groups:
        sums = [np.cumsum(v) for v in (e, px, py, pz)]
        before = [np.repeat(np.concatenate([[0.0], s])[starts], counts) for s in sums]
        columns["run_mass"] = _mass(*(s - b for s, b in zip(sums, before, strict=True))) / jet_pt
    if "previous" in groups:
        prev = np.where(first, np.arange(len(e)), np.arange(len(e)) - 1)
        pair = _mass(e + e[prev], px + px[prev], py + py[prev], pz + pz[prev])
        kt = np.minimum(pt, pt[prev]) * _delta_r(deta, dphi, deta[prev], dphi[prev])
        columns["mass_prev"] = np.where(first, 0.0, pair / jet_pt)
        columns["kt_prev"] = np.where(first, 0.0, kt / jet_pt)
    if "harder" in groups:
        # in input order, where "harder" is defined, then carried to the sequence's order
        inverse = np.empty_like(position)
        inverse[position] = np.arange(len(position))
        h_input = _nearest_harder(pt[inverse], deta[inverse], dphi[inverse], counts)
        h = h_input[position]
        none = h < 0
        h = np.where(none, position, h)
        h = inverse[h]  # the neighbour's place in the sequence's order
        pair = _mass(e + e[h], px + px[h], py + py[h], pz + pz[h])
        kt = np.minimum(pt, pt[h]) * _delta_r(deta, dphi, deta[h], dphi[h])
        columns["mass_harder"] = np.where(none, 0.0, pair / jet_pt)
        columns["kt_harder"] = np.where(none, 0.0, kt / jet_pt)
    if "jet" in groups:
        jet_of = np.repeat(np.arange(len(counts)), counts)
        total = [np.bincount(jet_of, weights=v, minlength=len(counts))[jet_of] for v in (e, px, py, pz)]
        dot = e * total[0] - px * total[1] - py * total[2] - pz * total[3]
        mass2 = np.maximum(total[0] ** 2 - total[1] ** 2 - total[2] ** 2 - total[3] ** 2, _FLOOR)
        columns["mass_fraction"] = dot / mass2
        columns["log_e_rest"] = np.log(np.maximum(dot / np.sqrt(mass2), _FLOOR))
    return {
        name: columns[name]
        for group, names in INVARIANT_FEATURES.items()
        if group in groups
        for name in names
    }
