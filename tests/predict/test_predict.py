"""`jettag predict` on real ROOT files with real trained taggers: aligned outputs, the trained features."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import torch
import uproot

from jettag.artefact import TrainedTagger, load_trained
from jettag.cli import main
from jettag.features.run import load_highlevel
from jettag.ingest.errors import IngestError
from jettag.jetclass import PID_FEATURES
from jettag.models import build_model
from jettag.predict import SENTINEL, STATUS, predict_files
from jettag.settings import EvaluateSettings, IngestSettings, PredictSettings
from jettag.shards import read_shard
from jettag.train.data import collate_images, collate_sequences, load_images, load_sequences
from tests.predict.conftest import read_tree, take, write_tree

#: where the file of `awkward_file` has jets without constituents (-1) and a jet with a NaN jet pT
EMPTY_AT = (0, 1, 50, 51, 52, 99)
NAN_AT = 7


def read_scores(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".parquet":
        return {name: column.to_numpy() for name, column in pd.read_parquet(path).items()}
    return uproot.open(path)["scores"].arrays(library="np")


@pytest.fixture(scope="module")
def awkward_file(
    generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, np.ndarray]:
    """The first 120 top jets with empty jets put in at :data:`EMPTY_AT` and one jet made non-finite: the
    file, and for each of its entries the entry of the original file it copies (-1: no constituents)."""
    columns = read_tree(generated["Tbqq"])
    source = np.arange(120 - len(EMPTY_AT))
    for position in EMPTY_AT:
        source = np.insert(source, position, -1)
    copied = take(columns, source)
    copied["jet_pt"] = copied["jet_pt"].copy()
    copied["jet_pt"][NAN_AT] = np.nan
    path = write_tree(tmp_path_factory.mktemp("awkward") / "awkward.root", copied)
    return path, source


def test_every_input_jet_gets_one_entry_in_order_across_chunks(awkward_file, generated, trained, tmp_path):
    path, source = awkward_file
    summary = predict_files(
        trained["lstm"],
        [path],
        tmp_path / "out.root",
        PredictSettings.create(chunk_size=17),
        scoring=EvaluateSettings.create(batch_size=8),
        summary=tmp_path / "s.json",
    )
    out = read_scores(tmp_path / "out.root")
    n = len(source)
    assert uproot.open(path)["tree"].num_entries == n == len(out["entry"])
    np.testing.assert_array_equal(out["entry"], np.arange(n))
    np.testing.assert_array_equal(out["file_index"], np.zeros(n))

    expected_status = np.zeros(n, np.int8)
    expected_status[list(EMPTY_AT)] = STATUS.index("no_constituents")
    expected_status[NAN_AT] = STATUS.index("non_finite")
    np.testing.assert_array_equal(out["status"], expected_status)
    unscored = expected_status != 0
    for column in ("score_signal", "score_background"):
        assert (out[column][unscored] == SENTINEL).all()
        assert ((out[column][~unscored] >= 0) & (out[column][~unscored] <= 1)).all()
    assert np.isnan(out["jet_pt"][unscored]).all()
    assert not np.isnan(out["jet_mass"][~unscored]).any()

    # each scored jet has the score of the jet it copies, scored in one chunk from the original file
    predict_files(
        trained["lstm"],
        [generated["Tbqq"]],
        tmp_path / "original.root",
        PredictSettings.create(chunk_size=100000),
    )
    original = read_scores(tmp_path / "original.root")
    copied = source[~unscored]
    np.testing.assert_allclose(out["score_signal"][~unscored], original["score_signal"][copied], atol=1e-6)
    np.testing.assert_allclose(out["jet_pt"][~unscored], original["jet_pt"][copied])
    assert np.ptp(original["score_signal"]) > 0.01

    written = json.loads((tmp_path / "s.json").read_text())
    assert written == summary
    assert summary["jets"] == n
    assert summary["scored"] == n - len(EMPTY_AT) - 1
    assert summary["unscored"] == {"no_constituents": len(EMPTY_AT), "non_finite": 1}
    assert summary["files"][0]["file"] == str(path)


@pytest.mark.parametrize("name", ["lstm", "cnn", "particlenet", "bdt"])
def test_scores_equal_those_of_the_built_test_split(name, generated, built, trained, tmp_path):
    """predict rebuilds each model's inputs from the ROOT files as the build stage did for training."""
    model = load_trained(trained[name])
    predict_files(
        model,
        [generated["Tbqq"], generated["QCD"]],
        tmp_path / "p.parquet",
        PredictSettings.create(chunk_size=90),
    )
    out = pd.read_parquet(tmp_path / "p.parquet")
    table = read_shard(built / "test" / "sequences.arrow")
    # the test split holds top jets (label 1, from the first file) and QCD jets (from the second)
    file_index = 1 - ak.to_numpy(table.label)
    rows = out.set_index(["file_index", "entry"]).loc[
        list(zip(file_index, ak.to_numpy(table.entry), strict=True))
    ]
    if name == "bdt":
        features, _ = load_highlevel(built / "test" / "highlevel.arrow")
        expected = model.scores(features)
    elif name == "cnn":
        images = load_images(built / "test" / "images.arrow")
        expected = model.scores(collate_images([images[i] for i in range(len(images))]))
    else:
        sequences = load_sequences(built / "test" / "sequences.arrow")
        expected = model.scores(collate_sequences([sequences[i] for i in range(len(sequences))]))
    assert len(expected) == len(rows) > 100
    np.testing.assert_allclose(rows["score_signal"], expected, atol=1e-5)
    np.testing.assert_allclose(rows["score_background"], 1 - expected, atol=1e-5)
    np.testing.assert_allclose(rows["jet_pt"], ak.to_numpy(table.jet_pt))
    # the inputs' labels are carried: the top file's jets are label_Tbqq, the QCD file's label_QCD
    assert (out["label_Tbqq"] == (out["file_index"] == 0)).all()
    assert (out["label_QCD"] == (out["file_index"] == 1)).all()


