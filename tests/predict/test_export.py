"""ONNX export of real trained taggers, run with ONNX Runtime against PyTorch on the smoke test split."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
import uproot

from jettag.artefact import TrainedTagger, load_tagger
from jettag.cli import main
from jettag.models import build_model
from jettag.predict import export_onnx, predict_files
from jettag.predict.export import TOLERANCE, spec_path
from jettag.train.data import collate_images, collate_sequences, load_images, load_sequences

NETWORKS = ("lstm", "gru", "cnn", "pfn", "particlenet")


@pytest.fixture(scope="module")
def exported(trained: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("onnx")
    for name in NETWORKS:
        export_onnx(trained[name], out / f"{name}.onnx")
    return {name: out / f"{name}.onnx" for name in NETWORKS}


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def split_batches(tagger: TrainedTagger, built: Path, batch_size: int = 37) -> tuple[list, list]:
    """The test split in batches of consecutive jets (mixed lengths within each batch, padded to its longest
    jet) and, for sequences, in batches of 16 jets sorted by length (padded to many different lengths)."""
    if tagger.data_kind == "image":
        data, collate, by_length = load_images(built / "test" / "images.arrow"), collate_images, None
    else:
        data, collate = load_sequences(built / "test" / "sequences.arrow"), collate_sequences
        by_length = np.argsort(data.lengths, kind="stable")
    mixed = [
        collate([data[i] for i in range(start, min(start + batch_size, len(data)))])
        for start in range(0, len(data), batch_size)
    ]
    if by_length is None:
        return mixed, []
    sorted_batches = [by_length[start : start + 16] for start in range(0, len(data), 16)]
    return mixed, [collate([data[i] for i in batch]) for batch in sorted_batches]


@pytest.mark.parametrize("name", NETWORKS)
def test_onnx_runtime_and_pytorch_give_the_same_scores_on_the_test_split(name, trained, exported, built):
    tagger = load_tagger(trained[name])
    onnx_model = session(exported[name])
    mixed, by_length = split_batches(tagger, built)
    batches = mixed + by_length
    differences = []
    for batch in batches:
        inputs = {"x": batch["x"].numpy()}
        if tagger.data_kind == "sequence":
            inputs["lengths"] = batch["lengths"].numpy()
        (scores,) = onnx_model.run(["scores"], inputs)
        expected = tagger.scores(batch)
        assert scores.shape == (len(expected), 2)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
        differences.append(np.abs(scores[:, 1] - expected).max())
    assert max(differences) < 1e-4
    # the scores are not all alike, so agreement means something
    assert np.ptp(np.concatenate([tagger.scores(b) for b in batches])) > 0.01
    assert len({b["x"].shape[0] for b in batches}) > 1  # batch sizes differ (the last batch is short)
    if tagger.data_kind == "sequence":
        assert all(b["lengths"].min() < b["lengths"].max() for b in mixed)  # mixed within each batch
        assert len({b["x"].shape[1] for b in by_length}) > 3  # and padded to different lengths


@pytest.mark.parametrize("name", ["pfn", "particlenet"])
def test_set_and_graph_taggers_agree_with_onnx_on_jets_shorter_than_knn_needs(name, trained, exported, built):
    """ParticleNet's kNN takes k + 1 = 6 points: PyTorch pads batches shorter than that, the ONNX graph always
    appends 6 padded positions. Jets cut to 1-5 constituents, padded to 5 or fewer, must score alike."""
    tagger = load_tagger(trained[name])
    onnx_model = session(exported[name])
    sequences = load_sequences(built / "test" / "sequences.arrow", max_length=5)
    for cut in (1, 3, 5):
        jets = [(values[:cut], label) for values, label in (sequences[i] for i in range(40))]
        jets[0] = (jets[0][0][:1], jets[0][1])
        batch = collate_sequences(jets)
        assert batch["x"].shape[1] == cut
        (scores,) = onnx_model.run(["scores"], {"x": batch["x"].numpy(), "lengths": batch["lengths"].numpy()})
        np.testing.assert_allclose(scores[:, 1], tagger.scores(batch), atol=1e-5)


@pytest.mark.parametrize("name", NETWORKS)
def test_onnx_inputs_have_dynamic_batch_size_and_sequence_length(name, exported):
    graph = onnx.load(str(exported[name])).graph
    dims = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in graph.input
    }
    if name == "cnn":
        assert dims == {"x": ["batch", 1, 37, 37]}
    else:
        assert dims == {"x": ["batch", "length", 7], "lengths": ["batch"]}
    outputs = {value.name: value.type.tensor_type.shape.dim[0].dim_param for value in graph.output}
    assert outputs == {"logits": "batch", "scores": "batch"}


def test_the_feature_spec_is_enough_to_build_the_inputs_by_hand(trained, exported, generated, tmp_path):
    """What a C++ user does: read the branches, compute the spec's features, order, cut, standardise, pad."""
    spec = json.loads(spec_path(exported["lstm"]).read_text())
    assert spec["labels"] == ["background", "signal"]
    assert spec["onnx"]["outputs"][1]["columns"] == spec["labels"]
    inputs = spec["inputs"]
    assert inputs["ordering"] == "pt"
    mean, std = np.array(inputs["standardisation"]["mean"]), np.array(inputs["standardisation"]["std"])
    jets = uproot.open(generated["Tbqq"])["tree"].arrays(entry_stop=60, library="np")
    rows = []
    for i in range(60):
        px, py, energy, deta, dphi = (
            jets[name][i].astype(np.float64)
            for name in ("part_px", "part_py", "part_energy", "part_deta", "part_dphi")
        )
        log_pt = np.log(np.maximum(np.hypot(px, py), 1e-6))
        log_e = np.log(np.maximum(energy, 1e-6))
        features = {
            "log_pt": log_pt,
            "log_e": log_e,
            "log_pt_rel": log_pt - np.log(np.float64(jets["jet_pt"][i])),
            "log_e_rel": log_e - np.log(np.float64(jets["jet_energy"][i])),
            "delta_r": np.hypot(deta, dphi),
            "deta": deta,
            "dphi": dphi,
        }
        values = np.stack([features[name].astype(np.float32) for name in inputs["features"]], axis=1)
        order = np.argsort(-np.hypot(px, py), kind="stable")[: inputs["max_length"]]
        rows.append(((values[order] - mean) / std).astype(np.float32))
    lengths = np.array([len(r) for r in rows])
    x = np.zeros((len(rows), lengths.max(), len(mean)), np.float32)
    for i, r in enumerate(rows):
        x[i, : len(r)] = r
    (by_hand,) = session(exported["lstm"]).run(["scores"], {"x": x, "lengths": lengths})

    predict_files(trained["lstm"], [generated["Tbqq"]], tmp_path / "scores.parquet")
    predicted = pd.read_parquet(tmp_path / "scores.parquet").iloc[:60]
    np.testing.assert_allclose(by_hand[:, 1], predicted["score_signal"], atol=1e-4)
    np.testing.assert_allclose(by_hand[:, 0], predicted["score_background"], atol=1e-4)


