"""The parametric detector: Pythia's visible final state to energy-flow objects, a batch of events at once.

The chain is that of Delphes' ATLAS and CMS cards:

1. propagation to the calorimeter in the solenoid's field (:mod:`jettag.detector.propagation`);
2. tracking: each charged particle gives a track with the card's efficiency for its type (charged hadron,
   electron, muon), by its pT and the |eta| of the point where it leaves the tracker (as Delphes'
   ``Efficiency`` and ``MomentumSmearing`` modules take it: a soft particle that spirals out through an
   endcap is seen at large |eta|, where the efficiency is 0); the track's pT is drawn log-normally with
   mean pT and width res pT (res capped at 1), its direction kept; its impact parameters are the
   straight-line d0 and dz from the production vertex, smeared with the card's Gaussian resolution
   (``part_d0err``, ``part_dzerr``);
3. ECAL, then HCAL (``SimpleCalorimeter``): every particle that reaches the calorimeter leaves the card's
   fraction of its energy in the tower it hits; a tower's sum is drawn log-normally with the calorimeter's
   sigma(E), and kept if at least ``energy_min`` and ``significance_min`` sigma; its eta and phi are drawn
   inside the tower. The tracks that point at a tower with a non-zero fraction for their type are its
   track energy. Energy flow: the neutral excess E_tower - E_tracks, if above ``energy_min`` and
   ``significance_min`` times sqrt(sigma_tracks^2 + sigma_tower^2), becomes a photon (ECAL) or a neutral
   hadron (HCAL) and the tracks pass unchanged; otherwise the tracks are scaled to the 1/sigma^2-weighted
   mean of track and tower energy. The HCAL works on the tracks the ECAL passes on.

Muons are tracks only and neutrinos are invisible (both by their energy fractions, and the final state holds
no invisible particle). Energy-flow objects are massless: E = |p|. Everything is numpy over flat arrays, with
no Python loop over particles, events or towers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jettag.detector.card import TRACK_TYPES, Calorimeter, DetectorCard
from jettag.detector.propagation import CalorimeterHits, propagate
from jettag.particles import Particles

__all__ = ["DetectorCounts", "Tracks", "impact_parameters", "log_normal", "reconstruct_tracks", "simulate"]

#: PDG id given to an energy-flow photon and neutral hadron (the latter is no particle: 0)
PHOTON_ID, NEUTRAL_HADRON_ID = 22, 0


@dataclass
class DetectorCounts:
    """What the detector saw and made, summed over batches (written to each shard's JSON summary)."""

    particles: int = 0
    particles_curled: int = 0
    tracks: int = 0
    towers_read_out: dict[str, int] = field(default_factory=lambda: {"ecal": 0, "hcal": 0})
    eflow: dict[str, int] = field(default_factory=lambda: {"tracks": 0, "photons": 0, "neutral_hadrons": 0})

    def as_dict(self) -> dict:
        return {
            "particles": self.particles,
            "particles_curled": self.particles_curled,
            "tracks": self.tracks,
            "towers_read_out": dict(self.towers_read_out),
            "eflow": dict(self.eflow),
        }


def log_normal(mean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log-normal draws with the given mean and standard deviation (0 where the mean is not positive)."""
    mean = np.asarray(mean, dtype=float)
    positive = mean > 0
    safe = np.where(positive, mean, 1.0)
    b = np.sqrt(np.log1p((np.asarray(sigma, dtype=float) / safe) ** 2))
    a = np.log(safe) - 0.5 * b**2
    return np.where(positive, np.exp(a + b * rng.standard_normal(len(mean))), 0.0)


def impact_parameters(particles: Particles) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line transverse and longitudinal impact parameters (mm) from the production vertex."""
    x, y, z = particles["x"], particles["y"], particles["z"]
    px, py, pz = particles["px"], particles["py"], particles["pz"]
    pt2 = np.maximum(px**2 + py**2, 1e-24)
    d0 = (x * py - y * px) / np.sqrt(pt2)
    dz = z - (x * px + y * py) * pz / pt2
    return d0, dz


def _track_types(pdg: np.ndarray) -> np.ndarray:
    """0 charged hadron, 1 electron, 2 muon (the order of ``TRACK_TYPES``)."""
    apid = np.abs(pdg)
    return np.where(apid == 11, 1, np.where(apid == 13, 2, 0))


def _per_type(tables: dict, types: np.ndarray, abs_eta: np.ndarray, pt: np.ndarray, name: str) -> np.ndarray:
    out = np.zeros(len(types))
    for t, kind in enumerate(TRACK_TYPES):
        sel = types == t
        if sel.any():
            table = tables[kind]
            out[sel] = table.value(name, table.rows(abs_eta[sel], pt[sel]))
    return out


def _sum(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum of ``values`` per ``index`` in [0, n), as floats also when there is nothing to sum."""
    return np.bincount(index, values, minlength=n).astype(float, copy=False)


@dataclass
class _Neutrals:
    event: np.ndarray
    energy: np.ndarray
    eta: np.ndarray
    phi: np.ndarray


def _calorimeter(
    calo: Calorimeter,
    event: np.ndarray,
    hit_tower_eta: np.ndarray,
    hit_tower_phi: np.ndarray,
    reached: np.ndarray,
    deposit: np.ndarray,
    track_particle: np.ndarray,
    track_energy: np.ndarray,
    track_res: np.ndarray,
    track_fraction: np.ndarray,
    rng: np.random.Generator,
) -> tuple[_Neutrals, np.ndarray, int]:
    """One calorimeter's towers and energy flow: the neutral objects it makes, the scale factor of each
    track's momentum, and the number of towers read out."""
    n_towers = calo.towers.n_towers
    tower = np.where(reached, calo.towers.tower(hit_tower_eta, hit_tower_phi), -1)
    hit = np.flatnonzero((tower >= 0) & (deposit > 0))
    track_tower = tower[track_particle]
    in_tower = np.flatnonzero(track_tower >= 0)
    keys = np.concatenate(
        [
            event[hit] * n_towers + tower[hit],
            event[track_particle[in_tower]] * n_towers + track_tower[in_tower],
        ]
    )
    unique, inverse = np.unique(keys, return_inverse=True)
    inv_hit, inv_track = inverse[: len(hit)], inverse[len(hit) :]
    n = len(unique)

    counted = track_fraction[in_tower] > 0
    e_track = track_energy[in_tower] * track_fraction[in_tower]
    true_energy = _sum(inv_hit, deposit[hit], n)
    track_sum = _sum(inv_track, np.where(counted, e_track, 0.0), n)
    track_var = _sum(inv_track, np.where(counted, (track_res[in_tower] * e_track) ** 2, 0.0), n)

    ids = unique % n_towers
    eta_lo, eta_hi, phi_lo, phi_hi = calo.towers.edges(ids)
    abs_eta_centre = np.abs(0.5 * (eta_lo + eta_hi))
    energy = log_normal(true_energy, calo.sigma(abs_eta_centre, true_energy), rng)
    sigma = calo.sigma(abs_eta_centre, energy)
    energy = np.where((energy < calo.energy_min) | (energy < calo.significance_min * sigma), 0.0, energy)
    if calo.smear_tower_center:
        eta = rng.uniform(eta_lo, eta_hi)
        phi = rng.uniform(phi_lo, phi_hi)
    else:
        eta, phi = 0.5 * (eta_lo + eta_hi), 0.5 * (phi_lo + phi_hi)

    neutral = np.maximum(energy - track_sum, 0.0)
    total_sigma = np.sqrt(track_var + sigma**2)
    significance = np.divide(neutral, total_sigma, out=np.zeros(n), where=total_sigma > 0)
    make = (neutral > calo.energy_min) & (significance > calo.significance_min)
    w_track = np.divide(1.0, track_var, out=np.zeros(n), where=track_var > 0)
    w_calo = np.divide(1.0, sigma**2, out=np.zeros(n), where=sigma > 0)
    weights = w_track + w_calo
    best = np.divide(w_track * track_sum + w_calo * energy, weights, out=track_sum.copy(), where=weights > 0)
    factor = np.where(
        ~make & (track_sum > 0), np.divide(best, track_sum, out=np.ones(n), where=track_sum > 0), 1.0
    )

    track_factor = np.ones(len(track_particle))
    track_factor[in_tower] = np.where(counted, factor[inv_track], 1.0)
    neutrals = _Neutrals(unique[make] // n_towers, neutral[make], eta[make], phi[make])
    return neutrals, track_factor, int((energy > 0).sum())


@dataclass
class Tracks:
    """The tracks of a batch: the index of each one's particle, the |eta| where it left the tracker, its
    relative pT resolution and the factor its momentum was scaled by (the smearing)."""

    particle: np.ndarray
    exit_eta: np.ndarray
    resolution: np.ndarray
    scale: np.ndarray


def reconstruct_tracks(
    pt: np.ndarray,
    charge: np.ndarray,
    pdg: np.ndarray,
    hits: CalorimeterHits,
    card: DetectorCard,
    rng: np.random.Generator,
) -> Tracks:
    """Tracking: efficiency and log-normal pT smearing by type, pT and the |eta| where each charged
    particle leaves the tracker."""
    charged = np.flatnonzero((charge != 0) & hits.inside)
    exit_eta = np.abs(hits.eta[charged])
    types = _track_types(pdg[charged])
    efficiency = _per_type(card.efficiency, types, exit_eta, pt[charged], "value")
    found = rng.random(len(charged)) < efficiency
    track = charged[found]
    types, exit_eta = types[found], exit_eta[found]
    a = _per_type(card.momentum_resolution, types, exit_eta, pt[track], "a")
    b = _per_type(card.momentum_resolution, types, exit_eta, pt[track], "b")
    res = np.minimum(np.sqrt(a**2 + (b * pt[track]) ** 2), 1.0)
    scale = log_normal(pt[track], res * pt[track], rng) / pt[track]
    return Tracks(track, exit_eta, res, scale)


def simulate(
    particles: Particles, card: DetectorCard, rng: np.random.Generator, counts: DetectorCounts | None = None
) -> Particles:
    """Energy-flow objects of each event of ``particles`` (visible final state with production vertices).

    The result has, per object: ``px py pz E`` (massless), ``charge``, ``id`` (the particle's for tracks,
    22 for photons, 0 for neutral hadrons), ``hadron``, ``d0 dz`` (mm) and their resolutions ``d0err dzerr``
    (0 for neutral objects), ordered by event, and ``counts`` per event.
    """
    n_events = len(particles.counts)
    event = np.repeat(np.arange(n_events), particles.counts)
    px, py, pz, energy = (particles[k] for k in ("px", "py", "pz", "E"))
    charge, pdg = particles["charge"], particles["id"]
    pt = np.hypot(px, py)
    vertex = (particles["x"], particles["y"], particles["z"])
    hits = propagate(px, py, pz, charge, vertex, card.radius, card.half_length, card.bz)

    tracks = reconstruct_tracks(pt, charge, pdg, hits, card, rng)
    track, exit_eta, res, scale = tracks.particle, tracks.exit_eta, tracks.resolution, tracks.scale
    p_track = np.sqrt(pt[track] ** 2 + pz[track] ** 2) * scale

    # calorimeters, ECAL then HCAL on the tracks the ECAL passes on
    fractions = card.energy_fractions(pdg)
    track_fractions = card.energy_fractions(pdg[track])
    neutrals = {}
    towers_read_out = {}
    for column, calo in enumerate((card.ecal, card.hcal)):
        made, factor, n_read = _calorimeter(
            calo, event, hits.eta, hits.phi, hits.reached, energy * fractions[:, column],
            track, p_track, res, track_fractions[:, column], rng,
        )  # fmt: skip
        scale *= factor
        p_track *= factor
        neutrals[calo.name] = made
        towers_read_out[calo.name] = n_read

    # impact parameters of the tracks, smeared with the card's resolution at the particle's pT (the one
    # the efficiency table found the track at; the card's tables cover it)
    d0_true, dz_true = impact_parameters(particles.take(track, np.zeros(0)))
    sigmas = []
    for table in (card.d0_resolution, card.dz_resolution):
        rows = table.rows(exit_eta, pt[track])
        sigmas.append(np.sqrt(table.value("a", rows) ** 2 + (table.value("b", rows) / pt[track]) ** 2))
    d0 = d0_true + sigmas[0] * rng.standard_normal(len(track))
    dz = dz_true + sigmas[1] * rng.standard_normal(len(track))

    parts = [
        {
            "event": event[track],
            "px": px[track] * scale,
            "py": py[track] * scale,
            "pz": pz[track] * scale,
            "E": p_track,
            "charge": charge[track],
            "id": pdg[track],
            "hadron": particles["hadron"][track],
            "d0": d0,
            "dz": dz,
            "d0err": sigmas[0],
            "dzerr": sigmas[1],
        }
    ]
    for name, pid in (("ecal", PHOTON_ID), ("hcal", NEUTRAL_HADRON_ID)):
        n = neutrals[name]
        pt_n = n.energy / np.cosh(n.eta)
        zeros = np.zeros(len(n.event))
        parts.append(
            {
                "event": n.event,
                "px": pt_n * np.cos(n.phi),
                "py": pt_n * np.sin(n.phi),
                "pz": pt_n * np.sinh(n.eta),
                "E": n.energy,
                "charge": np.zeros(len(n.event), dtype=charge.dtype),
                "id": np.full(len(n.event), pid, dtype=pdg.dtype),
                "hadron": np.full(len(n.event), name == "hcal"),
                "d0": zeros,
                "dz": zeros,
                "d0err": zeros,
                "dzerr": zeros,
            }
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out_event = merged.pop("event")
    order = np.argsort(out_event, kind="stable")
    out_event = out_event[order]
    fields = {k: v[order] for k, v in merged.items()}

    if counts is not None:
        counts.particles += len(pt)
        counts.particles_curled += int(hits.curled.sum())
        counts.tracks += len(track)
        for name, n_read in towers_read_out.items():
            counts.towers_read_out[name] += n_read
        counts.eflow["tracks"] += len(track)
        counts.eflow["photons"] += len(neutrals["ecal"].event)
        counts.eflow["neutral_hadrons"] += len(neutrals["hcal"].event)
    return Particles(np.bincount(out_event, minlength=n_events), fields)