def test_root_and_parquet_outputs_hold_the_same(generated, trained, tmp_path):
    for suffix in (".root", ".parquet"):
        predict_files(
            trained["gru"],
            [generated["QCD"]],
            tmp_path / f"p{suffix}",
            PredictSettings.create(chunk_size=150),
        )
    root, parquet = read_scores(tmp_path / "p.root"), read_scores(tmp_path / "p.parquet")
    assert list(root) == list(parquet)
    assert list(root)[:5] == ["entry", "file_index", "status", "score_background", "score_signal"]
    for name in root:
        np.testing.assert_array_equal(root[name], parquet[name], err_msg=name)
        assert root[name].dtype == parquet[name].dtype, name


def test_other_branch_names_and_tree_through_a_branch_map(generated, trained, tmp_path):
    columns = read_tree(generated["Tbqq"])
    renamed = {name.replace("part_", "PFCands_").replace("jet_", "FatJet_"): v for name, v in columns.items()}
    path = write_tree(tmp_path / "cms-like.root", renamed, tree="Events")
    branch_map = {name: name.replace("part_", "PFCands_").replace("jet_", "FatJet_") for name in columns}
    predict_files(
        trained["cnn"],
        [path],
        tmp_path / "mapped.root",
        reading=IngestSettings.create(branch_map=branch_map, tree="Events"),
    )
    predict_files(trained["cnn"], [generated["Tbqq"]], tmp_path / "plain.root")
    mapped, plain = read_scores(tmp_path / "mapped.root"), read_scores(tmp_path / "plain.root")
    np.testing.assert_array_equal(mapped["score_signal"], plain["score_signal"])
    assert "label_Tbqq" in mapped


def test_several_inputs_and_globs_keep_their_order(generated, trained, tmp_path):
    pattern = str(generated["QCD"].parent / "*.root")  # QCD.root, Tbqq.root
    result = predict_files(
        trained["bdt"], [generated["Tbqq"], pattern.replace("*", "Q*")], tmp_path / "p.root"
    )
    out = read_scores(tmp_path / "p.root")
    n_top = uproot.open(generated["Tbqq"])["tree"].num_entries
    assert [f["file"] for f in result["files"]] == [str(generated["Tbqq"]), str(generated["QCD"])]
    np.testing.assert_array_equal(out["file_index"][:n_top], 0)
    np.testing.assert_array_equal(out["file_index"][n_top:], 1)
    np.testing.assert_array_equal(out["entry"][n_top:], np.arange(len(out["entry"]) - n_top))


