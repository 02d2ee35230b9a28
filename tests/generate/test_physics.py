"""Physics of the generated jets: mass peaks, W subjets, the pT window, four-momentum bookkeeping."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import pytest
import vector

from jettag.jetclass import LABEL_BRANCHES
from tests.generate.conftest import jet_vectors, peak, read

vector.register_awkward()


def constituents(a: ak.Array) -> ak.Array:
    return ak.zip(
        {"px": a.part_px, "py": a.part_py, "pz": a.part_pz, "E": a.part_energy}, with_name="Momentum4D"
    )


def min_pair_subjet_mass(a: ak.Array) -> np.ndarray:
    """Smallest pairwise mass of the three exclusive kt subjets of each jet (the W candidate in tops)."""
    sequence = fastjet.ClusterSequence(constituents(a), fastjet.JetDefinition(fastjet.kt_algorithm, 10.0))
    subjets = sequence.exclusive_jets(n_jets=3)
    subjets = ak.zip({k: subjets[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
    pairs = [(subjets[:, i] + subjets[:, j]).mass.to_numpy() for i, j in ((0, 1), (0, 2), (1, 2))]
    return np.min(pairs, axis=0)


def test_top_jet_mass_peaks_at_the_top_mass(generated):
    top = read(generated["Tbqq"])
    assert 160 <= peak(jet_vectors(top).mass) <= 190
    assert 160 <= peak(top.jet_sdmass.to_numpy()) <= 190


def test_w_subjet_mass_shows_up_in_top_jets_only(generated):
    top = min_pair_subjet_mass(read(generated["Tbqq"]))
    qcd = min_pair_subjet_mass(read(generated["QCD"]))
    assert 65 <= peak(top, 0, 200, 20) <= 100
    assert peak(qcd, 0, 200, 20) < 50
    w_window = (top > 65) & (top < 100)
    assert w_window.mean() > 2 * ((qcd > 65) & (qcd < 100)).mean()


def test_qcd_jets_are_much_lighter_than_top_jets(generated):
    top_mass = np.median(jet_vectors(read(generated["Tbqq"])).mass)
    qcd_mass = np.median(jet_vectors(read(generated["QCD"])).mass)
    assert qcd_mass < 0.6 * top_mass
    top_sd = np.median(read(generated["Tbqq"]).jet_sdmass)
    qcd_sd = np.median(read(generated["QCD"]).jet_sdmass)
    assert qcd_sd < 0.4 * top_sd


def test_qcd_jets_are_less_three_pronged(generated):
    def tau32(a):
        return np.median(a.jet_tau3 / a.jet_tau2)

    assert tau32(read(generated["Tbqq"])) < tau32(read(generated["QCD"])) - 0.1


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_every_jet_is_in_the_window(generated, process):
    a = read(generated[process])
    assert len(a) == 400
    assert ak.all((a.jet_pt >= 550) & (a.jet_pt <= 650))
    assert ak.all(abs(a.jet_eta) < 2.0)


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_constituents_add_up_to_the_jet(generated, process):
    a = read(generated[process])
    total = ak.sum(constituents(a), axis=1)
    jet = jet_vectors(a)
    np.testing.assert_allclose(total.pt.to_numpy(), jet.pt, rtol=1e-4)
    # float32 momenta: the mass of a light jet at 600 GeV carries their rounding (~0.1 GeV)
    np.testing.assert_allclose(total.mass.to_numpy(), jet.mass, rtol=1e-3, atol=0.3)
    np.testing.assert_array_equal(ak.num(a.part_px).to_numpy(), a.jet_nparticles.to_numpy())


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_particles_sorted_by_pt_with_jetclass_relative_coordinates(generated, process):
    a = read(generated[process])
    p = constituents(a)
    assert ak.all(p.pt[:, :-1] >= p.pt[:, 1:])
    jet_eta = a.jet_eta
    expected_deta = (p.eta - jet_eta) * np.sign(jet_eta)
    assert ak.max(abs(expected_deta - a.part_deta)) < 1e-3
    dphi = (p.phi - a.jet_phi + np.pi) % (2 * np.pi) - np.pi
    assert ak.max(abs(dphi - a.part_dphi)) < 1e-3
    assert ak.max(abs(a.part_dphi)) <= np.pi


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_particle_id_flags_agree_with_charge(generated, process):
    a = read(generated[process])
    flags = ak.concatenate(
        [
            a[name][..., np.newaxis]
            for name in (
                "part_isChargedHadron",
                "part_isNeutralHadron",
                "part_isPhoton",
                "part_isElectron",
                "part_isMuon",
            )
        ],
        axis=-1,
    )
    assert ak.all(ak.sum(flags, axis=-1) <= 1)
    charge = ak.flatten(a.part_charge).to_numpy()
    assert np.all(charge[ak.flatten(a.part_isChargedHadron).to_numpy() == 1] != 0)
    assert np.all(charge[ak.flatten(a.part_isNeutralHadron).to_numpy() == 1] == 0)
    assert np.all(charge[ak.flatten(a.part_isPhoton).to_numpy() == 1] == 0)
    assert np.all(ak.flatten(a.part_d0val).to_numpy()[charge == 0] == 0)
    # jets are mostly charged hadrons and photons
    assert ak.mean(a.part_isChargedHadron) > 0.3
    assert ak.mean(a.part_isPhoton) > 0.2


def test_labels_are_one_hot_for_the_process(generated):
    for process, label in (("Tbqq", "label_Tbqq"), ("QCD", "label_QCD")):
        a = read(generated[process])
        for name in LABEL_BRANCHES:
            expected = 1 if name == label else 0
            assert np.all(a[name].to_numpy().astype(int) == expected), (process, name)
