"""The generated files: exact JetClass schema, determinism per seed, counted drops, soft drop."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import pytest
import uproot

from jettag.generate import generate_shard
from jettag.jetclass import COUNTER_BRANCH, JET_BRANCHES, LABEL_BRANCHES, PARTICLE_BRANCHES, TREE_NAME
from jettag.particles import Particles
from jettag.rootio import JetClassWriter
from jettag.settings import GenerateSettings
from jettag.shards import partial_path
from jettag.substructure import soft_drop_mass


@pytest.mark.parametrize("process", ["Tbqq", "QCD"])
def test_file_has_exactly_the_jetclass_branches_and_dtypes(generated, process):
    with uproot.open(generated[process]) as f:
        assert f.keys(cycle=False) == [TREE_NAME]
        tree = f[TREE_NAME]
        assert isinstance(tree, uproot.TTree)  # not an RNTuple: JetClass files are TTrees
        assert set(tree.keys()) == {*PARTICLE_BRANCHES, *JET_BRANCHES, *LABEL_BRANCHES, COUNTER_BRANCH}
        arrays = tree.arrays()
    for name, dtype in PARTICLE_BRANCHES.items():
        assert str(arrays[name].type.content) == f"var * {dtype}", name
    for name, dtype in {**JET_BRANCHES, **LABEL_BRANCHES}.items():
        assert arrays[name].to_numpy().dtype == dtype, name


def _shard(tmp_path, seed: int, name: str) -> ak.Array:
    path = tmp_path / f"{name}.root"
    generate_shard("QCD", seed, GenerateSettings.create(jets_per_shard=40), path)
    return uproot.open(path)["tree"].arrays()


def test_same_seed_gives_the_same_jets_and_another_seed_other_jets(tmp_path):
    first, again, other = _shard(tmp_path, 3, "a"), _shard(tmp_path, 3, "b"), _shard(tmp_path, 4, "c")
    for field in first.fields:
        assert ak.all(first[field] == again[field]), field
    assert not np.array_equal(first.jet_pt.to_numpy(), other.jet_pt.to_numpy())


def test_summary_accounts_for_every_jet_in_the_window(generated_summaries):
    for process, summary in generated_summaries.items():
        counts = summary["counts"]
        assert counts["jets_written"] == 400
        assert counts["events"] > 0
        assert counts["events_failed"] == 0
        kept = counts["jets_written"] + counts["jets_unmatched"] + counts["jets_not_needed"]
        assert counts["jets_in_window"] == kept, process
    # some top jets miss a decay quark, and are counted, never written
    assert generated_summaries["Tbqq"]["counts"]["jets_unmatched"] > 0
    assert generated_summaries["QCD"]["counts"]["jets_unmatched"] == 0


def test_soft_drop_mass_agrees_with_fastjet_contrib(generated):
    a = uproot.open(generated["Tbqq"])["tree"].arrays(entry_stop=100)
    fields = {
        k: ak.to_numpy(ak.flatten(a[f"part_{b}"])).astype(np.float64)
        for k, b in (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "energy"))
    }
    particles = Particles(ak.to_numpy(ak.num(a.part_px)), fields)
    ours = soft_drop_mass(particles, jet_r=0.8)
    sequence = fastjet.ClusterSequence(
        particles.momenta(), fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0)
    )
    contrib = sequence.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8).msoftdrop
    np.testing.assert_allclose(ours, ak.to_numpy(contrib), rtol=1e-6, atol=1e-6)
    # the file holds float32 momenta: a light groomed jet (a few GeV) carries their rounding
    np.testing.assert_allclose(ours, a.jet_sdmass.to_numpy(), rtol=1e-4, atol=0.05)


def test_a_write_that_fails_half_way_leaves_no_file(generated, tmp_path):
    columns = uproot.open(generated["QCD"])["tree"].arrays(entry_stop=10)
    part = ak.zip({name.removeprefix("part_"): columns[name] for name in PARTICLE_BRANCHES})
    chunk = {"part": part, **{name: columns[name].to_numpy() for name in {**JET_BRANCHES, **LABEL_BRANCHES}}}
    path = tmp_path / "partial.root"

    def interrupted_write() -> None:
        with JetClassWriter(path, basket_jets=5) as writer:
            writer.write(chunk)
            # the baskets go to a file beside the target, renamed into place only when whole
            assert partial_path(path).exists()
            assert not path.exists()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert not path.exists()
    assert not partial_path(path).exists()


def test_an_unknown_process_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown process 'Hbb'"):
        generate_shard("Hbb", 1, GenerateSettings.create(jets_per_shard=10), tmp_path / "x.root")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jets_per_shard": 0}, "'generate.jets_per_shard': 0 is less than the minimum of 1"),
        ({"pt_min": 700.0, "pt_max": 600.0}, "pt_min"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GenerateSettings.create(**kwargs)


def test_bad_pythia_setting_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Pythia rejected the setting 'NoSuch:thing = on'"):
        generate_shard(
            "QCD",
            1,
            GenerateSettings.create(jets_per_shard=1, pythia=("NoSuch:thing = on",)),
            tmp_path / "x.root",
        )
