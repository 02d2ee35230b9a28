"""The generated default is detector level: energy-flow constituents like those of the TopLandscape sample.

The reference medians are those of real TopLandscape test jets (Pythia8 + Delphes' ATLAS card; see README,
"Detector"). The shared sample has 400 jets per class, so a median is known to a few per cent here; the
leading-constituent fraction, the most sensitive of them, gets a wider band than on the main job's sample.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from jettag.generate import generate_shard
from jettag.settings import GenerateSettings
from tests.generate.conftest import read

#: (process, quantity) -> median in real TopLandscape jets, and the relative band the shared sample must hit
TOPLANDSCAPE = {
    ("Tbqq", "multiplicity"): (53, 0.10),
    ("QCD", "multiplicity"): (41, 0.10),
    ("Tbqq", "mass"): (174, 0.10),
    ("QCD", "mass"): (83, 0.10),
    ("Tbqq", "leading_fraction"): (0.19, 0.15),
    ("QCD", "leading_fraction"): (0.27, 0.15),
}


def _quantities(a: ak.Array) -> dict[str, np.ndarray]:
    px, py, pz, e = (ak.sum(a[f"part_{k}"], axis=1).to_numpy() for k in ("px", "py", "pz", "energy"))
    pt = np.hypot(a.part_px, a.part_py)
    return {
        "multiplicity": ak.num(a.part_px).to_numpy(),
        "mass": np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0)),
        "leading_fraction": ak.to_numpy(ak.fill_none(ak.max(pt, axis=1), 0.0)) / np.hypot(px, py),
    }


@pytest.mark.parametrize(("process", "quantity"), list(TOPLANDSCAPE))
def test_medians_land_near_the_real_toplandscape_jets(generated, process, quantity):
    reference, band = TOPLANDSCAPE[(process, quantity)]
    median = float(np.median(_quantities(read(generated[process]))[quantity]))
    assert median == pytest.approx(reference, rel=band)


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_constituents_are_massless_energy_flow_objects(generated, process):
    a = read(generated[process])
    p = np.sqrt(ak.flatten(a.part_px**2 + a.part_py**2 + a.part_pz**2).to_numpy().astype(np.float64))
    e = ak.flatten(a.part_energy).to_numpy()
    np.testing.assert_allclose(e, p, rtol=1e-5)
    pt = np.hypot(ak.flatten(a.part_px), ak.flatten(a.part_py)).to_numpy()
    # tracks start at 0.1 GeV and neutral objects at 0.5 GeV: nothing a detector does not record
    assert np.mean(pt < 0.1) < 0.005
    flags = sum(
        ak.flatten(a[f"part_is{k}"]).to_numpy()
        for k in ("ChargedHadron", "NeutralHadron", "Photon", "Electron", "Muon")
    )
    assert np.all(flags == 1)  # one energy-flow type per constituent
    charged = ak.flatten(a.part_charge).to_numpy() != 0
    d0err = ak.flatten(a.part_d0err).to_numpy()
    dzerr = ak.flatten(a.part_dzerr).to_numpy()
    assert np.all(d0err[charged] > 0)
    assert np.all(dzerr[charged] > d0err[charged])
    assert np.all(d0err[~charged] == 0)
    neutral_flags = ak.flatten(a.part_isPhoton + a.part_isNeutralHadron).to_numpy()
    np.testing.assert_array_equal(neutral_flags == 1, ~charged)


def test_the_shard_summary_names_the_card_and_counts_what_the_detector_made(generated_summaries):
    for summary in generated_summaries.values():
        detector = summary["detector"]
        assert detector["name"] == "atlas"
        assert len(detector["sha256"]) == 64
        counts = detector["counts"]
        eflow = counts["eflow"]
        assert eflow["tracks"] == counts["tracks"] < counts["particles"]
        assert 0 < counts["particles_curled"] < counts["particles"]
        assert eflow["photons"] <= counts["towers_read_out"]["ecal"]
        assert eflow["neutral_hadrons"] <= counts["towers_read_out"]["hcal"]


def test_detector_none_keeps_particle_level_jets(tmp_path, generated):
    path = tmp_path / "qcd.root"
    summary = generate_shard("QCD", 7, GenerateSettings.create(jets_per_shard=60, detector="none"), path)
    assert summary["detector"] == {"name": "none"}
    particle = uproot.open(path)["tree"].arrays()
    assert ak.all(particle.part_d0err == 0)
    detector = read(generated["QCD"])  # the same seed, so the same Pythia events
    assert np.median(ak.num(particle.part_px)) > 1.3 * np.median(ak.num(detector.part_px))
    pt = np.hypot(ak.flatten(particle.part_px), ak.flatten(particle.part_py)).to_numpy()
    assert np.mean(pt < 0.1) > 0.01  # particle level holds what no detector records
