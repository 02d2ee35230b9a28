"""The BDT baseline on built high-level features: it separates top from QCD, and its JSON export is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jettag.features.run import load_highlevel
from jettag.jetclass import HIGH_LEVEL_FEATURES
from jettag.shards import ShardWriter, read_shard
from jettag.train.bdt import export_trees, fit_bdt, train_bdt
from jettag.trees import BDTModel, load_bdt

SPLITS = ("train", "val", "test")
ARTEFACT_KEYS = {"features", "params", "seed", "jettag_version", "sklearn_version", "metrics", "file"}
METRIC_KEYS = {
    "val_auc",
    "val_accuracy",
    "n_train",
    "n_val",
    "n_iter",
    "n_params",
    "n_leaves",
    "train_seconds",
}


@pytest.fixture(scope="module")
def highlevel(built):
    """``highlevel.arrow`` of each split of the shared sample."""
    return {split: built / split / "highlevel.arrow" for split in ("train", "val", "test")}


@pytest.fixture(scope="module")
def trained(highlevel, tmp_path_factory):
    out = tmp_path_factory.mktemp("bdt")
    metrics = train_bdt(highlevel["train"], highlevel["val"], out, seed=3)
    return out, metrics


def test_bdt_separates_top_from_qcd(trained):
    _, metrics = trained
    assert metrics["val_auc"] > 0.75
    assert metrics["val_accuracy"] > 0.65
    assert metrics["n_train"] > 300
    assert metrics["n_params"] > metrics["n_iter"]  # trees with splits, not stumps of one leaf


def test_json_model_equals_sklearn(highlevel):
    X_train, y_train = load_highlevel(highlevel["train"])
    X_val, y_val = load_highlevel(highlevel["val"])
    X_test, _ = load_highlevel(highlevel["test"])
    model = fit_bdt(X_train, y_train, X_val, y_val, seed=3)
    loaded = BDTModel(json.loads(json.dumps(export_trees(model, HIGH_LEVEL_FEATURES))))
    assert max(tree.depth for tree in loaded.trees) >= 3
    # missing values take the learned default branch in both
    X_nan = X_test.copy()
    X_nan[::7, 0] = np.nan
    X_nan[::5, 3] = np.nan
    for X in (X_test, X_nan):
        expected = model.predict_proba(X)[:, 1]
        got = loaded.predict_proba(X)
        assert np.abs(got - expected).max() < 1e-9
        assert expected.std() > 0.1


def test_same_seed_same_model(trained, highlevel, tmp_path):
    out, metrics = trained
    again = train_bdt(highlevel["train"], highlevel["val"], tmp_path, seed=3)
    assert (tmp_path / "bdt.json").read_text() == (out / "bdt.json").read_text()
    assert {k: v for k, v in again.items() if k != "train_seconds"} == {
        k: v for k, v in metrics.items() if k != "train_seconds"
    }
    X_test, _ = load_highlevel(highlevel["test"])
    np.testing.assert_array_equal(
        load_bdt(tmp_path).predict_proba(X_test), load_bdt(out).predict_proba(X_test)
    )

    artefact = json.loads((out / "artefact.json").read_text())
    assert artefact.keys() >= ARTEFACT_KEYS
    assert artefact["metrics"].keys() >= METRIC_KEYS
    assert artefact["features"] == list(HIGH_LEVEL_FEATURES)
    assert artefact["seed"] == 3
    assert artefact["metrics"]["val_auc"] == metrics["val_auc"]
    assert load_bdt(out).n_nodes == metrics["n_params"]


def test_missing_feature_column_names_file_and_column(highlevel, tmp_path):
    jets = read_shard(highlevel["train"])
    broken = tmp_path / "highlevel.arrow"
    with ShardWriter(broken) as writer:
        writer.write(jets[[name for name in jets.fields if name != "tau32"]])
    with pytest.raises(ValueError, match=r"highlevel\.arrow: missing column\(s\) tau32") as error:
        train_bdt(broken, highlevel["val"], tmp_path / "out")
    assert str(broken) in str(error.value)
    assert not (tmp_path / "out").exists()
