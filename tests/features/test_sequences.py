"""Constituent sequences: features, orderings, padding, packing, standardisation and length buckets."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch

from jettag.features.sequences import (
    constituent_features,
    length_buckets,
    order_constituents,
    pack,
    padding_fraction,
)
from jettag.jetclass import ORDERINGS, PID_FEATURES, STANDARD_FEATURES
from jettag.standardisation import Standardisation, pad


def make_jets(
    particles: list[list[tuple[float, float, float]]], pid: bool = False, seed: int = 0
) -> ak.Array:
    """JetClass-like jets from massless particles given as ``(pt, eta, phi)``, the jet axis at eta = phi = 0.

    deta and dphi are the particle's eta and phi (axis at the origin); jet_pt and jet_energy are those of
    the summed four-momentum. With ``pid`` each particle gets a random charge and one random type flag.
    """
    rng = np.random.default_rng(seed)
    counts = [len(jet) for jet in particles]
    flat = np.array([p for jet in particles for p in jet], dtype=np.float64).reshape(-1, 3)
    pt, eta, phi = flat.T
    px, py, pz, energy = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)
    part = {"px": px, "py": py, "pz": pz, "energy": energy, "deta": eta, "dphi": phi}
    columns = {f"part_{k}": ak.unflatten(v.astype(np.float32), counts) for k, v in part.items()}
    if pid:
        kind = rng.integers(0, 5, len(pt))
        columns["part_charge"] = ak.unflatten(rng.integers(-1, 2, len(pt)).astype(np.float32), counts)
        for i, name in enumerate(["ChargedHadron", "NeutralHadron", "Photon", "Electron", "Muon"]):
            columns[f"part_is{name}"] = ak.unflatten((kind == i).astype(np.int32), counts)
    sums = {k: ak.to_numpy(ak.sum(ak.unflatten(v, counts), axis=1)) for k, v in part.items()}
    columns["jet_pt"] = np.hypot(sums["px"], sums["py"]).astype(np.float32)
    columns["jet_energy"] = sums["energy"].astype(np.float32)
    return ak.zip(columns, depth_limit=1)


def random_jets(n_jets: int, seed: int, pid: bool = False, max_n: int = 40) -> ak.Array:
    rng = np.random.default_rng(seed)
    jets = []
    for n in rng.integers(1, max_n + 1, n_jets):
        pt, eta, phi = rng.exponential(20.0, n) + 0.5, rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)
        jets.append(list(zip(pt, eta, phi, strict=True)))
    return make_jets(jets, pid=pid, seed=seed)


def test_features_match_a_hand_computed_jet():
    # two particles: pT 30 at (eta, phi) = (0.3, -0.4), pT 10 at (0, 0)
    jets = make_jets([[(30.0, 0.3, -0.4), (10.0, 0.0, 0.0)]])
    features = constituent_features(jets)
    assert ak.fields(features) == list(STANDARD_FEATURES)

    px = 30 * np.cos(-0.4) + 10
    py = 30 * np.sin(-0.4)
    jet_pt, jet_e = np.hypot(px, py), 30 * np.cosh(0.3) + 10
    expected = {
        "log_pt": [np.log(30), np.log(10)],
        "log_e": [np.log(30 * np.cosh(0.3)), np.log(10)],
        "log_pt_rel": [np.log(30 / jet_pt), np.log(10 / jet_pt)],
        "log_e_rel": [np.log(30 * np.cosh(0.3) / jet_e), np.log(10 / jet_e)],
        "delta_r": [0.5, 0.0],
        "deta": [0.3, 0.0],
        "dphi": [-0.4, 0.0],
    }
    for name, values in expected.items():
        assert features[name].type.content.content.primitive == "float32"
        np.testing.assert_allclose(features[name][0].to_list(), values, rtol=1e-5, atol=1e-6, err_msg=name)


def test_pid_features_are_appended_and_missing_branches_are_named():
    jets = make_jets([[(30.0, 0.1, 0.1), (5.0, -0.1, 0.2)]], pid=True)
    features = constituent_features(jets, with_pid=True)
    assert ak.fields(features) == list(STANDARD_FEATURES + PID_FEATURES)
    assert features["is_photon"].to_list() == jets["part_isPhoton"].to_list()
    assert features["charge"].to_list() == jets["part_charge"].to_list()

    without = jets[[f for f in ak.fields(jets) if f not in ("part_isMuon", "part_charge")]]
    with pytest.raises(ValueError, match=r"part_charge.*part_isMuon"):
        constituent_features(without, with_pid=True)
    assert ak.fields(constituent_features(without)) == list(STANDARD_FEATURES)


def test_pad_and_mask_round_trip_the_constituents():
    jets = random_jets(30, seed=1, max_n=40)
    features = constituent_features(jets)
    counts = ak.to_numpy(ak.num(features))
    assert counts.max() > 16 > counts.min()  # some jets are truncated, some padded
    values, mask, lengths = pad(features, max_length=16)

    assert (values.dtype, mask.dtype, lengths.dtype) == (np.float32, bool, np.int64)
    assert (values.shape, mask.shape) == ((30, 16, len(STANDARD_FEATURES)), (30, 16))
    np.testing.assert_array_equal(lengths, np.minimum(counts, 16))
    np.testing.assert_array_equal(mask.sum(axis=1), lengths)
    assert np.all(values[~mask] == 0)
    for k, name in enumerate(STANDARD_FEATURES):
        # real slots, read row by row, are exactly the first min(n, 16) constituents of each jet
        np.testing.assert_array_equal(values[..., k][mask], ak.to_numpy(ak.flatten(features[name][:, :16])))


def test_pad_follows_an_ordering():
    jets = random_jets(10, seed=2)
    order = order_constituents(jets, "delta_r")
    values, mask, _ = pad(constituent_features(jets)[order], max_length=64)
    delta_r = values[..., STANDARD_FEATURES.index("delta_r")]
    assert np.all(np.diff(delta_r, axis=1)[mask[:, 1:]] >= 0)
    assert np.any(np.diff(delta_r, axis=1)[~mask[:, 1:] & mask[:, :-1]] < 0)  # the padding is zero


def run_lstm(lstm: torch.nn.LSTM, inputs: torch.Tensor | torch.nn.utils.rnn.PackedSequence) -> torch.Tensor:
    _, (hidden, _) = lstm(inputs)
    return hidden[-1]


def test_packed_and_padded_sequences_give_the_same_last_state():
    torch.manual_seed(0)
    jets = random_jets(12, seed=3, max_n=30)
    values, _, lengths = pad(constituent_features(jets)[order_constituents(jets)], max_length=20)
    assert len(set(lengths.tolist())) > 4  # mixed lengths, some truncated at 20
    lstm = torch.nn.LSTM(values.shape[2], 8, num_layers=2, batch_first=True)
    x = torch.from_numpy(values)
    with torch.no_grad():
        packed = run_lstm(lstm, pack(x, torch.from_numpy(lengths)))
        alone = torch.cat([run_lstm(lstm, x[i : i + 1, :n]) for i, n in enumerate(lengths)])
        padded = run_lstm(lstm, x)
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=0)
    # the comparison can fail: reading the zero padding changes the state of the short jets
    short = torch.from_numpy(lengths < 20)
    assert not torch.allclose(padded[short], alone[short], atol=1e-3)


def test_pack_refuses_empty_jets():
    values = torch.zeros(3, 4, 2)
    with pytest.raises(ValueError, match=r"positions \[1\].*length-0"):
        pack(values, torch.tensor([2, 0, 4]))


def test_pt_and_delta_r_orderings():
    jets = make_jets([[(5.0, 0.1, 0.0), (50.0, 0.4, 0.3), (20.0, 0.0, -0.2), (1.0, 0.0, 0.05)], []])
    assert order_constituents(jets, "pt").to_list() == [[1, 2, 0, 3], []]
    # Delta R: 0.1, 0.5, 0.2, 0.05
    assert order_constituents(jets, "delta_r").to_list() == [[3, 0, 2, 1], []]
    assert order_constituents(jets, "pt").type.content.content.primitive == "int64"


def test_kt_ordering_walks_the_tree_hardest_branch_first():
    # a (hardest) with its soft neighbour d; b with its soft neighbour c, 0.5 away: kt merges c into b and
    # d into a first, then the two prongs. Depth-first, harder leading constituent first: a, d, b, c,
    # where decreasing pT would read a, b, d, c.
    a, b, c, d = (100.0, 0.0, 0.0), (50.0, 0.0, 0.5), (1.0, 0.0, 0.55), (2.0, 0.0, 0.05)
    jets = make_jets([[c, a, d, b], [a], []])
    assert order_constituents(jets, "kt").to_list() == [[1, 2, 3, 0], [0], []]
    assert order_constituents(jets, "pt").to_list()[0] == [1, 3, 2, 0]


def test_kt_ordering_keeps_each_prong_contiguous():
    rng = np.random.default_rng(4)
    prongs = {0: (0.0, 0.0, 120.0), 1: (0.6, 0.4, 60.0), 2: (-0.5, 0.5, 40.0)}  # (eta, phi, leading pT)
    particles, prong_of = [], []
    for prong, (eta, phi, lead) in prongs.items():
        pts = [lead, *rng.uniform(0.5, 8.0, 9)]
        for pt in pts:
            particles.append((pt, eta + rng.normal(0, 0.03), phi + rng.normal(0, 0.03)))
            prong_of.append(prong)
    shuffle = rng.permutation(len(particles))
    jets = make_jets([[particles[i] for i in shuffle]])
    prong_of = np.array(prong_of)[shuffle]

    order = np.array(order_constituents(jets, "kt")[0].to_list())
    assert sorted(order) == list(range(len(particles)))
    assert order[0] == order_constituents(jets, "pt")[0, 0]  # the hardest constituent comes first
    read = prong_of[order]
    assert read[0] == 0
    # each prong is one contiguous block: the prong label changes exactly twice along the sequence
    assert np.count_nonzero(np.diff(read)) == 2
    assert np.count_nonzero(np.diff(prong_of[np.array(order_constituents(jets, "pt")[0].to_list())])) > 2


def test_unknown_ordering_lists_the_known_ones():
    with pytest.raises(ValueError, match="pt, delta_r, kt"):
        order_constituents(make_jets([[(1.0, 0.0, 0.0)]]), "eta")
    assert ORDERINGS == ("pt", "delta_r", "kt")


def test_standardisation_fits_real_constituents_and_round_trips(tmp_path):
    features = constituent_features(random_jets(200, seed=5, pid=True), with_pid=True)
    scaler = Standardisation.fit(features)
    scaled = scaler.apply(features)
    assert ak.fields(scaled) == ak.fields(features)
    for name in STANDARD_FEATURES:
        values = ak.to_numpy(ak.flatten(scaled[name])).astype(np.float64)
        assert abs(values.mean()) < 1e-5, name
        assert abs(values.std() - 1) < 1e-5, name
    for name in PID_FEATURES:
        assert scaled[name].to_list() == features[name].to_list()
    flags = slice(len(STANDARD_FEATURES), None)
    assert np.all(scaler.mean[flags] == 0)
    assert np.all(scaler.std[flags] == 1)

    # padding is ignored: the fit equals the statistics of the masked slots, not of the whole padded array
    values, mask, _ = pad(features, max_length=64)
    k = STANDARD_FEATURES.index("log_pt")
    assert scaler.mean[k] == pytest.approx(values[..., k][mask].astype(np.float64).mean(), rel=1e-6)
    assert abs(values[..., k].mean() - scaler.mean[k]) > 0.5

    path = tmp_path / "standardisation.json"
    scaler.to_json(path)
    assert json.loads(path.read_text())["names"] == list(STANDARD_FEATURES + PID_FEATURES)
    loaded = Standardisation.from_json(path)
    assert loaded == scaler
    assert np.array_equal(loaded.mean, scaler.mean)
    assert np.array_equal(loaded.std, scaler.std)
    assert loaded.apply(features).to_list() == scaled.to_list()


def test_standardisation_of_a_constant_feature_has_unit_std():
    features = ak.zip({"a": [[2.0, 2.0], [2.0]], "b": [[1.0, 3.0], [5.0]]})
    scaler = Standardisation.fit(features)
    assert (scaler.mean[0], scaler.std[0]) == (2.0, 1.0)
    assert scaler.apply(features)["a"].to_list() == [[0.0, 0.0], [0.0]]
    with pytest.raises(ValueError, match="fitted on"):
        scaler.apply(ak.zip({"b": [[1.0]], "a": [[1.0]]}))


def test_length_buckets_cover_every_jet_once_and_cut_padding():
    rng = np.random.default_rng(6)
    lengths = np.concatenate([rng.integers(1, 10, 3000), rng.integers(10, 128, 3000)])
    rng.shuffle(lengths)
    batches = length_buckets(lengths, batch_size=32, seed=1)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    assert max(len(b) for b in batches) == 32

    again = length_buckets(lengths, batch_size=32, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    other = length_buckets(lengths, batch_size=32, seed=2)
    assert not all(np.array_equal(x, y) for x, y in zip(batches, other, strict=True))

    random_batches = np.array_split(rng.permutation(len(lengths)), len(lengths) // 32)
    bucketed, unsorted = padding_fraction(lengths, batches), padding_fraction(lengths, random_batches)
    assert bucketed < 0.1 < 0.3 < unsorted

    ordered = length_buckets(lengths, batch_size=32, seed=1, shuffle=False)
    # without shuffling, the first batch holds the shortest jets of the first chunk of 50 x 32 jets
    np.testing.assert_array_equal(ordered[0], np.argsort(lengths[:1600], kind="stable")[:32])


def test_padding_fraction_by_hand():
    # batch [0, 1] fills 1 + 3 of 2 x 3 slots, batch [2] fills 2 of 2: 2 padded slots out of 8
    assert padding_fraction(np.array([1, 3, 2]), [np.array([0, 1]), np.array([2])]) == pytest.approx(0.25)


def test_class_mixed_buckets_keep_every_batch_near_the_class_mix_and_cut_padding():
    # top jets are longer than QCD jets: bucketed by length alone, a batch is nearly all one class
    rng = np.random.default_rng(7)
    labels = np.repeat([0, 1], 3000)
    lengths = np.where(labels == 1, rng.integers(40, 100, 6000), rng.integers(10, 60, 6000))
    order = rng.permutation(6000)
    labels, lengths = labels[order], lengths[order]
    by_length = length_buckets(lengths, batch_size=64, seed=1)
    mixed = length_buckets(lengths, batch_size=64, seed=1, labels=labels)
    np.testing.assert_array_equal(np.sort(np.concatenate(mixed)), np.arange(6000))
    fractions = {name: np.array([labels[b].mean() for b in batches if len(b) == 64])
                 for name, batches in (("by_length", by_length), ("mixed", mixed))}  # fmt: skip
    assert np.mean(np.abs(fractions["by_length"] - 0.5) > 0.4) > 0.5
    # a batch of 64 drawn from a chunk holds about half of each (binomial spread 0.06 at most)
    assert np.abs(fractions["mixed"] - 0.5).max() < 0.2
    random_batches = np.array_split(rng.permutation(6000), 6000 // 64)
    # mixing costs padding (short QCD beside long top jets), but far less than random batches
    assert padding_fraction(lengths, mixed) < 0.6 * padding_fraction(lengths, random_batches)
    with pytest.raises(ValueError, match="one label per jet"):
        length_buckets(lengths, batch_size=64, seed=1, labels=labels[:10])
