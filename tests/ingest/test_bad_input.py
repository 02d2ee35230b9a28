"""Bad input files stop ingest with the file and the problem named, or are skipped and counted."""

from __future__ import annotations

import numpy as np
import pytest

from jettag.ingest import IngestError, IngestSettings, ingest_file
from jettag.shards import num_rows
from tests.ingest.conftest import read_jetclass, write_root

SETTINGS = IngestSettings(signal=["label_Tbqq"], background=["label_QCD"])


def refused(path, outputs, problem: str) -> None:
    with pytest.raises(IngestError) as info:
        ingest_file(path, outputs, SETTINGS)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    assert not any(p.exists() for p in outputs.values())


def test_missing_file(tmp_path, outputs):
    refused(tmp_path / "nowhere.root", outputs, "file not found")


def test_file_that_is_not_root(tmp_path, outputs):
    path = tmp_path / "notes.root"
    path.write_text("these are my notes, not a ROOT file\n" * 20)
    refused(path, outputs, "not a readable ROOT file")


def test_truncated_root_file(generated, tmp_path, outputs):
    data = generated["QCD"].read_bytes()
    path = tmp_path / "truncated.root"
    path.write_bytes(data[: len(data) // 2])
    refused(path, outputs, "ROOT file")


def test_corrupt_root_file(generated, tmp_path, outputs):
    data = bytearray(generated["QCD"].read_bytes())
    rng = np.random.default_rng(1)
    middle = slice(len(data) // 4, 3 * len(data) // 4)
    data[middle] = rng.integers(0, 256, size=len(data[middle]), dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.root"
    path.write_bytes(bytes(data))
    refused(path, outputs, "corrupt")


def test_missing_branch(generated, tmp_path, outputs):
    columns = read_jetclass(generated["QCD"])
    del columns["part_energy"]
    refused(write_root(tmp_path / "no_energy.root", columns), outputs, "missing branch(es) part_energy")


def test_missing_label_branch(generated, tmp_path, outputs):
    columns = read_jetclass(generated["QCD"])
    del columns["label_QCD"]
    refused(write_root(tmp_path / "no_label.root", columns), outputs, "missing branch(es) label_QCD")


def test_branch_of_the_wrong_type(generated, tmp_path, outputs):
    columns = read_jetclass(generated["QCD"])
    columns["part_px"] = columns["jet_pt"]  # one number per jet where a list per jet belongs
    refused(write_root(tmp_path / "flat_px.root", columns), outputs, "branch 'part_px' has type")


def test_label_branches_all_zero(generated, tmp_path, outputs):
    columns = read_jetclass(generated["QCD"])
    columns["label_QCD"] = np.zeros_like(columns["label_QCD"])
    refused(write_root(tmp_path / "unlabelled.root", columns), outputs, "none of the label branches")


def test_wrong_tree_name(generated, tmp_path, outputs):
    columns = read_jetclass(generated["QCD"])
    refused(
        write_root(tmp_path / "events.root", columns, tree="Events"), outputs, "no tree 'tree' (has: Events)"
    )


def test_unknown_file_type(tmp_path, outputs):
    path = tmp_path / "jets.csv"
    path.write_text("px,py\n1,2\n")
    refused(path, outputs, "unknown file type '.csv'")


def test_skip_option_counts_a_bad_file_and_writes_empty_shards(tmp_path, outputs):
    path = tmp_path / "notes.root"
    path.write_text("not ROOT")
    settings = IngestSettings(signal=["label_Tbqq"], background=["label_QCD"], on_bad_file="skip")
    summary = ingest_file(path, outputs, settings)
    assert "not a readable ROOT file" in summary["skipped"]
    assert summary["jets_read"] == 0
    for split_path in outputs.values():
        assert num_rows(split_path) == 0
