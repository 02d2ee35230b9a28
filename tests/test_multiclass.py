"""Multi-class tagging through the whole data path on real generated jets: top (Tbqq), W (Wqq) and QCD.

Ingest writes class indices (QCD 0, Tbqq 1, Wqq 2), build carries them and records the class names,
`jettag train` and `jettag train-bdt` train a softmax LSTM and a multi-class BDT from the build summary,
evaluate judges each signal class against the background with s_i / (s_i + s_QCD), the report has
per-class entries and panels, and predict writes one score column per class.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from jettag.artefact import load_bdt_tagger, load_tagger
from jettag.cli import main
from jettag.features import build_split, fit_standardisation
from jettag.features.run import load_highlevel
from jettag.ingest import ingest_file
from jettag.ingest.summary import summarize
from jettag.jetclass import HIGH_LEVEL_FEATURES
from jettag.report import write_report
from jettag.settings import BuildSettings, EvaluateSettings, IngestSettings
from jettag.train.bdt import export_trees, fit_bdt
from jettag.trees import BDTModel
from tests.conftest import N_SAMPLE_JETS, generate_processes

SPLITS = ("train", "val", "test")
CLASSES = ["QCD", "Tbqq", "Wqq"]
#: a bar a tagger that learnt nothing fails (0.5) and the taggers pass with room on this sample
AUC_BAR = 0.75
TINY_LSTM = {"name": "lstm", "kind": "recurrent", "cell": "lstm", "embed_dim": 16, "hidden_size": 16,
             "num_layers": 1, "dropout": 0.0, "head_sizes": [16], "readout": "mean"}  # fmt: skip

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def pipeline(generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared top and QCD jets plus as many W jets, through ingest, build, training and evaluation."""
    out = tmp_path_factory.mktemp("multiclass")
    files = {**generated, **generate_processes(out, ("Wqq",), N_SAMPLE_JETS)}

    settings = IngestSettings.create(
        signal=["label_Tbqq", "label_Wqq"], background=["label_QCD"], multiclass=True
    )
    shards: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for process, path in files.items():
        outputs = {split: out / "ingest" / process / f"{split}.arrow" for split in SPLITS}
        ingest_file(path, outputs, settings, out / "ingest" / process / "summary.json")
        for split in SPLITS:
            shards[split].append(outputs[split])
    summarize(sorted((out / "ingest").glob("*/summary.json")), out / "ingest" / "summary.json")

    build = out / "build"
    build_settings = BuildSettings.create(max_length=64, chunk_size=150)
    fit_standardisation(shards["train"], build_settings, build / "standardisation.json")
    for split in SPLITS:
        build_split(
            split,
            shards[split],
            build / "standardisation.json",
            build_settings,
            build / split,
            out / "ingest" / "summary.json",
        )

    model = out / "lstm.yaml"
    model.write_text(yaml.safe_dump(TINY_LSTM))
    train, evaluate = out / "train", out / "evaluate"
    cpu = {"accelerator": "cpu", "devices": 1, "max_epochs": 12, "batch_size": 32, "lr": 0.01}
    settings = json.dumps({"train": cpu})
    assert main(["-q", "train", "--model", str(model), "--build-dir", str(build), "--output-dir",
                 str(train / "lstm"), "--seed", "1", "--settings", settings]) == 0  # fmt: skip
    assert main(["-q", "train-bdt", "--build-dir", str(build), "--output-dir", str(train / "bdt"),
                 "--seed", "1"]) == 0  # fmt: skip
    few = json.dumps({"evaluate": {"bootstrap": 20}})
    for name in ("lstm", "bdt"):
        assert main(["-q", "evaluate", "--run-dir", str(train / name), "--build-dir", str(build),
                     "--output-dir", str(evaluate / name), "--settings", few]) == 0  # fmt: skip
    return {"out": out, "build": build, "train": train, "evaluate": evaluate, "files": files}


