"""ONNX export of the BDT baseline: ONNX Runtime against the JSON trees (BDTModel), at and around every
threshold and with NaN features, through the CLI and against `jettag predict`, and damaged files refused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import uproot
from threadpoolctl import threadpool_limits

from jettag.artefact import ArtefactError, TrainedBDT, load_trained
from jettag.cli import main
from jettag.features.run import load_highlevel
from jettag.jetclass import HIGH_LEVEL_FEATURES
from jettag.predict import export_onnx, predict_files
from jettag.predict.export import spec_path
from jettag.predict.export_bdt import BDT_TOLERANCE, bdt_check_inputs
from jettag.predict.features import FEATURE_DEFINITIONS
from jettag.shards import ShardWriter, read_shard
from jettag.train.bdt import train_bdt

KINDS = ("binary", "three_class")
THREE_LABELS = ["QCD", "Tbqq_light", "Tbqq_heavy"]
#: jets the ``few_jets`` BDT trains on: under scikit-learn's 255 bins, so its thresholds are midpoints
N_FEW = 200


def write_shard(jets: ak.Array, target: Path) -> Path:
    with ShardWriter(target) as writer:
        writer.write(jets)
    return target


def three_class(jets: ak.Array, cut: float) -> ak.Array:
    """``jets`` relabelled into three classes: QCD, and top jets below and above ``cut`` in soft-drop mass
    (a split the trees can learn from the features)."""
    label = ak.to_numpy(jets["label"])
    heavy = ak.to_numpy(jets["jet_sdmass"]) >= cut
    return ak.with_field(jets, np.where(label == 0, 0, 1 + heavy).astype(np.int8), "label")


@pytest.fixture(scope="module")
def bdts(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training directories of BDTs on the shared sample: ``binary`` (top against QCD, as the workflow
    trains it), ``three_class`` and ``few_jets`` (binary, on :data:`N_FEW` training jets)."""
    out = tmp_path_factory.mktemp("bdts")
    train_shard, val_shard = built / "train" / "highlevel.arrow", built / "val" / "highlevel.arrow"
    train, val = read_shard(train_shard), read_shard(val_shard)
    cut = float(np.median(ak.to_numpy(train["jet_sdmass"])[ak.to_numpy(train["label"]) == 1]))
    few = np.random.default_rng(5).choice(len(train), N_FEW, replace=False)
    # one OpenMP thread: on a busy 2-core machine scikit-learn's threads take 10 s a fit instead of 0.1 s
    # (the trees are the same)
    with threadpool_limits(limits=1, user_api="openmp"):
        train_bdt(train_shard, val_shard, out / "binary", seed=1)
        train_bdt(
            write_shard(three_class(train, cut), out / "train3.arrow"),
            write_shard(three_class(val, cut), out / "val3.arrow"),
            out / "three_class",
            seed=1,
            label_names=THREE_LABELS,
        )
        train_bdt(write_shard(train[np.sort(few)], out / "few.arrow"), val_shard, out / "few_jets", seed=1)
    return {name: out / name for name in ("binary", "three_class", "few_jets")}


