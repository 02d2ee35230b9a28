"""From Pythia event batches to JetClass jets: final state, anti-kt clustering, decay matching, substructure.

Everything works on whole batches of events at once: the event record is flattened to numpy arrays once,
FastJet's array interface clusters every event of the batch in one call, and per-particle quantities are
computed on flat arrays. That keeps the Python cost per event small next to Pythia's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np
import vector

from jettag.detector import impact_parameters
from jettag.generate.pythia import ParticleTable
from jettag.jetclass import LABEL_BRANCHES
from jettag.particles import Particles
from jettag.substructure import n_subjettiness, soft_drop_mass

__all__ = [
    "JetSelection",
    "Jets",
    "boson_decays",
    "cluster_jets",
    "final_state",
    "flatten_events",
    "jetclass_columns",
    "match_decays",
    "particle_level",
    "top_decays",
]


@dataclass(frozen=True)
class JetSelection:
    """Which jets are kept: anti-kt radius, pT window (GeV) and |eta| limit."""

    jet_r: float
    pt_min: float
    pt_max: float
    eta_max: float


@dataclass
class Jets:
    """Selected jets: four-momenta, event index and constituents (flat, ``constituents.counts`` per jet)."""

    p4: dict[str, np.ndarray]
    event: np.ndarray
    constituents: Particles

    def __len__(self) -> int:
        return len(self.event)

    def subset(self, keep: np.ndarray) -> Jets:
        keep = np.flatnonzero(keep) if keep.dtype == bool else keep
        starts = np.cumsum(self.constituents.counts) - self.constituents.counts
        counts = self.constituents.counts[keep]
        index = np.repeat(starts[keep] - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return Jets(
            {k: v[keep] for k, v in self.p4.items()}, self.event[keep], self.constituents.take(index, counts)
        )


def flatten_events(prt: ak.Array) -> Particles:
    """The full event record of a Pythia batch (``Pythia.nextBatch(...).prt``) as flat arrays.

    Works on the array's layout: the particle fields are contiguous numpy buffers already, so this takes
    views, not copies (only the optional production vertices need filling).
    """
    layout = ak.to_layout(prt)
    offsets = np.asarray(layout.offsets)
    particles = layout.content[offsets[0] : offsets[-1]]
    momentum = particles["p"]
    fields = {name: particles[name] for name in ("id", "status", "daughter1", "daughter2")}
    fields.update({"px": momentum["px"], "py": momentum["py"], "pz": momentum["pz"], "E": momentum["e"]})
    flat = {name: ak.to_numpy(ak.Array(values)) for name, values in fields.items()}
    vertex = particles["vProd"]  # optional: Pythia gives a vertex to decay products only
    if isinstance(vertex, ak.contents.IndexedOptionArray):
        index = np.asarray(vertex.index)
        has = index >= 0
        for name, component in (("x", "px"), ("y", "py"), ("z", "pz")):
            values = ak.to_numpy(ak.Array(vertex.content[component]))
            flat[name] = (
                np.where(has, values[np.where(has, index, 0)], 0.0) if len(values) else np.zeros(len(index))
            )
    else:
        filled = ak.fill_none(ak.Array(vertex), {"px": 0.0, "py": 0.0, "pz": 0.0, "e": 0.0})
        flat.update({name: ak.to_numpy(filled[c]) for name, c in (("x", "px"), ("y", "py"), ("z", "pz"))})
    return Particles(np.diff(offsets), flat)


def final_state(events: Particles, table: ParticleTable, eta_limit: float) -> Particles:
    """Visible final-state particles of each event (Pythia's ``isVisible``), with |eta| < ``eta_limit``.

    Particles further out cannot belong to a jet at |eta| < eta_max when ``eta_limit`` = eta_max + 2R.
    """
    final = np.flatnonzero(events["status"] > 0)
    charge, visible, hadron = table.lookup(events["id"][final])
    p = vector.array({k: events[k][final] for k in ("px", "py", "pz", "E")})
    keep = visible & (p.pt > 0)
    keep[keep] = np.abs(p.eta[keep]) < eta_limit
    index = final[keep]
    event_of = np.repeat(np.arange(len(events.counts)), events.counts)
    counts = np.bincount(event_of[index], minlength=len(events.counts))
    out = events.take(index, counts)
    out.fields.update(charge=charge[keep], hadron=hadron[keep])
    return out


def particle_level(particles: Particles) -> Particles:
    """The final state as jet constituents without a detector: each particle with its straight-line impact
    parameters ``d0``, ``dz`` (mm; 0 for neutral ones) and resolutions ``d0err``, ``dzerr`` of 0, the fields
    :func:`jettag.detector.simulate` gives its energy-flow objects."""
    d0, dz = impact_parameters(particles)
    neutral = particles["charge"] == 0
    zeros = np.zeros(len(d0))
    particles.fields.update(
        d0=np.where(neutral, 0.0, d0), dz=np.where(neutral, 0.0, dz), d0err=zeros, dzerr=zeros
    )
    return particles


def cluster_jets(particles: Particles, selection: JetSelection) -> Jets:
    """Anti-kt jets of every event inside the pT/|eta| window, with their constituents."""
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, selection.jet_r)
    sequence = fastjet.ClusterSequence(particles.momenta(), definition)
    jets = sequence.inclusive_jets(min_pt=selection.pt_min)
    index = sequence.constituent_index(min_pt=selection.pt_min)

    n_jets = ak.to_numpy(ak.num(jets))
    event = np.repeat(np.arange(len(n_jets)), n_jets)
    index = ak.flatten(index, axis=1)
    counts = ak.to_numpy(ak.num(index))
    starts = np.cumsum(particles.counts) - particles.counts
    flat_index = ak.to_numpy(ak.flatten(index)) + np.repeat(starts[event], counts)
    flat = ak.flatten(jets)
    p4 = {k: ak.to_numpy(flat[k]) for k in ("px", "py", "pz", "E")}
    all_jets = Jets(p4, event, particles.take(flat_index, counts))

    v = vector.array(p4)
    return all_jets.subset((v.pt <= selection.pt_max) & (np.abs(v.eta) < selection.eta_max))


def _record(events: Particles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per record entry: event index, |PDG id|, flat first and last daughter (0: none), four-momentum."""
    starts = np.cumsum(events.counts) - events.counts
    event_of = np.repeat(np.arange(len(events.counts)), events.counts)
    pid = np.abs(events["id"])
    d1 = np.where(events["daughter1"] > 0, events["daughter1"] + starts[event_of], 0)
    d2 = np.where(events["daughter2"] > 0, events["daughter2"] + starts[event_of], 0)
    mom = np.stack([events[k] for k in ("px", "py", "pz", "E")], axis=1)
    return event_of, pid, d1, d2, mom


def _is_quark(pid: np.ndarray) -> np.ndarray:
    """u, d, s, c or b (the quarks a W or Z decays to at the LHC)."""
    return (pid >= 1) & (pid <= 5)


def top_decays(events: Particles) -> dict[str, np.ndarray]:
    """Every hadronically decaying top of each event: the event index and the four-momenta of the top
    (last copy, before decay), its b quark and the two quarks of its W (as they leave the decay)."""
    event_of, pid, d1, d2, mom = _record(events)
    top = np.flatnonzero((pid == 6) & (d1 > 0) & (pid[d1] != 6))
    first, second = d1[top], d2[top]
    bottom = np.where(pid[first] == 5, first, second)
    w = np.where(pid[first] == 24, first, second)
    for _ in range(100):  # follow the W through its shower copies to the one that decays
        nxt = d1[w]
        move = (nxt > 0) & (pid[nxt] == 24)
        if not move.any():
            break
        w = np.where(move, nxt, w)
    q1, q2 = d1[w], d2[w]
    hadronic = (pid[bottom] == 5) & (pid[w] == 24) & _is_quark(pid[q1]) & _is_quark(pid[q2])
    return {
        "event": event_of[top[hadronic]],
        "top": mom[top[hadronic]],
        "b": mom[bottom[hadronic]],
        "q1": mom[q1[hadronic]],
        "q2": mom[q2[hadronic]],
    }


def boson_decays(events: Particles, pdg: int) -> dict[str, np.ndarray]:
    """Every W (``pdg`` 24) or Z (23) of each event that decays to two quarks: the event index and the
    four-momenta of the boson (last copy, before decay) and of its two quarks (as they leave the decay)."""
    event_of, pid, d1, d2, mom = _record(events)
    boson = np.flatnonzero((pid == pdg) & (d1 > 0) & (pid[d1] != pdg))
    q1, q2 = d1[boson], d2[boson]
    hadronic = (q2 == q1 + 1) & _is_quark(pid[q1]) & _is_quark(pid[q2])
    return {
        "event": event_of[boson[hadronic]],
        "boson": mom[boson[hadronic]],
        "q1": mom[q1[hadronic]],
        "q2": mom[q2[hadronic]],
    }


def match_decays(
    jets: Jets, decays: dict[str, np.ndarray], partons: Sequence[str], jet_r: float
) -> np.ndarray:
    """True for each jet that contains all ``partons`` of one decay in ``decays`` within ``jet_r``.

    ``decays`` holds an ``event`` index and, per parton name, one four-momentum row per decay
    (as from :func:`top_decays` or :func:`boson_decays`).
    """
    jet = vector.array(jets.p4)
    order = np.argsort(decays["event"], kind="stable")
    events = decays["event"][order]
    momenta = [
        vector.array({k: decays[name][order][:, i] for i, k in enumerate(("px", "py", "pz", "E"))})
        for name in partons
    ]
    lo = np.searchsorted(events, jets.event, side="left")
    hi = np.searchsorted(events, jets.event, side="right")
    matched = np.zeros(len(jets), dtype=bool)
    for k in range(int((hi - lo).max(initial=0))):
        valid = lo + k < hi
        d = np.where(valid, lo + k, 0)
        inside = valid.copy()
        for parton in momenta:
            inside &= jet.deltaR(parton[d]) < jet_r
        matched |= inside
    return matched


def jetclass_columns(jets: Jets, jet_r: float, label: str) -> dict[str, ak.Array | np.ndarray]:
    """JetClass branches (see :mod:`jettag.jetclass`) of ``jets``, particles sorted by decreasing pT."""
    counts = jets.constituents.counts
    jet_index = np.repeat(np.arange(len(jets)), counts)
    p = vector.array({k: jets.constituents[k] for k in ("px", "py", "pz", "E")})
    order = np.lexsort((-p.pt, jet_index))
    c = jets.constituents.take(order, counts)
    p = vector.array({k: c[k] for k in ("px", "py", "pz", "E")})
    jet = vector.array(jets.p4)
    jet_of = jet[jet_index]

    charged = c["charge"] != 0
    abs_id = np.abs(c["id"])
    part = {
        "px": p.px,
        "py": p.py,
        "pz": p.pz,
        "energy": p.E,
        "deta": (p.eta - jet_of.eta) * np.sign(jet_of.eta),
        "dphi": p.deltaphi(jet_of),
        "d0val": c["d0"],  # mm; 0 for neutral particles
        "d0err": c["d0err"],  # 0 at particle level
        "dzval": c["dz"],
        "dzerr": c["dzerr"],
        "charge": c["charge"],
    }
    flags = {
        "isChargedHadron": c["hadron"] & charged,
        "isNeutralHadron": c["hadron"] & ~charged,
        "isPhoton": abs_id == 22,
        "isElectron": abs_id == 11,
        "isMuon": abs_id == 13,
    }
    record = {k: np.asarray(v, np.float32) for k, v in part.items()}
    record.update({k: np.asarray(v, np.int32) for k, v in flags.items()})

    taus = n_subjettiness(c, jet_r)
    columns: dict[str, ak.Array | np.ndarray] = {
        "part": ak.unflatten(ak.zip(record), counts),
        "jet_pt": jet.pt,
        "jet_eta": jet.eta,
        "jet_phi": jet.phi,
        "jet_energy": jet.E,
        "jet_nparticles": counts,
        "jet_sdmass": soft_drop_mass(c, jet_r),
        **{f"jet_tau{n + 1}": taus[:, n] for n in range(4)},
    }
    columns.update({k: np.asarray(v, np.float32) for k, v in columns.items() if k != "part"})
    for name, dtype in LABEL_BRANCHES.items():
        columns[name] = np.full(len(jets), name == label, dtype=dtype)
    return columns