def test_ingest_and_build_record_the_classes(pipeline):
    dataset = json.loads((pipeline["out"] / "ingest" / "summary.json").read_text())
    assert dataset["multiclass"] is True
    assert dataset["label_names"] == CLASSES
    for split in SPLITS:
        counts = dataset["splits"][split]
        assert sum(counts["classes"].values()) == counts["jets"]
        assert counts["background"] == counts["classes"]["QCD"] > 0
        assert counts["signal"] == counts["classes"]["Tbqq"] + counts["classes"]["Wqq"]
        assert min(counts["classes"].values()) > 0
        built = json.loads((pipeline["build"] / split / "summary.json").read_text())
        assert built["n_classes"] == 3
        assert built["label_names"] == CLASSES
        assert built["classes"] == counts["classes"]
    labels = pd.read_feather(pipeline["build"] / "train" / "highlevel.arrow").label
    assert sorted(labels.unique()) == [0, 1, 2]


def test_artefacts_name_the_classes(pipeline):
    lstm = load_tagger(pipeline["train"] / "lstm")
    assert lstm.artefact["n_classes"] == 3
    assert lstm.label_names == CLASSES
    assert set(lstm.artefact["best"]["val/auc_vs_background"]) == {"Tbqq", "Wqq"}
    bdt = load_bdt_tagger(pipeline["train"] / "bdt")
    assert bdt.label_names == CLASSES
    assert bdt.model.n_classes == 3


@pytest.mark.parametrize("model", ["lstm", "bdt"])
def test_each_class_separates_from_the_background(pipeline, model):
    metrics = json.loads((pipeline["evaluate"] / model / "metrics.json").read_text())
    scores = pd.read_parquet(pipeline["evaluate"] / model / "scores.parquet")
    probabilities = scores[[f"score_{name}" for name in CLASSES]].to_numpy(np.float64)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert metrics["label_names"] == CLASSES
    test = metrics["test"]
    assert set(test["per_class"]) == {"Tbqq", "Wqq"}
    for name, fom in test["per_class"].items():
        # jets of that class and background jets only
        assert fom["n_signal"] == int((scores.label == CLASSES.index(name)).sum())
        assert fom["n_background"] == int((scores.label == 0).sum())
        assert fom["auc"] > AUC_BAR, (model, name, fom["auc"])
        assert set(fom["rejection"]) == {"0.3", "0.5"}
        assert metrics["val_auc_vs_background"][name] > AUC_BAR
    assert test["accuracy"] > 0.5  # three classes: a coin gets a third
    print(model, {name: round(fom["auc"], 4) for name, fom in test["per_class"].items()})


def test_report_has_per_class_entries(pipeline):
    report = pipeline["out"] / "report"
    metrics = write_report(
        [pipeline["evaluate"] / "lstm", pipeline["evaluate"] / "bdt"],
        report,
        EvaluateSettings.create(pt_bins=[550, 600, 650]),
        ingest_summary=pipeline["out"] / "ingest" / "summary.json",
    )
    written = json.loads((report / "metrics.json").read_text())
    assert written["classes"] == CLASSES
    assert written["test_jets"]["classes"]["QCD"] == written["test_jets"]["background"]
    for name in ("lstm", "bdt"):
        entry = written["models"][name]
        assert set(entry["classes"]) == {"Tbqq", "Wqq"}
        for fom in entry["classes"].values():
            assert fom["auc"] > AUC_BAR
            assert set(fom["rejection"]) == {"0.3", "0.5"}
        assert entry["auc"] == pytest.approx(np.mean([c["auc"] for c in entry["classes"].values()]))
    assert set(written["pt_bins"]["classes"]) == {"Tbqq", "Wqq"}
    assert metrics["models"].keys() == {"lstm", "bdt"}
    page = (report / "report.html").read_text()
    assert "lstm: Wqq vs QCD" in page
    assert "bdt: Tbqq vs QCD" in page
    for figure in ("roc", "pt_dependence", "mass_sculpting", "score_distributions"):
        assert (report / f"{figure}.png").stat().st_size > 0


