"""ingest.split_by: file keeps a published sample's own split: each file's jets go where its name says."""

from __future__ import annotations

import awkward as ak
import pytest
import uproot

from jettag.config import ConfigError, validate_config
from jettag.ingest import ingest_file
from jettag.ingest.split import split_of_file
from jettag.settings import IngestSettings
from jettag.shards import num_rows
from tests.ingest.conftest import write_toplandscape_hdf5, write_toplandscape_parquet

SETTINGS = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], split_by="file")


@pytest.fixture
def sample(generated):
    arrays = ak.concatenate([uproot.open(generated[p])["tree"].arrays() for p in ("Tbqq", "QCD")])
    arrays = arrays[ak.num(arrays.part_px) <= 200][::5]
    return arrays, arrays.label_Tbqq.to_numpy() == 1


@pytest.mark.parametrize(
    ("name", "split"),
    [("train.h5", "train"), ("val.h5", "val"), ("test.h5", "test"), ("top_valid_2.parquet", "val"),
     ("/data/toplandscape/testing.h5", "test")],
)  # fmt: skip
def test_the_file_name_says_the_split(name, split):
    assert split_of_file(name) == split


@pytest.mark.parametrize("name", ["sample.h5", "train_test.h5", "trainval.h5"])
def test_a_name_that_says_no_split_or_two_is_refused(name):
    with pytest.raises(ValueError, match=r"a file's name must say its split"):
        split_of_file(name)


@pytest.mark.parametrize("writer", [write_toplandscape_hdf5, write_toplandscape_parquet])
def test_every_jet_of_a_file_goes_to_the_split_its_name_says(sample, tmp_path, writer):
    arrays, is_top = sample
    suffix = ".h5" if writer is write_toplandscape_hdf5 else ".parquet"
    for split in ("train", "val", "test"):
        path = writer(tmp_path / f"{split}{suffix}", arrays, is_top)
        out = {s: tmp_path / split / f"{s}.arrow" for s in ("train", "val", "test")}
        summary = ingest_file(path, out, SETTINGS)
        rows = {s: num_rows(out[s]) for s in out}
        assert rows[split] == summary["jets_kept"] == len(arrays)
        assert sum(rows.values()) == rows[split]
        assert summary["splits"][split]["signal"] == int(is_top.sum())


def test_ingest_refuses_a_file_whose_name_says_no_split(sample, tmp_path):
    arrays, is_top = sample
    path = write_toplandscape_hdf5(tmp_path / "sample.h5", arrays, is_top)
    out = {s: tmp_path / f"{s}.arrow" for s in ("train", "val", "test")}
    with pytest.raises(ValueError, match=r"sample\.h5.*must say its split"):
        ingest_file(path, out, SETTINGS)
    assert not any(p.exists() for p in out.values())


def test_the_configuration_check_names_the_file_and_the_missing_split(tmp_path):
    for name in ("train.h5", "test.h5", "other.h5"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ConfigError) as err:
        validate_config({"inputs": [str(tmp_path / "*.h5")], "ingest": {"split_by": "file"}})
    message = str(err.value)
    assert "other.h5" in message
    assert "no input file's name says val" in message
    with pytest.raises(ConfigError, match="needs `inputs`"):
        validate_config({"ingest": {"split_by": "file"}})
    (tmp_path / "other.h5").unlink()
    (tmp_path / "val.h5").write_bytes(b"")
    validate_config({"inputs": [str(tmp_path / "*.h5")], "ingest": {"split_by": "file"}})
