"""`jettag predict` on every input format ingest reads gives the scores evaluate gives on the same jets.

Each file goes through the workflow's own path (ingest, then build with the trained model's
standardisation, then evaluate) and through predict; the two must agree jet by jet, for a recurrent
tagger, the CNN and the BDT. The formats: JetClass ROOT with ``float[]`` (what uproot writes) and with
``std::vector<float>`` (what the real JetClass files hold: ``tests/data/jetclass_vector.root``, made by
``tests/data/make_jetclass_vector.py`` with ROOT), other branch names through a branch map, TopLandscape
HDF5 and the converted TopLandscape parquet.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from jettag.artefact import load_trained
from jettag.cli import main
from jettag.features import build_split
from jettag.ingest import ingest_file
from jettag.ingest.summary import summarize
from jettag.predict import predict_files
from jettag.settings import BuildSettings, IngestSettings, PredictSettings
from jettag.shards import read_shard
from tests.ingest.conftest import write_toplandscape_hdf5, write_toplandscape_parquet
from tests.predict.conftest import read_tree, write_tree

DATA = Path(__file__).resolve().parents[1] / "data"
SPLITS = ("train", "val", "test")
#: what the CMS-like file calls the JetClass branches
RENAME = {"part_": "PFCands_", "jet_": "FatJet_", "label_Tbqq": "FatJet_isTop", "label_QCD": "FatJet_isQCD"}


def renamed(name: str) -> str:
    for old, new in RENAME.items():
        if name.startswith(old):
            return new + name.removeprefix(old)
    return name


@pytest.fixture(scope="module")
def files(
    generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict]]:
    """Per format: a file of top and QCD jets mixed, and the ingest options it needs."""
    out = tmp_path_factory.mktemp("formats")
    columns = {name: [] for name in read_tree(generated["Tbqq"])}
    for process in ("Tbqq", "QCD"):
        for name, values in read_tree(generated[process]).items():
            columns[name].append(values[:60])
    mixed = {
        name: ak.concatenate(parts) if isinstance(parts[0], ak.Array) else np.concatenate(parts)
        for name, parts in columns.items()
    }
    arrays = ak.zip(mixed, depth_limit=1)
    is_top = np.asarray(mixed["label_Tbqq"]) == 1
    mapped = {renamed(name): values for name, values in mixed.items()}
    return {
        "root float[]": (write_tree(out / "float.root", mixed), {}),
        "root vector<float>": (DATA / "jetclass_vector.root", {}),
        "root branch map": (
            write_tree(out / "cms.root", mapped, tree="Events"),
            {
                "branch_map": {name: renamed(name) for name in mixed if renamed(name) != name},
                "tree": "Events",
            },
        ),
        "toplandscape hdf5": (write_toplandscape_hdf5(out / "test.h5", arrays, is_top), {}),
        "toplandscape parquet": (write_toplandscape_parquet(out / "test.parquet", arrays, is_top), {}),
    }


def test_the_vector_file_is_what_jetclass_holds():
    tree = uproot.open(DATA / "jetclass_vector.root")["tree"]
    assert tree["part_px"].typename == "std::vector<float>"
    assert tree["part_isPhoton"].typename == "std::vector<int32_t>"


NO_BOOTSTRAP = '{"evaluate": {"bootstrap": 0}}'


@pytest.mark.parametrize("fmt", ["root float[]", "root vector<float>", "root branch map",
                                 "toplandscape hdf5", "toplandscape parquet"])  # fmt: skip
@pytest.mark.parametrize("name", ["lstm", "cnn", "bdt"])
def test_predict_gives_evaluates_scores_on_every_format(fmt, name, files, trained, built, tmp_path):
    path, options = files[fmt]
    settings = IngestSettings.create(
        signal=["label_Tbqq"],
        background=["label_QCD"],
        splits={"train": 0.0, "val": 0.0, "test": 1.0},  # every jet scored by evaluate
        **options,
    )
    outputs = {split: tmp_path / "ingest" / f"{split}.arrow" for split in SPLITS}
    ingest_file(path, outputs, settings, tmp_path / "ingest" / "summary.json")
    summarize([tmp_path / "ingest" / "summary.json"], tmp_path / "dataset.json")
    build = tmp_path / "build"
    # the trained model's standardisation and build settings, as its training saw them
    build_split(
        "test",
        [outputs["test"]],
        built / "standardisation.json",
        BuildSettings.create(max_length=64, chunk_size=150),
        build / "test",
        tmp_path / "dataset.json",
    )
    assert main(["-q", "evaluate", "--run-dir", str(trained[name]), "--build-dir", str(build),
                 "--output-dir", str(tmp_path / "evaluate"), "--settings", NO_BOOTSTRAP]) == 0  # fmt: skip
    evaluated = pd.read_parquet(tmp_path / "evaluate" / "scores.parquet")

    model = load_trained(trained[name])
    predict_files(model, [path], tmp_path / "p.parquet", PredictSettings.create(chunk_size=50), settings)
    predicted = pd.read_parquet(tmp_path / "p.parquet").set_index("entry")
    entries = ak.to_numpy(read_shard(build / "test" / "sequences.arrow").entry)
    assert len(entries) == len(evaluated) >= 100
    rows = predicted.loc[entries]
    assert (rows["status"] == 0).all()
    signal = f"score_{model.label_names[1]}"
    np.testing.assert_allclose(rows[signal].to_numpy(), evaluated["score"].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(rows["jet_pt"].to_numpy(), evaluated["jet_pt"].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(rows["label_Tbqq"].to_numpy() == 1, evaluated["label"].to_numpy() == 1)