@pytest.mark.parametrize("model", ["lstm", "bdt"])
def test_predict_writes_a_score_per_class(pipeline, model):
    output = pipeline["out"] / "predict" / f"{model}.parquet"
    inputs = [str(pipeline["files"][p]) for p in ("Wqq", "QCD")]
    assert main(["-q", "predict", "--model", str(pipeline["train"] / model), "--input", *inputs,
                 "--output", str(output)]) == 0  # fmt: skip
    table = pd.read_parquet(output)
    columns = [f"score_{name}" for name in CLASSES]
    assert [c for c in table.columns if c.startswith("score_")] == columns
    ok = table.status == 0
    np.testing.assert_allclose(table.loc[ok, columns].sum(axis=1), 1.0, atol=1e-5)
    # the W file's jets look more like W than the QCD file's jets do
    w_like = table.score_Wqq / (table.score_Wqq + table.score_QCD)
    assert w_like[ok & (table.file_index == 0)].median() > w_like[ok & (table.file_index == 1)].median()


def test_json_bdt_equals_sklearn_with_three_classes(pipeline):
    highlevel = {split: pipeline["build"] / split / "highlevel.arrow" for split in SPLITS}
    X_train, y_train = load_highlevel(highlevel["train"], n_labels=3)
    X_val, y_val = load_highlevel(highlevel["val"], n_labels=3)
    X_test, _ = load_highlevel(highlevel["test"], n_labels=3)
    model = fit_bdt(X_train, y_train, X_val, y_val, seed=2, max_iter=40)
    spec = json.loads(json.dumps(export_trees(model, HIGH_LEVEL_FEATURES)))
    assert spec["link"] == "softmax"
    assert len(spec["trees"]) == 3 * model.n_iter_
    ours = BDTModel(spec)
    np.testing.assert_allclose(ours.decision_function(X_test), model._raw_predict(X_test), atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X_test), model.predict_proba(X_test), atol=1e-12)
    with pytest.raises(ValueError, match=r"must hold 0 \(background\) or 1 \(signal\)"):
        load_highlevel(highlevel["train"], n_labels=2)


def test_balancing_keeps_every_class_at_the_smallest_count(pipeline, tmp_path):
    ingest = pipeline["out"] / "ingest"
    counts = json.loads((ingest / "summary.json").read_text())["splits"]["train"]["classes"]
    result = build_split(
        "train",
        sorted(ingest.glob("*/train.arrow")),
        pipeline["build"] / "standardisation.json",
        BuildSettings.create(max_length=16, chunk_size=150, balance=True),
        tmp_path,
        ingest / "summary.json",
    )
    kept = result["classes"]
    assert result["dropped"]["class_balance"] == sum(counts.values()) - sum(kept.values())
    smallest = min(counts.values())
    for name, n in kept.items():
        # each jet is kept with probability smallest / count: binomial spread around the smallest count
        assert abs(n - smallest) < 4 * np.sqrt(smallest), (name, n, smallest)


def test_export_names_a_score_per_class(pipeline):
    output = pipeline["out"] / "export" / "lstm.onnx"
    # the export itself checks ONNX Runtime's scores against PyTorch's
    assert main(["-q", "export", "--model", str(pipeline["train"] / "lstm"), "--format", "onnx",
                 "--output", str(output)]) == 0  # fmt: skip
    spec = json.loads(output.with_suffix(".spec.json").read_text())
    assert spec["labels"] == CLASSES


def test_report_refuses_taggers_of_the_wrong_kind_for_the_configuration(pipeline, tmp_path):
    # a workflow that ingested without --multiclass would otherwise report binary taggers for a
    # multi-class configuration without a word
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"signal": ["label_Tbqq", "label_Wqq"], "multiclass": False}))
    with pytest.raises(ValueError, match="multiclass is False, but the evaluated taggers are multi-class"):
        write_report([pipeline["evaluate"] / "bdt"], tmp_path / "report", config=config)
    config.write_text(yaml.safe_dump({"signal": ["label_Tbqq", "label_Wqq"], "multiclass": True}))
    assert "classes" in write_report([pipeline["evaluate"] / "bdt"], tmp_path / "report", config=config)