@pytest.fixture(scope="module")
def exported(bdts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bdt_onnx")
    for kind in bdts:
        export_onnx(bdts[kind], out / f"{kind}.onnx")
    return {kind: out / f"{kind}.onnx" for kind in bdts}


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def reference(bdt: TrainedBDT, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The JSON trees' raw scores ``[n, n_classes]`` and class probabilities ``[n, n_labels]``, in float64."""
    raw = bdt.model.decision_function(x.astype(np.float64)).reshape(len(x), -1)
    probabilities = bdt.model.predict_proba(x.astype(np.float64))
    if probabilities.ndim == 1:
        probabilities = np.stack([1.0 - probabilities, probabilities], axis=1)
    return raw, probabilities


def assert_parity(path: Path, bdt: TrainedBDT, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime's scores and logits on ``x`` equal the JSON trees' within float32 sums; the scores."""
    logits, scores = session(path).run(["logits", "scores"], {"x": x})
    raw, probabilities = reference(bdt, x)
    assert scores.shape == probabilities.shape == (len(x), len(bdt.label_names))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    # ONNX Runtime sums the leaf values in float32: about 1e-7 of score per unit, over ~100 trees
    assert np.abs(scores - probabilities).max() < BDT_TOLERANCE
    assert np.abs(logits - raw).max() < 1e-5 * max(1.0, np.abs(raw).max())
    return scores


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_runtime_and_the_json_trees_give_the_same_scores_on_the_test_jets(kind, bdts, exported, built):
    bdt = load_trained(bdts[kind])
    features, _ = load_highlevel(built / "test" / "highlevel.arrow")
    x = features.astype(np.float32)
    assert np.array_equal(x.astype(np.float64), features)  # the build stage stores float32: nothing is lost
    scores = assert_parity(exported[kind], bdt, x)
    assert np.ptp(scores, axis=0).min() > 0.3  # the scores spread, so agreement means something
    # NaN features (the trees accept them) take each split's learned default branch in both
    with_nan = x.copy()
    with_nan[::3, 0] = np.nan
    with_nan[1::4, 2] = np.nan
    with_nan[::5, 4] = np.nan
    assert_parity(exported[kind], bdt, with_nan)
    # a whole jet of NaN ends at the baseline's default leaves; batch sizes 1 and 0 work
    assert_parity(exported[kind], bdt, np.full((1, 5), np.nan, np.float32))
    (empty,) = session(exported[kind]).run(["scores"], {"x": np.empty((0, 5), np.float32)})
    assert empty.shape == (0, len(bdt.label_names))


@pytest.mark.parametrize("kind", [*KINDS, "few_jets"])
def test_jets_exactly_at_every_threshold_branch_as_in_the_json_trees(kind, bdts, exported):
    """With 255 bins or more jets, scikit-learn's thresholds are mostly the features' own float32 values, so
    jets of the training set sit exactly on them (x <= t: left). With fewer distinct values they are float64
    midpoints: one rounded up to the nearest float32 would send a jet at that float32 left where the float64
    trees send it right; the export rounds down instead."""
    bdt = load_trained(bdts[kind])
    thresholds = np.concatenate([tree.threshold[~tree.is_leaf] for tree in bdt.model.trees])
    nearest = thresholds.astype(np.float32).astype(np.float64)
    if kind == "few_jets":
        assert (nearest > thresholds).sum() > 10  # the case the rounding is for happens in these trees
    else:
        assert (nearest == thresholds).mean() > 0.5  # ties with the jets' own values are common
    directions = np.concatenate([tree.missing_left[~tree.is_leaf] for tree in bdt.model.trees])
    assert directions.any()
    assert not directions.all()
    x = bdt_check_inputs(bdt, max_splits=None)
    assert len(x) == 3 * len(thresholds) + 64
    assert_parity(exported[kind], bdt, x)


@pytest.mark.parametrize("kind", KINDS)
def test_the_graph_has_the_network_exports_inputs_and_outputs(kind, bdts, exported):
    bdt = load_trained(bdts[kind])
    model = onnx.load(str(exported[kind]))
    onnx.checker.check_model(model, full_check=True)
    dims = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in (*model.graph.input, *model.graph.output)
    }
    n_classes = 1 if kind == "binary" else 3
    n_labels = len(bdt.label_names)
    assert dims == {"x": ["batch", 5], "logits": ["batch", n_classes], "scores": ["batch", n_labels]}
    assert {o.domain: o.version for o in model.opset_import} == {"": 17, "ai.onnx.ml": 3}
    assert next(node.op_type for node in model.graph.node) == "TreeEnsembleRegressor"


def test_the_bdt_and_network_specs_have_one_layout_and_one_feature_table(bdts, exported, trained, tmp_path):
    network = export_onnx(trained["gru"], tmp_path / "gru.onnx")
    for kind in KINDS:
        spec = json.loads(spec_path(exported[kind]).read_text())
        bdt = load_trained(bdts[kind])
        assert spec.keys() == network.keys()
        assert spec["onnx"].keys() - {"ml_opset"} == network["onnx"].keys()
        assert [o["name"] for o in spec["onnx"]["outputs"]] == [o["name"] for o in network["onnx"]["outputs"]]
        assert spec["model"] | {"name": "bdt", "data_kind": "highlevel"} == spec["model"]
        assert spec["labels"] == spec["onnx"]["outputs"][1]["columns"] == bdt.label_names
        assert spec["inputs"]["features"] == bdt.features == list(HIGH_LEVEL_FEATURES)
        assert spec["check"]["max_abs_difference"] < BDT_TOLERANCE
        assert spec["check"]["reference"] == "the JSON trees"
        # both exports take their definitions from the one table
        for description in (spec["inputs"], network["inputs"]):
            assert description["definitions"] == {n: FEATURE_DEFINITIONS[n] for n in description["features"]}
    definitions = spec["inputs"]["definitions"]
    assert "beta = 0" in definitions["jet_sdmass"]
    assert "z_cut = 0.1" in definitions["jet_sdmass"]
    assert definitions["tau32"].startswith("jet_tau3 / jet_tau2")


def by_hand(path: Path, spec: dict) -> np.ndarray:
    """What a C++ user does with the spec: the high-level features of every jet of a JetClass file."""
    jets = uproot.open(path)["tree"].arrays(library="np")
    columns = {
        name: np.array([np.sum(jet.astype(np.float64)) for jet in jets[f"part_{name}"]])
        for name in ("px", "py", "pz", "energy")
    }
    mass2 = columns["energy"] ** 2 - columns["px"] ** 2 - columns["py"] ** 2 - columns["pz"] ** 2
    tau1, tau2, tau3 = (jets[f"jet_tau{k}"].astype(np.float64) for k in (1, 2, 3))
    features = {
        "jet_mass": np.sqrt(np.maximum(mass2, 0.0)),
        "jet_sdmass": jets["jet_sdmass"],
        "tau21": np.where(tau1 > 0, tau2 / np.where(tau1 > 0, tau1, 1.0), 0.0),
        "tau32": np.where(tau2 > 0, tau3 / np.where(tau2 > 0, tau2, 1.0), 0.0),
        "jet_nparticles": np.array([len(jet) for jet in jets["part_px"]]),
    }
    return np.stack([features[name].astype(np.float32) for name in spec["inputs"]["features"]], axis=1)


@pytest.mark.parametrize("kind", KINDS)
def test_export_command_and_predict_agree_with_onnx_runtime_on_the_same_jets(
    kind, bdts, generated, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    output = tmp_path / "out" / "bdt.onnx"
    assert main(["export", "--model", str(bdts[kind]), "--format", "onnx", "--output", str(output)]) == 0
    assert sorted(p.name for p in output.parent.iterdir()) == ["bdt.onnx", "bdt.spec.json"]
    assert "ONNX Runtime and the JSON trees agree" in caplog.text
    spec = json.loads(spec_path(output).read_text())

    predict_files(bdts[kind], [generated["Tbqq"]], tmp_path / "scores.parquet")
    predicted = pd.read_parquet(tmp_path / "scores.parquet")
    scored = predicted["status"].to_numpy() == 0
    assert scored.mean() > 0.95
    (scores,) = session(output).run(["scores"], {"x": by_hand(generated["Tbqq"], spec)})
    for i, name in enumerate(spec["labels"]):
        np.testing.assert_allclose(scores[scored, i], predicted[f"score_{name}"][scored], rtol=0, atol=1e-5)
    assert np.ptp(scores[scored, -1]) > 0.3


def damage_trees(spec: dict, how: str) -> dict:
    tree = spec["trees"][1]
    split = tree["is_leaf"].index(False)
    if how == "child_outside_the_tree":
        tree["left"][split] = len(tree["is_leaf"]) + 3
    elif how == "negative_feature":
        tree["feature"][split] = -1
    elif how == "bool_feature":
        tree["feature"][split] = True
    elif how == "infinite_threshold":
        tree["threshold"][split] = float("inf")
    elif how == "string_leaf_value":
        tree["value"][tree["is_leaf"].index(True)] = "0.1"
    elif how == "short_node_array":
        tree["missing_left"].pop()
    elif how == "no_trees":
        del spec["trees"]
    elif how == "format":
        spec["format"] = {"name": "jettag-bdt", "version": 99}
    return spec


DAMAGES = {
    "child_outside_the_tree": r"tree 1: a split points outside the tree or the feature list",
    "negative_feature": r"tree 1: a split points outside the tree or the feature list",
    "bool_feature": r"tree 1: 'feature' must be a list of ints",
    "infinite_threshold": r"tree 1: a threshold or leaf value is not finite",
    "string_leaf_value": r"tree 1: 'value' must be a list of floats",
    "short_node_array": r"tree 1: node arrays are empty or of different lengths",
    "no_trees": r"'trees' must be a non-empty list",
    "format": r"format .*'version': 99.*, expected",
}


@pytest.mark.parametrize("how", [*DAMAGES, "truncated"])
def test_a_damaged_bdt_json_is_refused_naming_the_file_and_the_problem(how, bdts, tmp_path):
    directory = tmp_path / "bdt"
    shutil.copytree(bdts["binary"], directory)
    path = directory / "bdt.json"
    if how == "truncated":
        text, reason = path.read_text(), r"not JSON"
        path.write_text(text[: len(text) // 2])
    else:
        spec, reason = damage_trees(json.loads(path.read_text()), how), DAMAGES[how]
        path.write_text(json.dumps(spec))
    with pytest.raises(ArtefactError, match=reason) as error:
        export_onnx(directory, tmp_path / "out" / "model.onnx")
    assert str(error.value).startswith(f"{path}: ")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_export_command_refuses_a_damaged_bdt_json_in_one_line(bdts, tmp_path, caplog):
    directory = tmp_path / "bdt"
    shutil.copytree(bdts["binary"], directory)
    path = directory / "bdt.json"
    path.write_text(json.dumps(damage_trees(json.loads(path.read_text()), "child_outside_the_tree")))
    assert main(["export", "--model", str(directory), "--format", "onnx"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: not a usable BDT")
    assert "outside the tree" in errors[0]
    assert sorted(p.name for p in directory.iterdir()) == ["artefact.json", "bdt.json"]


def test_a_bdt_on_a_feature_the_spec_cannot_define_is_not_exported(bdts, tmp_path):
    """A BDT trained on another column of highlevel.arrow: the spec could not tell how to compute it."""
    directory = tmp_path / "bdt"
    shutil.copytree(bdts["binary"], directory)
    for name in ("bdt.json", "artefact.json"):
        content = json.loads((directory / name).read_text())
        content["features"][0] = "jet_pt"
        (directory / name).write_text(json.dumps(content))
    with pytest.raises(ArtefactError, match=rf"^{directory}: no definition of feature\(s\) jet_pt"):
        export_onnx(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["artefact.json", "bdt.json"]
