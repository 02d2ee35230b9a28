"""Bad input files stop ingest with the file and the problem named, or are skipped and counted."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from jettag.ingest import IngestError, ingest_file
from jettag.settings import IngestSettings
from jettag.shards import num_rows, read_shard
from tests.ingest.conftest import MOMENTA, read_jetclass, small_jets, write_rntuple, write_root

SETTINGS = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"])


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
    settings = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], on_bad_file="skip")
    summary = ingest_file(path, outputs, settings)
    assert "not a readable ROOT file" in summary["skipped"]
    assert summary["jets_read"] == 0
    for split_path in outputs.values():
        assert num_rows(split_path) == 0


# --- the messages name the file, the branch and the first bad entry: small files made for each case ------


def tiny(seed: int = 3, n_jets: int = 6, counts: list[int] | None = None) -> dict:
    """Six small jets, entry 3 with 13 constituents."""
    counts = [4, 5, 6, 13, 2, 3] if counts is None else counts
    columns = small_jets(np.random.default_rng(seed), n_jets, np.array(counts))
    columns.pop("jet_pt", None)
    return columns


def one_value_fewer(values: ak.Array, entry: int) -> ak.Array:
    counts = ak.to_numpy(ak.num(values)).copy()
    flat = np.delete(ak.to_numpy(ak.flatten(values)), int(counts[: entry + 1].sum()) - 1)
    counts[entry] -= 1
    return ak.unflatten(flat, counts)


@pytest.mark.parametrize("writer", [write_root, write_rntuple], ids=["float[]", "vector<float>"])
def test_jagged_branches_of_different_lengths_name_the_branch_and_the_entry(tmp_path, outputs, writer):
    columns = tiny()
    columns["part_pz"] = one_value_fewer(columns["part_pz"], 3)
    path = writer(tmp_path / "short_pz.root", columns)
    settings = IngestSettings.create(
        signal=["label_Tbqq"], background=["label_QCD"], chunk_size=2
    )  # entry 3: 2nd chunk
    with pytest.raises(IngestError) as info:
        ingest_file(path, outputs, settings)
    assert str(info.value) == f"{path}: branch 'part_pz' has 12 values at entry 3, where 'part_px' has 13"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"label_QCD": np.array(["qcd"] * 6, dtype=object)},
            "label branch 'label_QCD' has type char* (string), expected one integer, float or bool per jet",
        ),
        (
            {"part_px": np.array(["px"] * 6, dtype=object)},
            "branch 'part_px' has type char* (string), expected a list of numbers per jet",
        ),
        (
            {"label_Tbqq": ak.Array([[1], [0, 0], [], [1], [0], [0]])},
            "label branch 'label_Tbqq' has type int64_t[] (var * int64), expected one integer, float or bool",
        ),
        (
            {"jet_pt": ak.Array([[1.0], [2.0], [], [3.0], [4.0], [5.0]])},
            "branch 'jet_pt' has type double[] (var * float64), expected one number per jet",
        ),
        ({"part_py": np.ones(6, np.float32)}, "branch 'part_py' has type float (float32), expected a list"),
    ],
    ids=["string-label", "string-momentum", "jagged-label", "jagged-jet-branch", "flat-momentum"],
)
def test_a_branch_of_the_wrong_kind_is_named_with_its_type(tmp_path, outputs, change, message):
    columns = tiny() | change
    path = write_root(tmp_path / "wrong.root", columns)
    refused(path, outputs, message)


def test_a_branch_nested_deeper_is_named_with_its_type(tmp_path, outputs):
    columns = tiny()
    columns["part_energy"] = ak.unflatten(columns["part_energy"], np.ones(33, np.int64), axis=1)
    path = write_rntuple(tmp_path / "nested.root", columns)
    refused(path, outputs, "branch 'part_energy' has type std::vector<std::vector<float>>")


def test_the_types_of_an_empty_tree_are_checked_too(tmp_path, outputs):
    columns = {k: v[:0] for k, v in tiny().items()}
    columns["label_QCD"] = np.array([], dtype=object)
    refused(write_rntuple(tmp_path / "empty.root", columns), outputs, "label branch 'label_QCD' has type")


def test_one_branch_read_as_two_quantities_is_refused(tmp_path, outputs):
    path = write_root(tmp_path / "jets.root", tiny())
    settings = IngestSettings.create(
        signal=["label_Tbqq"], background=["label_QCD"], branch_map={"part_py": "part_px"}
    )
    with pytest.raises(IngestError, match="branch 'part_px' would be read as both part_px and part_py"):
        ingest_file(path, outputs, settings)


def test_a_histogram_where_the_tree_belongs_is_named(tmp_path, outputs):
    path = tmp_path / "histogram.root"
    with uproot.recreate(path) as f:
        f["tree"] = np.histogram(np.arange(5.0))
    refused(path, outputs, "'tree' is a TH1D, not a TTree or RNTuple")


def test_a_basket_that_cannot_be_read_names_the_branch_and_the_entries(tmp_path, outputs):
    columns = tiny()
    path = tmp_path / "damaged.root"
    with uproot.recreate(path) as f:
        tree = f.mktree("tree", {k: (v.type.content if v.ndim > 1 else v.dtype) for k, v in columns.items()})
        tree.extend({k: v[:4] for k, v in columns.items()})
        tree.extend({k: v[4:] for k, v in columns.items()})
    branch = uproot.open(path)["tree"]["part_pz"]
    seek, size = int(branch.member("fBasketSeek")[1]), int(branch.member("fBasketBytes")[1])
    data = bytearray(path.read_bytes())
    data[seek : seek + size] = bytes(size)  # the second basket of part_pz, zeroed
    path.write_bytes(bytes(data))
    settings = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], chunk_size=4)
    with pytest.raises(IngestError) as info:
        ingest_file(path, outputs, settings)
    assert str(info.value).startswith(
        f"{path}: truncated or corrupt ROOT file: cannot read branch 'part_pz' at entries 4 to 5 ("
    )


def test_nan_labels_are_dropped_as_non_finite(tmp_path, outputs):
    columns = tiny()
    columns["label_QCD"] = columns["label_QCD"].astype(np.float64)
    columns["label_QCD"][[1, 4]] = np.nan
    summary = ingest_file(write_root(tmp_path / "nan_label.root", columns), outputs, SETTINGS)
    assert summary["dropped"]["non_finite"] == 2
    assert summary["jets_kept"] == 4
    assert sorted(np.concatenate([read_shard(p).entry.to_numpy() for p in outputs.values()])) == [0, 2, 3, 5]


@pytest.mark.parametrize(
    ("values", "dtype"),
    [((3e38, 3e38), np.float32), ((1e39, 1.0), np.float64), ((1e300, 1.0), np.float64)],
    ids=["sum-beyond-float32", "float64-beyond-float32", "1e300"],
)
def test_huge_momenta_are_dropped_as_non_finite_without_warnings(tmp_path, outputs, values, dtype):
    columns = tiny()
    for name in MOMENTA:
        flat = ak.to_numpy(ak.flatten(columns[name])).astype(dtype)
        flat[[4, 5]] = values  # two constituents of entry 1 (entry 0 has four)
        columns[name] = ak.unflatten(flat, ak.num(columns[name]))
    summary = ingest_file(write_root(tmp_path / "huge.root", columns), outputs, SETTINGS)
    assert summary["dropped"]["non_finite"] == 1
    assert summary["jets_kept"] == 5
    jets = ak.concatenate([read_shard(p) for p in outputs.values()])
    assert 1 not in jets.entry.to_numpy()
    for name in jets.fields:
        assert np.all(np.isfinite(ak.to_numpy(ak.flatten(jets[name], axis=None)))), name


def test_a_jet_without_transverse_momentum_is_dropped_as_non_finite(tmp_path, outputs):
    columns = tiny()
    for name in ("part_px", "part_py"):
        flat = ak.to_numpy(ak.flatten(columns[name])).copy()
        flat[4:9] = 0.0  # entry 1 along the beam: no direction to measure Delta eta from
        columns[name] = ak.unflatten(flat, ak.num(columns[name]))
    summary = ingest_file(write_root(tmp_path / "beam.root", columns), outputs, SETTINGS)
    assert summary["dropped"]["non_finite"] == 1
    assert summary["jets_kept"] == 5


def test_parquet_nulls_and_lengths_name_the_column_and_the_entry(tmp_path, outputs):
    columns = tiny()
    columns["label"] = columns.pop("label_Tbqq").astype(np.int64)
    del columns["label_QCD"]
    short = dict(columns, part_py=one_value_fewer(columns["part_py"], 3))
    path = tmp_path / "short.parquet"
    pq.write_table(ak.to_arrow_table(ak.zip(short, depth_limit=1), extensionarray=False), path)
    refused(path, outputs, "branch 'part_py' has 12 values at entry 3, where 'part_px' has 13")
    missing = dict(columns, part_pz=ak.mask(columns["part_pz"], np.arange(6) != 2))
    path = tmp_path / "null.parquet"
    pq.write_table(ak.to_arrow_table(ak.zip(missing, depth_limit=1), extensionarray=False), path)
    refused(path, outputs, "column 'part_pz' has a missing (null) value at entry 2")
