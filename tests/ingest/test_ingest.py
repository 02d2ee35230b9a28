"""Ingest: content round trip, deterministic splits, every input format, counted drops."""

from __future__ import annotations

import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from jettag.ingest import ingest_file
from jettag.settings import IngestSettings
from jettag.shards import read_shard
from tests.ingest.conftest import (
    read_jetclass,
    write_root,
    write_toplandscape_hdf5,
    write_toplandscape_parquet,
)

SETTINGS = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"])


def read_split(outputs, split: str) -> ak.Array:
    return read_shard(outputs[split])


def all_splits(outputs) -> ak.Array:
    jets = ak.concatenate([read_split(outputs, s) for s in ("train", "val", "test")])
    return jets[np.argsort(jets.entry.to_numpy())]


def test_jetclass_file_round_trips_into_the_shards(generated, outputs):
    summary = ingest_file(generated["Tbqq"], outputs, SETTINGS)
    assert summary["jets_read"] == summary["jets_kept"] == 400
    assert sum(summary["splits"][s]["jets"] for s in ("train", "val", "test")) == 400
    jets = all_splits(outputs)
    original = uproot.open(generated["Tbqq"])["tree"].arrays()
    np.testing.assert_array_equal(jets.entry.to_numpy(), np.arange(400))
    for name in ("part_px", "part_energy", "part_deta", "part_dphi", "part_charge", "jet_pt", "jet_sdmass"):
        assert ak.all(jets[name] == original[name]), name
    assert ak.all(jets.label == 1)
    assert ak.all(jets.part_isPhoton == original.part_isPhoton)


def test_split_is_fixed_per_jet_whatever_the_chunking_or_directory(generated, outputs, tmp_path):
    ingest_file(generated["QCD"], outputs, SETTINGS)
    elsewhere = tmp_path / "another" / "place"
    elsewhere.mkdir(parents=True)
    copy = shutil.copy(generated["QCD"], elsewhere)
    other = {s: tmp_path / "other" / f"{s}.arrow" for s in outputs}
    ingest_file(
        copy, other, IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], chunk_size=37)
    )
    for split in outputs:
        np.testing.assert_array_equal(read_split(outputs, split).entry, read_split(other, split).entry)
    fractions = [len(read_split(outputs, s)) / 400 for s in ("train", "val", "test")]
    np.testing.assert_allclose(fractions, [0.6, 0.2, 0.2], atol=0.07)


def test_branch_map_reads_other_branch_names(generated, outputs, tmp_path):
    columns = read_jetclass(generated["QCD"])
    renamed = {k.replace("part_", "PFCands_"): v for k, v in columns.items()}
    path = write_root(tmp_path / "custom.root", renamed, tree="Events")
    branch_map = {k: k.replace("part_", "PFCands_") for k in columns if k.startswith("part_")}
    settings = IngestSettings.create(
        signal=["label_Tbqq"], background=["label_QCD"], branch_map=branch_map, tree="Events"
    )
    assert ingest_file(path, outputs, settings)["jets_kept"] == 400
    jets = all_splits(outputs)
    assert ak.all(jets.part_px == columns["part_px"])
    assert ak.all(jets.label == 0)


@pytest.fixture
def mixed_sample(generated):
    """Top and QCD jets together, with at most 200 constituents (the TopLandscape HDF5 keeps 200)."""
    arrays = ak.concatenate([uproot.open(generated[p])["tree"].arrays() for p in ("Tbqq", "QCD")])
    arrays = arrays[ak.num(arrays.part_px) <= 200][::4]
    return arrays, arrays.label_Tbqq.to_numpy() == 1


@pytest.mark.parametrize("fmt", ["jetclass", "hdf5-fixed", "hdf5-table", "parquet"])
def test_every_format_gives_the_same_jets(mixed_sample, tmp_path, fmt):
    arrays, is_top = mixed_sample
    reference_path = write_root(
        tmp_path / "reference.root", {k: arrays[k] for k in arrays.fields if k != "npart"}
    )
    reference_out = {s: tmp_path / "ref" / f"{s}.arrow" for s in ("train", "val", "test")}
    ingest_file(reference_path, reference_out, SETTINGS)
    reference = all_splits(reference_out)

    if fmt == "jetclass":
        path = reference_path
    elif fmt.startswith("hdf5"):
        path = write_toplandscape_hdf5(tmp_path / "sample.h5", arrays, is_top, fmt=fmt.split("-")[1])
    else:
        path = write_toplandscape_parquet(tmp_path / "sample.parquet", arrays, is_top)
    # same file name stem -> same split per entry, so the shards can be compared directly
    path = shutil.move(path, tmp_path / f"sample{path.suffix}") if path.stem != "sample" else path
    out = {s: tmp_path / fmt / f"{s}.arrow" for s in ("train", "val", "test")}
    summary = ingest_file(
        path, out, IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], chunk_size=50)
    )
    assert summary["jets_kept"] == len(arrays)
    jets = all_splits(out)
    np.testing.assert_array_equal(jets.label.to_numpy(), is_top.astype(np.int8))
    for name in ("part_px", "part_energy"):
        assert ak.all(jets[name] == reference[name]), name
    for name in ("part_deta", "part_dphi"):
        assert ak.max(abs(jets[name] - reference[name])) < 2e-3, name
    for name, rtol in (("jet_pt", 1e-4), ("jet_mass", 1e-3), ("jet_sdmass", 1e-3), ("jet_tau2", 1e-3)):
        np.testing.assert_allclose(jets[name].to_numpy(), reference[name].to_numpy(), rtol=rtol, atol=0.05)


def test_bad_jets_are_dropped_and_counted_by_reason(generated, outputs, tmp_path):
    columns = read_jetclass(generated["QCD"])
    px = ak.to_list(columns["part_px"])
    px[0][3] = float("nan")
    px[1][0] = float("inf")
    columns["part_px"] = ak.values_astype(ak.Array(px), np.float32)
    for name in [k for k in columns if k.startswith("part_")]:
        values = ak.to_list(columns[name])
        values[2] = []  # an empty jet
        columns[name] = ak.values_astype(ak.Array(values), columns[name].type.content.content.primitive)
    columns["jet_nparticles"][2] = 0
    columns["label_QCD"][3] = 0  # no label at all
    columns["label_Tbqq"][4] = 1  # both labels
    path = write_root(tmp_path / "bad_jets.root", columns)
    settings = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], pt_min=560.0)
    summary = ingest_file(path, outputs, settings)
    dropped = summary["dropped"]
    assert dropped["non_finite"] == 2
    assert dropped["no_constituents"] == 1
    assert dropped["unknown_label"] == 1
    assert dropped["ambiguous_label"] == 1
    low = int((columns["jet_pt"][5:] < 560).sum())
    assert low > 0
    assert dropped["outside_pt_window"] == low
    assert summary["jets_kept"] + sum(dropped.values()) == summary["jets_read"] == 400
    kept = all_splits(outputs)
    assert len(kept) == summary["jets_kept"]
    assert not set(range(5)) & set(kept.entry.to_list())


def test_rntuple_file_reads_like_the_ttree(generated, outputs, tmp_path):
    columns = read_jetclass(generated["QCD"])
    path = tmp_path / "rntuple.root"
    with uproot.recreate(path) as f:
        f["tree"] = ak.zip(columns, depth_limit=1)  # uproot 5.7 writes an RNTuple this way
    assert "RNTuple" in type(uproot.open(path)["tree"]).__name__
    settings = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], chunk_size=150)
    assert ingest_file(path, outputs, settings)["jets_kept"] == 400
    assert ak.all(all_splits(outputs).part_px == columns["part_px"])
