"""Augmented copies of the training jets: each transformation does what it says to the four-vectors, the
build stage builds the copies with its own code, only into the training split's sequences and images, and
the same seed gives the same copies."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from jettag.features import build_split, fit_standardisation
from jettag.features.augment import augment_jets
from jettag.schema import ConfigError
from jettag.settings import AugmentSpec, BuildSettings
from jettag.shards import read_shard


@pytest.fixture(scope="module")
def jets(ingested):
    shards, _ = ingested
    return ak.concatenate([read_shard(path) for path in shards["train"]])


def flat(array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array)).astype(np.float64)


def pt(jets) -> np.ndarray:
    return np.hypot(flat(jets.part_px), flat(jets.part_py))


def test_a_rotation_keeps_each_pt_and_distance_to_the_axis_and_nearly_the_jet_mass(jets):
    spec = AugmentSpec.create(copies=1, reflection=False)
    copy = augment_jets(jets, spec, np.random.default_rng(1))
    np.testing.assert_allclose(pt(copy), pt(jets), rtol=1e-5)
    before = np.hypot(flat(jets.part_deta), flat(jets.part_dphi))
    after = np.hypot(flat(copy.part_deta), flat(copy.part_dphi))
    # about the recomputed axis, which moves little
    assert np.median(np.abs(after - before)) < 0.01
    # ... while the constituents did turn
    assert np.median(np.abs(flat(copy.part_deta) - flat(jets.part_deta))) > 0.05
    mass_before, mass_after = ak.to_numpy(jets.jet_mass), ak.to_numpy(copy.jet_mass)
    assert np.median(np.abs(mass_after / mass_before - 1)) < 0.02
    top = ak.to_numpy(jets.label) == 1
    assert 150 < np.median(mass_after[top]) < 200
    # the jet is the sum of its constituents again
    np.testing.assert_allclose(
        ak.to_numpy(copy.jet_pt),
        np.hypot(ak.sum(copy.part_px, axis=1), ak.sum(copy.part_py, axis=1)),
        rtol=1e-4,
    )


def test_a_reflection_mirrors_delta_phi_for_half_of_the_jets(jets):
    spec = AugmentSpec.create(copies=1, rotation=False)
    copy = augment_jets(jets, spec, np.random.default_rng(2))
    dphi, mirrored = jets.part_dphi, copy.part_dphi
    flipped = ak.to_numpy(ak.all(np.abs(mirrored + dphi) < 1e-3, axis=1))
    kept = ak.to_numpy(ak.all(np.abs(mirrored - dphi) < 1e-3, axis=1))
    assert np.all(flipped | kept)
    n = len(flipped)
    # a fair coin per jet: within four binomial standard deviations of one half
    assert abs(flipped.mean() - 0.5) < 4 * np.sqrt(0.25 / n)
    np.testing.assert_allclose(flat(copy.part_deta), flat(jets.part_deta), atol=1e-3)


def test_the_energy_smear_has_the_width_it_is_given(jets):
    spec = AugmentSpec.create(copies=1, rotation=False, reflection=False, energy_smear=0.05)
    copy = augment_jets(jets, spec, np.random.default_rng(3))
    ratio = pt(copy) / pt(jets)
    assert np.std(ratio) == pytest.approx(0.05, rel=0.05)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.005)
    energy = flat(copy.part_energy) / flat(jets.part_energy)
    np.testing.assert_allclose(energy, ratio, rtol=1e-3)


def test_the_build_writes_the_copies_into_the_training_sequences_and_images_only(ingested, tmp_path):
    shards, summary = ingested
    settings = BuildSettings.create(max_length=32, chunk_size=200, invariants=["running_mass"],
                                    augment={"copies": 2, "energy_smear": 0.02})  # fmt: skip
    fit_standardisation(shards["train"], settings, tmp_path / "standardisation.json")
    results = {}
    for name, split in (("train", "train"), ("again", "train"), ("val", "val")):
        results[name] = build_split(
            split, shards[split], tmp_path / "standardisation.json", settings, tmp_path / name, summary
        )
    n = results["train"]["jets_out"]
    assert results["train"]["augmented"] == 2 * n
    assert len(read_shard(tmp_path / "train" / "sequences.arrow")) == 3 * n
    assert len(read_shard(tmp_path / "train" / "images.arrow")) == 3 * n
    assert len(read_shard(tmp_path / "train" / "highlevel.arrow")) == n
    assert results["val"]["augmented"] == 0
    assert len(read_shard(tmp_path / "val" / "sequences.arrow")) == results["val"]["jets_out"]
    first = read_shard(tmp_path / "train" / "sequences.arrow")
    again = read_shard(tmp_path / "again" / "sequences.arrow")
    assert ak.all(ak.flatten(first.features.run_mass) == ak.flatten(again.features.run_mass))
    # the copies are other jets: their running masses differ from the recorded jets'
    runs = ak.to_numpy(ak.flatten(first.features.run_mass))
    assert not np.array_equal(runs[: len(runs) // 3], runs[len(runs) // 3 : 2 * len(runs) // 3])


def test_a_bad_augmentation_setting_is_refused_by_its_key():
    with pytest.raises(ConfigError, match=r"build\.augment\.copies"):
        BuildSettings.create(augment={"copies": -1})
    with pytest.raises(ConfigError, match=r"build\.augment\.energy_smear"):
        BuildSettings.create(augment={"energy_smear": 2.0})
