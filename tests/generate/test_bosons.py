"""Hadronic W and Z jets: the decays found in the event record, mass peaks, two prongs, labels, counts."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
import vector

from jettag.generate.jets import boson_decays, flatten_events
from jettag.generate.pythia import make_pythia
from jettag.jetclass import LABEL_BRANCHES, PROCESS_LABELS
from tests.generate.conftest import N_BOSON_JETS, jet_vectors, peak, read

W_MASS, Z_MASS = 80.4, 91.2


@pytest.mark.parametrize(("process", "pdg"), [("Wqq", 24), ("Zqq", 23)])
def test_each_event_has_one_boson_decaying_to_two_quarks(process, pdg):
    pythia = make_pythia(process, seed=5, sqrt_s=14000.0, pthat_min=495.0, pthat_max=715.0)
    batch = pythia.nextBatch(40)
    decays = boson_decays(flatten_events(batch.prt), pdg)
    # the decay is forced to quarks, so every event holds exactly one
    np.testing.assert_array_equal(decays["event"], np.arange(len(batch)))
    # the two quarks carry the boson's four-momentum
    np.testing.assert_allclose(decays["q1"] + decays["q2"], decays["boson"], atol=1e-6)
    boson = vector.array({k: decays["boson"][:, i] for i, k in enumerate(("px", "py", "pz", "E"))})
    assert np.median(boson.pt) > 495.0
    assert abs(np.median(boson.mass) - (W_MASS if pdg == 24 else Z_MASS)) < 3.0


def test_w_and_z_jet_masses_peak_at_the_boson_masses(generated_bosons):
    w, z = read(generated_bosons["Wqq"]), read(generated_bosons["Zqq"])
    assert 70 <= peak(w.jet_sdmass.to_numpy(), 0, 200, 40) <= 95
    assert 80 <= peak(z.jet_sdmass.to_numpy(), 0, 200, 40) <= 100
    # ungroomed, the jet also collects underlying event and radiation: the peak sits a little higher
    assert 70 <= peak(jet_vectors(w).mass, 0, 200, 20) <= 100
    assert 80 <= peak(jet_vectors(z).mass, 0, 200, 20) <= 110
    # Z jets are heavier than W jets by about m_Z - m_W
    difference = np.median(z.jet_sdmass) - np.median(w.jet_sdmass)
    assert 4 < difference < 20


def test_w_and_z_jets_are_two_pronged_and_qcd_jets_are_not(generated_bosons, generated):
    def tau21(a: ak.Array) -> float:
        return float(np.median(a.jet_tau2 / a.jet_tau1))

    qcd = tau21(read(generated["QCD"]))
    assert tau21(read(generated_bosons["Wqq"])) < qcd - 0.1
    assert tau21(read(generated_bosons["Zqq"])) < qcd - 0.1


@pytest.mark.parametrize("process", ["Wqq", "Zqq"])
def test_labels_are_one_hot_with_the_jetclass_dtypes(generated_bosons, process):
    with uproot.open(generated_bosons[process]) as f:
        arrays = f["tree"].arrays(list(LABEL_BRANCHES), library="np")
    for name, dtype in LABEL_BRANCHES.items():
        assert arrays[name].dtype == dtype, name
        expected = 1 if name == PROCESS_LABELS[process] else 0
        assert np.all(arrays[name].astype(int) == expected), (process, name)


@pytest.mark.parametrize("process", ["Wqq", "Zqq"])
def test_every_boson_jet_is_in_the_window(generated_bosons, process):
    a = read(generated_bosons[process])
    assert len(a) == N_BOSON_JETS
    assert ak.all((a.jet_pt >= 550) & (a.jet_pt <= 650))
    assert ak.all(abs(a.jet_eta) < 2.0)


def test_summary_counts_the_recoil_jets_as_unmatched(generated_boson_summaries):
    for process, summary in generated_boson_summaries.items():
        counts = summary["counts"]
        assert counts["jets_written"] == N_BOSON_JETS
        assert counts["events_failed"] == 0
        kept = counts["jets_written"] + counts["jets_unmatched"] + counts["jets_not_needed"]
        assert counts["jets_in_window"] == kept, process
        # the parton the boson recoils against also makes jets in the window: about half are unmatched
        assert 0.2 < counts["jets_unmatched"] / counts["jets_in_window"] < 0.8, process
        # a comparable rate to the other processes: at least one matched jet every four events
        assert counts["jets_written"] + counts["jets_not_needed"] > counts["events"] / 4, process
