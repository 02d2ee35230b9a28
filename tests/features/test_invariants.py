"""Lorentz-invariant constituent features: each checked against its definition computed another way (the
vector library, a loop over pairs), the running mass against the jet mass, and the features the build
stage writes rebuilt the same way from a trained model's record (as predict and the ONNX export do)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import vector

from jettag.features import build_split, fit_standardisation
from jettag.features.invariants import invariant_features
from jettag.features.run import constituent_sequences
from jettag.features.sequences import order_constituents
from jettag.jetclass import INVARIANT_FEATURES, STANDARD_FEATURES
from jettag.predict.features import FEATURE_DEFINITIONS, InputSpec
from jettag.schema import ConfigError
from jettag.settings import BuildSettings
from jettag.shards import read_shard
from jettag.standardisation import Standardisation

GROUPS = list(INVARIANT_FEATURES)


@pytest.fixture(scope="module")
def jets(ingested):
    shards, _ = ingested
    return ak.concatenate([read_shard(path) for path in shards["train"]])


def four_vectors(jets, i, order):
    local = ak.to_numpy(order[i])
    # float64, as the features are computed: the masses of near-collinear pairs cancel in float32
    return vector.array({c: ak.to_numpy(jets[f"part_{b}"][i])[local].astype(np.float64) for c, b in
                         (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "energy"))})  # fmt: skip


def split(values, jets):
    return ak.unflatten(values, ak.num(jets["part_px"], axis=1))


def test_the_running_mass_ends_at_the_jet_mass_and_peaks_at_the_top_mass(jets):
    features = split(
        invariant_features(jets, order_constituents(jets, "pt"), ["running_mass"])["run_mass"], jets
    )
    last = ak.to_numpy(features[:, -1]) * ak.to_numpy(jets["jet_pt"])
    np.testing.assert_allclose(last, ak.to_numpy(jets["jet_mass"]), rtol=1e-4, atol=1e-3)
    top = ak.to_numpy(jets["label"]) == 1
    assert 150 < np.median(last[top]) < 200
    assert np.median(last[~top]) < 120
    # the mass of more and more constituents never falls (massless four-vectors)
    assert ak.all(features[:, 1:] >= features[:, :-1] - 1e-9)


@pytest.mark.parametrize("ordering", ["pt", "delta_r", "kt"])
def test_pair_features_with_the_previous_constituent_follow_their_definition(jets, ordering):
    order = order_constituents(jets, ordering)
    features = invariant_features(jets, order, ["previous"])
    mass, kt = split(features["mass_prev"], jets), split(features["kt_prev"], jets)
    for i in range(0, len(jets), 97):
        p = four_vectors(jets, i, order)
        local = ak.to_numpy(order[i])
        deta, dphi = (
            ak.to_numpy(jets[name][i])[local].astype(np.float64) for name in ("part_deta", "part_dphi")
        )
        pt_jet = float(jets.jet_pt[i])
        expected = (p[1:] + p[:-1]).mass / pt_jet
        np.testing.assert_allclose(ak.to_numpy(mass[i])[1:], expected, rtol=1e-6, atol=1e-7)
        distance = np.hypot(np.diff(deta), (np.diff(dphi) + np.pi) % (2 * np.pi) - np.pi)
        np.testing.assert_allclose(
            ak.to_numpy(kt[i])[1:], np.minimum(p.pt[1:], p.pt[:-1]) * distance / pt_jet, rtol=1e-6
        )
        assert mass[i][0] == kt[i][0] == 0


def test_the_nearest_harder_neighbour_is_the_one_a_loop_finds(jets):
    order = order_constituents(jets, "delta_r")  # another order than pT: the neighbour does not depend on it
    features = invariant_features(jets, order, ["harder"])
    kt = split(features["kt_harder"], jets)
    mass = split(features["mass_harder"], jets)
    for i in range(0, len(jets), 131):
        p = four_vectors(jets, i, order)
        local = ak.to_numpy(order[i])
        deta, dphi = (
            ak.to_numpy(jets[name][i])[local].astype(np.float64) for name in ("part_deta", "part_dphi")
        )
        # ties by input order, as the decreasing-pT order breaks them
        rank = np.lexsort((local, -p.pt))
        place = np.empty_like(rank)
        place[rank] = np.arange(len(rank))
        for a in range(len(local)):
            harder = [b for b in range(len(local)) if place[b] < place[a]]
            if not harder:
                assert kt[i][a] == mass[i][a] == 0
                continue
            r = [
                np.hypot(deta[a] - deta[b], (dphi[a] - dphi[b] + np.pi) % (2 * np.pi) - np.pi) for b in harder
            ]
            h = harder[int(np.argmin(r))]
            pt_jet = float(jets.jet_pt[i])
            assert kt[i][a] == pytest.approx(min(p.pt[a], p.pt[h]) * min(r) / pt_jet, rel=1e-6)
            assert mass[i][a] == pytest.approx((p[a] + p[h]).mass / pt_jet, rel=1e-6, abs=1e-7)


def test_the_mass_fractions_of_a_jet_add_up_to_one(jets):
    order = order_constituents(jets, "kt")
    features = invariant_features(jets, order, ["jet"])
    sums = ak.to_numpy(ak.sum(split(features["mass_fraction"], jets), axis=1))
    np.testing.assert_allclose(sums, 1.0, rtol=1e-9)
    rest = split(np.exp(features["log_e_rest"]), jets)
    # the rest-frame energies add up to the jet mass
    np.testing.assert_allclose(ak.to_numpy(ak.sum(rest, axis=1)), ak.to_numpy(jets.jet_mass), rtol=1e-4)


def test_the_groups_come_after_the_standard_features_in_one_order_whatever_the_settings_order(jets):
    settings = BuildSettings.create(max_length=16, invariants=["jet", "running_mass", "harder"])
    sequences = constituent_sequences(jets[:50], settings)
    expected = [*STANDARD_FEATURES, "run_mass", "mass_harder", "kt_harder", "mass_fraction", "log_e_rest"]
    assert ak.fields(sequences) == expected
    assert ak.max(ak.num(sequences, axis=1)) == 16
    # the cut comes after: the running mass is that of the constituents read so far, all of them kept
    full = constituent_sequences(jets[:50], BuildSettings.create(max_length=500, invariants=["running_mass"]))
    assert ak.all(sequences.run_mass == full.run_mass[:, :16])
    assert all(name in FEATURE_DEFINITIONS for name in expected)


def test_an_unknown_group_is_refused_by_its_key():
    with pytest.raises(ConfigError, match=r"build\.invariants\.0"):
        BuildSettings.create(invariants=["mass"])


def test_a_trained_models_record_rebuilds_the_built_sequences(ingested, tmp_path):
    shards, summary = ingested
    settings = BuildSettings.create(max_length=32, chunk_size=150, invariants=GROUPS, ordering="kt")
    fit_standardisation(shards["train"], settings, tmp_path / "standardisation.json")
    build_split(
        "test", shards["test"], tmp_path / "standardisation.json", settings, tmp_path / "test", summary
    )
    built = read_shard(tmp_path / "test" / "sequences.arrow")
    std = Standardisation.from_json(tmp_path / "standardisation.json")
    # what a training records of its inputs (jettag.train.fit), as predict and the ONNX export read it
    fitted = {"names": std.names, "mean": std.mean.tolist(), "std": std.std.tolist()}
    record = {"data_kind": "sequence", "build": settings.to_dict(), "features": std.names,
              "n_features": len(std.names), "standardisation": fitted}  # fmt: skip
    spec = InputSpec.from_artefact(record, "artefact.json")
    rebuilt = spec.sequences(ak.concatenate([read_shard(path) for path in shards["test"]]))
    assert ak.fields(rebuilt) == ak.fields(built.features) == std.names
    for name in std.names:
        np.testing.assert_array_equal(
            ak.to_numpy(ak.flatten(rebuilt[name])), ak.to_numpy(ak.flatten(built.features[name]))
        )
    assert spec.describe()["features"][-1] == "log_e_rest"
