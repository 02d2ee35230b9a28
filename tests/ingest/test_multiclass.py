"""Ingest of several signal classes: class indices, per-class counts, and the class definitions refused."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from jettag.ingest import ingest_file
from jettag.ingest.summary import summarize
from jettag.jetclass import class_names
from jettag.settings import IngestSettings
from jettag.shards import read_shard
from tests.ingest.conftest import read_jetclass, write_root

SPLITS = ("train", "val", "test")
BINARY = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"])
MULTI = IngestSettings.create(signal=["label_Wqq", "label_Tbqq"], background=["label_QCD"], multiclass=True)


def labels_of(outputs) -> np.ndarray:
    jets = ak.concatenate([read_shard(outputs[s]) for s in SPLITS])
    return ak.to_numpy(jets.label)[np.argsort(ak.to_numpy(jets.entry))]


def test_class_names():
    assert class_names(["label_Tbqq"], ["label_QCD"], multiclass=False) == ["QCD", "Tbqq"]
    assert class_names(["label_Tbqq", "label_Wqq"], ["label_QCD"], multiclass=True) == ["QCD", "Tbqq", "Wqq"]
    # several labels together are one class, named after all of them; names follow any branch names
    assert class_names(["label_Tbqq", "label_Wqq"], ["label_QCD", "label_Zqq"], multiclass=True)[0] == (
        "QCD_or_Zqq"
    )
    assert class_names(["label_Wqq", "label_Zqq"], ["label_QCD"], multiclass=False) == ["QCD", "Wqq_or_Zqq"]
    assert class_names(["is_quark"], ["is_gluon"], multiclass=False) == ["is_gluon", "is_quark"]
    with pytest.raises(ValueError, match="would share a name"):
        class_names(["label_Quark"], ["Quark"], multiclass=False)


def test_binary_labels_and_counts_are_unchanged(generated, outputs):
    summary = ingest_file(generated["Tbqq"], outputs, BINARY)
    assert summary["multiclass"] is False
    assert summary["label_names"] == ["QCD", "Tbqq"]
    assert np.all(labels_of(outputs) == 1)
    for split in SPLITS:
        counts = summary["splits"][split]
        assert counts["signal"] == counts["jets"] == counts["classes"]["Tbqq"]
        assert counts["background"] == counts["classes"]["QCD"] == 0


def test_each_signal_label_is_its_own_class(generated, tmp_path):
    totals = {}
    for process, expected in (("Tbqq", 2), ("QCD", 0)):
        outputs = {s: tmp_path / process / f"{s}.arrow" for s in SPLITS}
        summary = ingest_file(generated[process], outputs, MULTI, tmp_path / process / "summary.json")
        assert summary["label_names"] == ["QCD", "Wqq", "Tbqq"]
        assert np.all(labels_of(outputs) == expected)
        totals[process] = summary
    dataset = summarize(sorted(tmp_path.glob("*/summary.json")), tmp_path / "summary.json")
    assert dataset["multiclass"] is True
    assert dataset["label_names"] == ["QCD", "Wqq", "Tbqq"]
    for split in SPLITS:
        counts = dataset["splits"][split]
        assert counts["classes"]["Wqq"] == 0
        assert counts["classes"]["Tbqq"] == counts["signal"] == totals["Tbqq"]["splits"][split]["jets"]
        assert counts["classes"]["QCD"] == counts["background"] == totals["QCD"]["splits"][split]["jets"]


def test_a_jet_of_two_signal_classes_is_ambiguous_in_multiclass_only(generated, tmp_path):
    columns = read_jetclass(generated["Tbqq"])
    label_wqq = np.zeros(len(columns["label_Wqq"]), dtype=np.int32)
    label_wqq[:10] = 1  # these top jets also claim to be W jets
    columns["label_Wqq"] = label_wqq
    path = write_root(tmp_path / "both.root", columns)
    multi = {s: tmp_path / "multi" / f"{s}.arrow" for s in SPLITS}
    summary = ingest_file(path, multi, MULTI)
    assert summary["dropped"]["ambiguous_label"] == 10
    assert summary["jets_kept"] == 390
    binary = {s: tmp_path / "binary" / f"{s}.arrow" for s in SPLITS}
    both_signal = IngestSettings.create(signal=["label_Tbqq", "label_Wqq"], background=["label_QCD"])
    assert ingest_file(path, binary, both_signal)["jets_kept"] == 400


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"], multiclass=True),
            "at least two",
        ),
        (
            IngestSettings.create(signal=["label_Tbqq", "label_QCD"], background=["label_QCD"]),
            "both signal and",
        ),
    ],
)
def test_impossible_classes_are_refused(generated, outputs, settings, message):
    with pytest.raises(ValueError, match=message):
        ingest_file(generated["Tbqq"], outputs, settings)
    assert not outputs["train"].exists()


def test_summaries_of_different_classes_are_not_added_up(generated, tmp_path):
    for name, settings in (("binary", BINARY), ("multi", MULTI)):
        outputs = {s: tmp_path / name / f"{s}.arrow" for s in SPLITS}
        ingest_file(generated["QCD"], outputs, settings, tmp_path / name / "summary.json")
    with pytest.raises(ValueError, match="differ from those of"):
        summarize([tmp_path / "binary" / "summary.json", tmp_path / "multi" / "summary.json"])
    assert json.loads((tmp_path / "multi" / "summary.json").read_text())["multiclass"] is True