@pytest.mark.parametrize(
    "variant",
    [
        {"cell": "lstm", "bidirectional": True, "readout": "last", "num_layers": 2, "residual": True},
        {"cell": "gru", "bidirectional": True, "readout": "mean"},
        {"cell": "rnn", "readout": "attention", "embed_dim": 0},
        {"cell": "lstm", "readout": "attention", "bidirectional": True},
        {"cell": "gru", "readout": "last", "reverse": True, "num_layers": 2},
    ],
    ids=["bilstm-last-residual", "bigru-mean", "rnn-attention", "bilstm-attention", "gru-softest-first"],
)
def test_other_recurrent_architectures_export_too(variant, trained, built, tmp_path):
    """Bidirectional layers (which PyTorch runs packed), every read-out, no embedding: fresh weights."""
    artefact = json.loads((trained["lstm"] / "artefact.json").read_text())
    artefact["model"] = {"name": "variant", "kind": "recurrent", "hidden_size": 8, "embed_dim": 6, **variant}
    torch.manual_seed(3)
    network = build_model(artefact["model"], artefact["n_features"], artefact["n_classes"]).eval()
    tagger = TrainedTagger(network, artefact, tmp_path)
    spec = export_onnx(tagger, tmp_path / "variant.onnx")
    assert spec["check"]["max_abs_difference"] < TOLERANCE
    onnx_model = session(tmp_path / "variant.onnx")
    worst = 0.0
    mixed, by_length = split_batches(tagger, built, batch_size=50)
    for batch in mixed + by_length:
        inputs = {"x": batch["x"].numpy(), "lengths": batch["lengths"].numpy()}
        (scores,) = onnx_model.run(["scores"], inputs)
        worst = max(worst, np.abs(scores[:, 1] - tagger.scores(batch)).max())
    assert worst < 1e-4


def test_export_command_writes_the_model_and_its_spec(trained, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    output = tmp_path / "out" / "gru.onnx"
    assert main(["export", "--model", str(trained["gru"]), "--format", "onnx", "--output", str(output)]) == 0
    spec = json.loads((tmp_path / "out" / "gru.spec.json").read_text())
    assert spec["onnx"]["file"] == "gru.onnx"
    assert spec["model"]["name"] == "gru"
    assert [i["name"] for i in spec["onnx"]["inputs"]] == ["x", "lengths"]
    artefact = json.loads((trained["gru"] / "artefact.json").read_text())
    assert spec["inputs"]["features"] == artefact["features"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["gru.onnx", "gru.spec.json"]
    assert "ONNX Runtime and PyTorch agree" in caplog.text


def test_export_of_a_directory_that_is_no_model_fails_in_one_line(tmp_path, caplog):
    (tmp_path / "notes.txt").write_text("no model here\n")
    assert main(["export", "--model", str(tmp_path), "--format", "onnx"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"{tmp_path}: not a training directory (it has no artefact.json)"]
