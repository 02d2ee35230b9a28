"""The workflow on files that carry labels of the user's own: a binary pair and a three-class set.

The files are the shared generated jets written again with their JetClass labels replaced by other names
(a float, a bool and an int branch), as a user's own ntuples would be. The configuration names those
branches; ingest, training, evaluation, the report and predict use the classes under the user's names.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from jettag.rootio import JetClassWriter
from tests.conftest import N_SAMPLE_JETS, generate_processes
from tests.smoke import smoke_config
from tests.workflow.test_workflow import snakemake

pytestmark = pytest.mark.slow

#: the shortest training that runs every step (the networks need not learn: the names are under test)
FAST = {"max_epochs": 3, "seeds": [1]}


def relabel(source: Path, target: Path, labels: dict[str, np.ndarray]) -> Path:
    """``source``'s jets with every ``label_*`` branch replaced by ``labels`` (name: one value per jet)."""
    arrays = uproot.open(source)["tree"].arrays()
    columns = {
        name: arrays[name] for name in arrays.fields if not name.startswith("label_") and name != "npart"
    }
    columns = {k: v if k.startswith("part_") else ak.to_numpy(v) for k, v in columns.items()}
    with JetClassWriter(target) as writer:
        writer.write({**columns, **labels})
    return target


def run_workflow(
    tmp_path: Path, files: list[Path], signal: list[str], background: list[str], models: list[str], **extra
) -> Path:
    smoke, _ = smoke_config(tmp_path)
    config = {
        **smoke,
        "inputs": [str(f) for f in files],
        "signal": signal,
        "background": background,
        "train": {**smoke["train"], **FAST, "models": models},
        "evaluate": {"bootstrap": 10},
        "predict": {"inputs": [str(files[0])], "models": [f"{m}/seed1" for m in models]},
        **extra,
    }
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "all", "predict", "--cores", "2", "--configfile", str(path))
    assert result.returncode == 0, result.stderr[-4000:]
    return tmp_path / config["results"]


def test_a_binary_pair_of_the_users_own_names_the_classes(generated, tmp_path):
    n = N_SAMPLE_JETS
    files = [
        relabel(generated["Tbqq"], tmp_path / "top.root", {"label_Top": np.ones(n, np.float32),
                                                           "label_Light": np.zeros(n, bool)}),
        relabel(generated["QCD"], tmp_path / "light.root", {"label_Top": np.zeros(n, np.float32),
                                                            "label_Light": np.ones(n, bool)}),
    ]  # fmt: skip
    out = run_workflow(tmp_path, files, ["label_Top"], ["label_Light"], ["rnn", "bdt"])

    ingest = json.loads((out / "ingest/summary.json").read_text())
    assert ingest["label_names"] == ["Light", "Top"]
    assert sum(c["classes"]["Top"] for c in ingest["splits"].values()) == ingest["jets_kept"] / 2
    metrics = json.loads((out / "report/metrics.json").read_text())
    assert metrics["label_names"] == ["Light", "Top"]
    assert metrics["models"]["bdt"]["auc"] > 0.8
    html = (out / "report/report.html").read_text()
    assert "signal (Top)" in html
    assert "background (Light)" in html
    for model in ("rnn", "bdt"):
        scores = uproot.open(out / f"predict/{model}/seed1/top.root")["scores"].arrays(library="np")
        assert {"score_Light", "score_Top", "label_Top", "label_Light"} <= set(scores)
        np.testing.assert_allclose(scores["score_Light"] + scores["score_Top"], 1, atol=1e-6)
        np.testing.assert_array_equal(scores["label_Top"], 1)
        np.testing.assert_array_equal(scores["label_Light"], 0)
    bdt = uproot.open(out / "predict/bdt/seed1/top.root")["scores"].arrays(library="np")
    assert np.median(bdt["score_Top"]) > 0.5  # the top jets, scored as top


def test_a_three_class_set_of_the_users_own_names_the_classes(generated, tmp_path):
    w = generate_processes(tmp_path / "generated", ("Wqq",), N_SAMPLE_JETS)["Wqq"]
    n = N_SAMPLE_JETS
    one, zero = np.ones(n, np.int32), np.zeros(n, np.int32)
    files = [
        relabel(generated["Tbqq"], tmp_path / "t.root", {"is_top": one, "is_w": zero, "is_light": zero}),
        relabel(w, tmp_path / "w.root", {"is_top": zero, "is_w": one, "is_light": zero}),
        relabel(generated["QCD"], tmp_path / "q.root", {"is_top": zero, "is_w": zero, "is_light": one}),
    ]
    out = run_workflow(tmp_path, files, ["is_top", "is_w"], ["is_light"], ["bdt"], multiclass=True)

    metrics = json.loads((out / "report/metrics.json").read_text())
    assert metrics["classes"] == metrics["label_names"] == ["is_light", "is_top", "is_w"]
    assert set(metrics["test_jets"]["classes"]) == {"is_light", "is_top", "is_w"}
    assert metrics["models"]["bdt"]["classes"]["is_top"]["auc"] > 0.8
    html = (out / "report/report.html").read_text()
    assert "is_top" in html
    assert "is_w" in html
    scores = uproot.open(out / "predict/bdt/seed1/t.root")["scores"].arrays(library="np")
    assert {"score_is_light", "score_is_top", "score_is_w", "is_top", "is_w", "is_light"} <= set(scores)
    assert (
        np.mean(np.argmax([scores[f"score_{c}"] for c in ("is_light", "is_top", "is_w")], axis=0) == 1) > 0.5
    )
