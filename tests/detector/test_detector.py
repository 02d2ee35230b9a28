"""Each part of the detector against its card, by sampling beams of single particles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from jettag.detector import propagate, reconstruct_tracks
from jettag.particles import Particles
from tests.detector.conftest import beam, shoot

N = 20000


def binomial_ok(k: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(k / n - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-12) / n)


def per_event(out: Particles, values: np.ndarray) -> np.ndarray:
    return np.bincount(np.repeat(np.arange(len(out.counts)), out.counts), values, minlength=len(out.counts))


@pytest.mark.parametrize(
    ("pdg", "pt", "eta", "efficiency"),
    [
        (211, 5.0, 0.3, 0.95),
        (211, 0.6, 0.3, 0.70),
        (-211, 5.0, 2.0, 0.85),
        (211, 0.6, 2.0, 0.60),
        (11, 0.6, 2.0, 0.50),
        (11, 200.0, 0.4, 0.99),
        (13, 50.0, 1.0, 0.99),
        (13, 0.6, 1.8, 0.70),
        (211, 5.0, 2.7, 0.0),  # beyond the tracker
    ],
)
def test_tracking_efficiency_is_the_cards_within_binomial_errors(atlas, pdg, pt, eta, efficiency):
    # an untracked charged particle still reaches the calorimeter, but as a neutral object
    out = shoot(beam(pdg, pt, eta, N), atlas)
    tracked = int((per_event(out, (out["charge"] != 0).astype(float)) > 0).sum())
    assert binomial_ok(tracked, N, efficiency), (tracked / N, efficiency)


@pytest.mark.parametrize(("pt", "eta", "a", "b"), [(100.0, 1.0, 0.10, 1.7e-3), (20.0, 0.2, 0.06, 1.3e-3),
                                                     (300.0, 2.0, 0.25, 3.1e-3)])  # fmt: skip
def test_charged_hadron_pt_resolution_is_within_5_percent_of_the_formula(atlas, pt, eta, a, b):
    particles = beam(211, pt, eta, N)
    p = particles.fields
    hits = propagate(p["px"], p["py"], p["pz"], p["charge"], (p["x"], p["y"], p["z"]), 1.15, 3.51, 2.0)
    tracks = reconstruct_tracks(np.hypot(p["px"], p["py"]), p["charge"], p["id"], hits, atlas,
                                np.random.default_rng(2))  # fmt: skip
    expected = math.sqrt(a**2 + (b * pt) ** 2)
    np.testing.assert_allclose(tracks.resolution, expected)
    assert np.std(tracks.scale) == pytest.approx(expected, rel=0.05)
    assert abs(np.mean(tracks.scale) - 1) < 4 * expected / math.sqrt(
        len(tracks.scale)
    )  # log-normal: unbiased


def test_a_resolution_above_one_is_capped(atlas):
    p = beam(211, 2000.0, 2.2, 100).fields
    hits = propagate(p["px"], p["py"], p["pz"], p["charge"], (p["x"], p["y"], p["z"]), 1.15, 3.51, 2.0)
    tracks = reconstruct_tracks(np.hypot(p["px"], p["py"]), p["charge"], p["id"], hits, atlas,
                                np.random.default_rng(2))  # fmt: skip
    assert len(tracks.particle) > 50
    assert np.all(tracks.resolution == 1.0)


def test_muons_are_tracks_only_with_the_muon_resolution(atlas):
    out = shoot(beam(13, 50.0, 0.2, N), atlas)
    assert np.all(out["charge"] != 0)  # no calorimeter object: muons leave no energy
    expected = math.sqrt(0.01**2 + (50.0 * 1.0e-4) ** 2)
    assert np.std(np.hypot(out["px"], out["py"]) / 50.0) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize(
    ("pdg", "energy", "eta", "card_name"),
    [(22, 50.0, 0.55, "atlas"), (130, 100.0, 0.55, "atlas"), (2112, 40.0, 1.85, "atlas"),
     (22, 50.0, 1.2, "cms"), (22, 50.0, 2.2, "cms")],
)  # fmt: skip
def test_calorimeter_energy_resolution_is_within_5_percent_of_the_formula(
    atlas, cms, pdg, energy, eta, card_name
):
    card = {"atlas": atlas, "cms": cms}[card_name]
    calo = card.ecal if pdg == 22 else card.hcal
    out = shoot(beam(pdg, energy / math.cosh(eta), eta, N), card)
    assert np.all(per_event(out, np.ones(len(out["E"]))) == 1)  # one object per particle
    # the resolution is taken at the centre of the tower hit
    lo, hi, _, _ = calo.towers.edges(calo.towers.tower(np.array([eta]), np.array([0.3])))
    expected = float(calo.sigma(np.abs(0.5 * (lo + hi)), np.array([energy]))[0])
    assert np.std(out["E"]) == pytest.approx(expected, rel=0.05)
    assert abs(np.mean(out["E"]) - energy) < 4 * expected / math.sqrt(N)


def _readout_probability(calo, energy: float, abs_eta: float) -> float:
    """P(a lone deposit of ``energy`` is read out): the log-normal draw E must pass E >= energy_min and
    E >= significance_min sigma(E); sigma(E) grows slower than E, so that is E above one threshold."""
    sigma = lambda e: float(calo.sigma(np.array([abs_eta]), np.array([e]))[0])  # noqa: E731
    lo, hi = calo.energy_min, 1000.0
    if calo.energy_min < calo.significance_min * sigma(calo.energy_min):
        lo = calo.energy_min
        for _ in range(200):  # bisection for E = significance_min sigma(E)
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if mid < calo.significance_min * sigma(mid) else (lo, mid)
        lo = hi
    b = math.sqrt(math.log1p((sigma(energy) / energy) ** 2))
    a = math.log(energy) - 0.5 * b**2
    return 1 - stats.norm.cdf((math.log(lo) - a) / b)


@pytest.mark.parametrize(
    ("pdg", "energy"), [(22, 0.55), (22, 0.7), (22, 0.3), (130, 3.0), (130, 1.5), (130, 6.0)]
)
def test_towers_below_the_energy_and_significance_thresholds_are_not_read_out(atlas, pdg, energy):
    eta = 0.55
    calo = atlas.ecal if pdg == 22 else atlas.hcal
    out = shoot(beam(pdg, energy / math.cosh(eta), eta, N), atlas)
    expected = _readout_probability(calo, energy, eta)
    seen = len(out["E"])
    assert binomial_ok(seen, N, expected), (seen / N, expected)
    assert np.all(out["E"] >= calo.energy_min)


def test_tower_grid_is_the_cards(atlas, cms):
    # TopLandscape's ATLAS card: ECAL and HCAL share 0.1 x 10 degree towers up to |eta| 2.5
    for calo in (atlas.ecal, atlas.hcal):
        ring = np.diff(calo.towers.eta_edges)
        central = np.abs(calo.towers.eta_edges[:-1]) < 2.5 - 1e-9
        np.testing.assert_allclose(ring[central & (calo.towers.eta_edges[1:] <= 2.5 + 1e-9)], 0.1)
        assert set(calo.towers.phi_bins[central]) == {36}
    # CMS: ECAL 0.0174 x 1 degree in the barrel, HCAL 0.087 x 5 degrees to |eta| 1.653
    edges = cms.ecal.towers.eta_edges
    barrel = (np.abs(edges[:-1]) <= 1.4964 + 1e-9) & (np.abs(edges[1:]) <= 1.4964 + 1e-9)
    np.testing.assert_allclose(np.diff(edges)[barrel], 0.0174, atol=1e-9)
    assert set(cms.ecal.towers.phi_bins[barrel]) == {360}
    hcal = cms.hcal.towers
    inner = np.abs(hcal.eta_edges[1:]) <= 1.653 + 1e-9
    inner &= np.abs(hcal.eta_edges[:-1]) <= 1.653 + 1e-9
    np.testing.assert_allclose(np.diff(hcal.eta_edges)[inner], 0.087, atol=1e-9)
    assert set(hcal.phi_bins[inner]) == {72}
    # every point maps to a tower that contains it, and the towers are numbered without gaps
    rng = np.random.default_rng(3)
    for calo in (atlas.ecal, atlas.hcal, cms.ecal, cms.hcal):
        eta = rng.uniform(-4.8, 4.8, 5000)
        phi = rng.uniform(-np.pi, np.pi, 5000)
        tower = calo.towers.tower(eta, phi)
        lo, hi, plo, phi_hi = calo.towers.edges(tower)
        assert np.all((lo < eta) & (eta <= hi) & (plo <= phi) & (phi <= phi_hi))
        assert tower.max() < calo.towers.n_towers
    assert atlas.ecal.towers.tower(np.array([5.5]), np.array([0.0]))[0] == -1


def test_tower_centre_is_drawn_uniformly_inside_the_tower(atlas):
    out = shoot(beam(22, 20.0, 0.55, N, phi=0.3), atlas)
    eta = np.arcsinh(out["pz"] / np.hypot(out["px"], out["py"]))
    phi = np.arctan2(out["py"], out["px"])
    width = np.pi / 18
    phi_lo = np.floor((0.3 + np.pi) / width) * width - np.pi
    assert np.all((eta > 0.5) & (eta <= 0.6 + 1e-9) & (phi >= phi_lo - 1e-9) & (phi <= phi_lo + width + 1e-9))
    assert stats.kstest((eta - 0.5) / 0.1, "uniform").pvalue > 1e-3
    assert stats.kstest((phi - phi_lo) / width, "uniform").pvalue > 1e-3


def test_energy_flow_objects_are_massless(atlas):
    out = shoot(beam(211, 0.5, 0.1, 2000), atlas)  # pions: the track carries E = |p|, not the pion mass
    p = np.sqrt(out["px"] ** 2 + out["py"] ** 2 + out["pz"] ** 2)
    np.testing.assert_allclose(out["E"], p, rtol=1e-12)


def test_charged_particles_bend_in_the_field_and_soft_ones_curl_up():
    # from the origin, a charge q of pT reaches R at a position angle phi0 - q asin(0.2998 B R / (2 pT))
    pt = np.array([1.0, 5.0, 1.0, 0.30, 0.40])
    charge = np.array([1.0, 1.0, -1.0, 1.0, 1.0])
    phi0 = 0.3
    zeros = np.zeros(5)
    hits = propagate(
        pt * np.cos(phi0), pt * np.sin(phi0), zeros, charge, (zeros, zeros, zeros), 1.15, 3.51, 2.0
    )
    bend = np.arcsin(0.299792458 * 2.0 * 1.15 / (2 * pt[[0, 1, 2, 4]]))
    np.testing.assert_allclose(hits.phi[[0, 1, 2, 4]], phi0 - charge[[0, 1, 2, 4]] * bend, atol=1e-12)
    # below pT = 0.2998 B R / 2 = 0.345 GeV the circle never reaches the barrel: it curls up
    assert list(hits.reached) == [True, True, True, False, True]
    assert list(hits.curled) == [False, False, False, True, False]


def test_a_particle_that_curls_up_leaves_no_tower(atlas):
    photons = shoot(beam(-211, 0.3, 0.2, 5000), atlas)
    assert np.all(photons["charge"] != 0)  # tracks may be found, but the calorimeter saw nothing


def test_forward_particles_leave_through_the_endcap():
    eta = np.array([2.0, 3.0])
    pt = np.array([10.0, 10.0])
    zeros = np.zeros(2)
    hits = propagate(
        pt, zeros, pt * np.sinh(eta), np.array([0.0, 1.0]), (zeros, zeros, zeros), 1.15, 3.51, 2.0
    )
    assert hits.reached.all()
    np.testing.assert_allclose(hits.eta[0], 2.0)  # straight line from the origin: the momentum's eta
    assert hits.eta[1] > 3.0  # a helix goes further in z for the same radius


def test_energy_flow_keeps_the_visible_energy_within_the_calorimeter_resolution(atlas):
    # one event: a tracked pion alone, a photon alone, a neutral hadron alone, and a pion and a photon in
    # the same tower; thresholds play no role at these energies
    specs = [(211, 20.0, 0.25, 0.3), (22, 30.0, -0.75, 1.3), (130, 25.0, 1.25, -2.0),
             (-211, 15.0, 0.05, -0.8), (22, 10.0, 0.07, -0.78)]  # fmt: skip
    n = 5000
    parts = [beam(pdg, e / math.cosh(eta), eta, n, phi=phi) for pdg, e, eta, phi in specs]
    fields = {k: np.stack([p.fields[k] for p in parts], axis=1).ravel() for k in parts[0].fields}
    out = shoot(Particles(np.full(n, len(specs)), fields), atlas)
    visible = sum(e for _, e, _, _ in specs)
    total = per_event(out, out["E"])
    # the quadrature sum of every deposit's calorimeter resolution, as if nothing were tracked
    calo_sigma = math.sqrt(sum(
        float((atlas.ecal if pdg == 22 else atlas.hcal).sigma(np.array([abs(eta)]), np.array([e]))[0]) ** 2
        for pdg, e, eta, _ in specs
    ))  # fmt: skip
    assert np.mean(total) == pytest.approx(visible, rel=0.02)
    assert np.std(total) < calo_sigma
