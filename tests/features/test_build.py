"""The build stage end to end on ingested real jets: standardisation from train only, outputs that agree."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np

from jettag.features import build_split, fit_standardisation
from jettag.features.sequences import constituent_features
from jettag.settings import BuildSettings
from jettag.shards import ShardWriter, read_shard
from jettag.standardisation import Standardisation, pad

SPLITS = ("train", "val", "test")


def test_standardisation_is_fitted_on_the_training_split_only(built):
    out = built
    std = Standardisation.from_json(out / "standardisation.json")
    train = read_shard(out / "train" / "sequences.arrow").features
    test = read_shard(out / "test" / "sequences.arrow").features
    for name in std.names:
        values = ak.to_numpy(ak.flatten(train[name]))
        assert abs(values.mean()) < 1e-3, name
        assert abs(values.std() - 1) < 1e-3, name
    # the test split is standardised with the training parameters, not its own
    test_means = [abs(ak.to_numpy(ak.flatten(test[name])).mean()) for name in std.names]
    assert max(test_means) > 1e-3


def test_chunked_fit_equals_a_fit_on_everything(ingested):
    shards, _ = ingested
    jets = ak.concatenate([read_shard(path) for path in shards["train"]])
    features = constituent_features(jets)
    whole = Standardisation.fit(features)
    chunked = Standardisation.fit_chunks(features[i : i + 37] for i in range(0, len(features), 37))
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(chunked.std, whole.std, rtol=1e-9)


def test_every_jet_is_built_once_in_each_output(ingested, built):
    _, summary = ingested
    out = built
    results = {split: json.loads((out / split / "summary.json").read_text()) for split in SPLITS}
    counts = json.loads(summary.read_text())["splits"]
    for split in SPLITS:
        sequences = read_shard(out / split / "sequences.arrow")
        images = read_shard(out / split / "images.arrow")
        highlevel = read_shard(out / split / "highlevel.arrow")
        assert (
            len(sequences)
            == len(images)
            == len(highlevel)
            == counts[split]["jets"]
            == results[split]["jets_out"]
        )
        assert ak.all(sequences.label == images.label)
        assert ak.all(sequences.length == np.minimum(ak.num(sequences.features, axis=1), 64))
        assert ak.max(sequences.length) <= 64
        np.testing.assert_allclose(ak.sum(images.image, axis=1).to_numpy(), 1.0, rtol=1e-5)
        tau21 = highlevel.tau21.to_numpy()
        assert np.all((tau21 > 0) & (tau21 < 1.5))


def test_built_sequences_pad_to_tensors_in_order(built):
    out = built
    sequences = read_shard(out / "val" / "sequences.arrow")
    values, mask, lengths = pad(sequences.features, max_length=64)
    assert values.shape == (len(sequences), 64, 7)
    np.testing.assert_array_equal(mask.sum(axis=1), lengths)
    # pT ordering: log pT (standardised, monotonic) decreases along each sequence
    log_pt = np.where(mask, values[..., 0], -np.inf)
    assert np.all(np.diff(log_pt[:, :10], axis=1)[mask[:, 1:10]] <= 1e-6)


def test_class_balance_drops_are_counted(ingested, tmp_path):
    shards, summary = ingested
    # only part of the QCD jets: an unbalanced training split
    unbalanced = [shards["train"][0], shards["train"][1]]
    jets = read_shard(unbalanced[1])
    half = tmp_path / "QCD_half" / "train.arrow"
    with ShardWriter(half) as writer:
        writer.write(jets[: len(jets) // 2])
    ingest_counts = json.loads(summary.read_text())
    ingest_counts["splits"]["train"]["background"] = len(jets) // 2
    fake_summary = tmp_path / "summary.json"
    fake_summary.write_text(json.dumps(ingest_counts))
    settings = BuildSettings.create(balance=True, chunk_size=100)
    fit_standardisation([unbalanced[0], half], settings, tmp_path / "std.json")
    result = build_split(
        "train", [unbalanced[0], half], tmp_path / "std.json", settings, tmp_path / "out", fake_summary
    )
    assert result["jets_in"] == result["jets_out"] + result["dropped"]["class_balance"]
    assert result["dropped"]["class_balance"] > 0
    assert abs(result["signal"] - result["background"]) < 0.25 * result["background"]


def test_class_balance_draws_each_sample_on_its_own(ingested, tmp_path):
    """Two samples whose jets share entry numbers lose different jets, not the same entries twice."""
    shards, summary = ingested
    signal, background = shards["train"][0], shards["train"][1]
    jets = read_shard(background)
    twins = [tmp_path / name / "train.arrow" for name in ("QCD_a", "QCD_b")]
    for path in twins:
        with ShardWriter(path) as writer:
            writer.write(jets)
    counts = json.loads(summary.read_text())
    counts["splits"]["train"]["background"] = 2 * len(jets)
    counts["splits"]["train"]["signal"] = len(jets)
    fake_summary = tmp_path / "summary.json"
    fake_summary.write_text(json.dumps(counts))
    settings = BuildSettings.create(balance=True, chunk_size=10_000)
    fit_standardisation([signal, *twins], settings, tmp_path / "std.json")
    build_split("train", twins, tmp_path / "std.json", settings, tmp_path / "out", fake_summary)
    kept = read_shard(tmp_path / "out" / "sequences.arrow")
    _, times = np.unique(ak.to_numpy(kept.entry), return_counts=True)
    # half of each sample is kept: with independent draws about half the kept entries are kept once
    assert np.mean(times == 1) > 0.3
