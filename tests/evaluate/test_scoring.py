"""The evaluate stage on real trained taggers: scores per test jet, in order, with the observers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from jettag.artefact import ArtefactError, load_tagger
from jettag.evaluate import evaluate_run
from jettag.jetclass import OBSERVERS
from jettag.settings import EvaluateSettings
from jettag.shards import read_shard
from jettag.train import JetDataModule


@pytest.fixture(scope="module")
def evaluated(trained_runs: dict[str, Path], built: Path, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("evaluate")
    for name, run_dir in trained_runs.items():
        evaluate_run(run_dir, built, out / name, EvaluateSettings.create(bootstrap=20, batch_size=16))
    return {name: out / name for name in trained_runs}


@pytest.mark.parametrize("run", ["lstm/seed1", "cnn/seed1", "bdt/seed1"])
def test_every_test_jet_is_scored_in_order_with_its_observers(run, evaluated, built) -> None:
    table = pd.read_parquet(evaluated[run] / "scores.parquet")
    highlevel = read_shard(built / "test" / "highlevel.arrow")
    assert (
        len(table) == len(highlevel) == json.loads((built / "test" / "summary.json").read_text())["jets_out"]
    )
    for name in ("label", *OBSERVERS):
        np.testing.assert_array_equal(table[name].to_numpy(), np.asarray(highlevel[name]))
    assert table.score.between(0, 1).all()
    metrics = json.loads((evaluated[run] / "metrics.json").read_text())
    assert metrics["test"]["auc"] == pytest.approx(roc_auc_score(table.label, table.score))
    assert metrics["test"]["auc"] > 0.75  # trained taggers beat a coin on unseen jets
    assert set(metrics["test"]["rejection"]) == {"0.3", "0.5"}
    assert metrics["test"]["errors"]["auc"] > 0
    assert metrics["n_params"] > 0
    assert metrics["train_seconds"] > 0
    assert metrics["inference_jets_per_second"] > 0
    # what the learning curve puts on its x axis: the jets of the split the tagger was trained on
    assert metrics["train_jets"] == json.loads((built / "train" / "summary.json").read_text())["jets_out"]


def test_length_sorted_batches_give_the_scores_of_plain_batches(evaluated, trained_runs, built) -> None:
    """Scoring sorts jets by length within a chunk; the scores must land on the right jets."""
    tagger = load_tagger(trained_runs["lstm/seed1"])
    data = JetDataModule.create(
        "sequence", built / "train" / "sequences.arrow", built / "val" / "sequences.arrow",
        built / "test" / "sequences.arrow", eval_batch_size=7,
    )  # fmt: skip
    data.setup("test")
    direct = np.concatenate([tagger.scores(batch) for batch in data.test_dataloader()])
    table = pd.read_parquet(evaluated["lstm/seed1"] / "scores.parquet")
    np.testing.assert_allclose(table.score.to_numpy(), direct, rtol=0, atol=1e-5)


def test_a_training_directory_that_is_not_a_model_is_refused(trained_runs, built, tmp_path) -> None:
    broken = tmp_path / "lstm"
    shutil.copytree(trained_runs["lstm/seed1"], broken)
    (broken / "model.pt").write_bytes(b"not a state dict")
    with pytest.raises(ArtefactError, match=r"model\.pt: not a weights-only state dict"):
        evaluate_run(broken, built, tmp_path / "out")
    artefact = json.loads((broken / "artefact.json").read_text())
    (broken / "artefact.json").write_text(json.dumps(artefact | {"jettag_version": "9.0.0"}))
    with pytest.raises(ArtefactError, match=r"written by jettag 9\.0\.0"):
        evaluate_run(broken, built, tmp_path / "out")
    assert not (tmp_path / "out" / "scores.parquet").exists()