def test_an_empty_file_gives_no_entries_and_keeps_the_next_file_aligned(generated, trained, tmp_path):
    empty = write_tree(tmp_path / "empty.root", take(read_tree(generated["QCD"]), np.array([], np.int64)))
    result = predict_files(trained["gru"], [empty, generated["QCD"]], tmp_path / "p.root")
    out = read_scores(tmp_path / "p.root")
    n = uproot.open(generated["QCD"])["tree"].num_entries
    assert [f["jets"] for f in result["files"]] == [0, n]
    np.testing.assert_array_equal(out["file_index"], np.ones(n))
    np.testing.assert_array_equal(out["entry"], np.arange(n))


def test_a_model_with_particle_id_features_needs_them_in_the_file(generated, trained, tmp_path):
    """A tagger trained with build.with_pid reads charge and particle-type flags (fresh weights here)."""
    artefact = json.loads((trained["lstm"] / "artefact.json").read_text())
    pid = list(PID_FEATURES)
    artefact["features"] = [*artefact["features"], *pid]
    artefact["n_features"] = len(artefact["features"])
    std = artefact["standardisation"]
    artefact["standardisation"] = {
        "names": artefact["features"],
        "mean": std["mean"] + [0.0] * len(pid),
        "std": std["std"] + [1.0] * len(pid),
    }
    artefact["build"]["with_pid"] = True
    torch.manual_seed(1)
    network = build_model(artefact["model"], artefact["n_features"], 1).eval()
    tagger = TrainedTagger(network, artefact, tmp_path)
    result = predict_files(tagger, [generated["QCD"]], tmp_path / "pid.root")
    assert result["scored"] == result["jets"] > 0

    columns = read_tree(generated["QCD"])
    without = write_tree(tmp_path / "no-pid.root", {k: v for k, v in columns.items() if k != "part_isMuon"})
    with pytest.raises(IngestError, match=f"{without}: the model reads particle-ID .*lacks part_isMuon$"):
        predict_files(tagger, [without], tmp_path / "no-pid-scores.root")


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (["{tmp}/nothing-*.root"], "input '{tmp}/nothing-\\*.root' matches no file"),
        (["{tmp}/absent.root"], "{tmp}/absent.root: file not found"),
        (["{tmp}/text.root"], "{tmp}/text.root: not a readable ROOT file"),
        (["{tmp}/no-px.root"], "{tmp}/no-px.root: missing branch\\(es\\) part_px in tree 'tree'"),
        (["{tmp}/text.root", "{tmp}/text.root"], "{tmp}/text.root: listed twice in the inputs"),
    ],
)
def test_bad_inputs_give_an_error_naming_the_file_and_leave_no_output(
    inputs, problem, trained, generated, tmp_path
):
    (tmp_path / "text.root").write_text("not ROOT\n")
    columns = read_tree(generated["QCD"])
    write_tree(tmp_path / "no-px.root", {k: v for k, v in columns.items() if k != "part_px"})
    with pytest.raises((ValueError, IngestError), match=problem.format(tmp=tmp_path)):
        predict_files(trained["lstm"], [i.format(tmp=tmp_path) for i in inputs], tmp_path / "out" / "p.root")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_output_never_overwrites_an_input(generated, trained, tmp_path):
    path = write_tree(tmp_path / "in.root", read_tree(generated["QCD"]))
    with pytest.raises(ValueError, match="would overwrite one of the inputs"):
        predict_files(trained["bdt"], [path], path)
    assert uproot.open(path)["tree"].num_entries > 0


def test_predict_command_scores_files_and_fails_in_one_line(generated, trained, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    output = tmp_path / "gru.parquet"
    argv = [
        "predict",
        "--model",
        str(trained["gru"]),
        "--input",
        str(generated["QCD"]),
        "--output",
        str(output),
    ]
    assert (
        main(
            [*argv, "--summary", str(tmp_path / "gru.json"), "--settings", '{"predict": {"chunk_size": 64}}']
        )
        == 0
    )
    summary = json.loads((tmp_path / "gru.json").read_text())
    assert (
        summary["jets"] == len(pd.read_parquet(output)) == uproot.open(generated["QCD"])["tree"].num_entries
    )
    assert summary["model"]["name"] == "gru"

    caplog.clear()
    argv = [
        "predict",
        "--model",
        str(generated["QCD"]),
        "--input",
        str(generated["QCD"]),
        "--output",
        str(tmp_path / "x.root"),
    ]
    assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"{generated['QCD']}: not a jettag model artefact (not JSON")
