"""Real searches on the shared sample: every trial a Lightning training (or a BDT fit) on a build made once
per combination of build settings; a hopeless trial is pruned on its validation AUC, a killed search
resumes from its journal, and the best trial comes out as a model file and the settings it needs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml

from jettag.cli import main
from jettag.models import load_model_config, validate_model_config
from jettag.settings import BuildSettings, TrainSettings, TuneSettings
from jettag.train.bdt import load_bdt_config
from jettag.tune import group_shards, tune_model
from jettag.tune.study import JOURNAL, STUDY_NAME, Tagger, base_sections

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

TINY_LSTM = {
    "name": "lstm",
    "kind": "recurrent",
    "cell": "lstm",
    "embed_dim": 8,
    "hidden_size": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "head_sizes": [8],
    "readout": "mean",
}
SPACE = [
    {"section": "train", "key": "lr", "float": [1e-8, 3e-2], "log": True},
    {"section": "build", "key": "ordering", "choices": ["pt", "kt"]},
    {"section": "model", "key": "hidden_size", "choices": [8, 12]},
    {"section": "build", "key": "invariants", "choices": [[], ["jet"]]},
]
BUILD = BuildSettings.create(max_length=32, chunk_size=200)
TRAIN = TrainSettings.create(accelerator="cpu", batch_size=32)


def tune_settings(**values) -> TuneSettings:
    """Two epochs a trial; the median pruner at work from the first epoch of the second trial."""
    defaults = {
        "trials": 2,
        "max_epochs": 2,
        "baseline": False,
        "random_trials": 1,
        "pruner_startup_trials": 1,
        "pruner_warmup_epochs": 0,
        "space": {"recurrent": SPACE},
    }
    return TuneSettings.create(**(defaults | values))


def rows(study_dir: Path) -> list[dict[str, str]]:
    with (study_dir / "trials.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def searched(ingested, tmp_path_factory):
    """A search of two trials: one that learns (lr 3e-2), then one that cannot (lr 1e-8)."""
    shards, summary = ingested
    out = tmp_path_factory.mktemp("tune")
    (out / "lstm.yaml").write_text(yaml.safe_dump(TINY_LSTM))
    first = [
        {"train.lr": 3e-2, "build.ordering": "pt", "model.hidden_size": 8, "build.invariants": []},
        {"train.lr": 1e-8, "build.ordering": "pt", "model.hidden_size": 8, "build.invariants": []},
    ]
    result = tune_model(
        out / "lstm.yaml",
        shards,
        summary,
        out / "lstm",
        out / "builds",
        tune_settings(),
        BUILD,
        TRAIN,
        first_trials=first,
    )
    return out, result, rows(out / "lstm")


def test_each_trial_trains_and_records_its_validation_auc(searched):
    out, result, trials = searched
    learned = trials[0]
    assert (learned["state"], learned["epochs"], learned["train.lr"]) == ("complete", "2", "0.03")
    assert float(learned["val_auc"]) > 0.8
    artefact = json.loads((out / "lstm" / "trials" / "0" / "artefact.json").read_text())
    assert artefact["best"]["val/auc"] == pytest.approx(float(learned["val_auc"]), abs=1e-6)
    assert (artefact["settings"]["lr"], artefact["settings"]["max_epochs"]) == (3e-2, 2)
    assert not list((out / "lstm" / "trials").glob("*/*.ckpt"))
    assert result["trials"] == {"complete": 1, "pruned": 1, "failed": 0}


def test_a_trial_that_cannot_learn_is_pruned_after_its_first_epoch(searched):
    out, _, trials = searched
    hopeless = trials[1]
    assert (hopeless["state"], hopeless["epochs"], hopeless["train.lr"]) == ("pruned", "1", "1e-08")
    study = optuna.load_study(
        study_name=STUDY_NAME,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / "lstm" / JOURNAL))
        ),
    )
    first, second = study.trials
    # the pruner compared the first epochs: the untrained network against one trained for an epoch
    assert second.intermediate_values[0] < first.intermediate_values[0]
    assert not (out / "lstm" / "trials" / "1" / "artefact.json").exists()


def test_the_best_trial_is_a_model_file_with_the_settings_it_needs(searched):
    out, result, _ = searched
    spec = load_model_config(out / "lstm" / "best.yaml")
    # the model file as it was, with the learning rate the search chose as its own train key
    assert spec.pop("train") == {"lr": 3e-2}
    assert spec == load_model_config(out / "lstm.yaml")
    settings = yaml.safe_load((out / "lstm" / "best_settings.yaml").read_text())
    assert TrainSettings.from_dict(settings["train"]).lr == 3e-2
    assert BuildSettings.from_dict(settings["build"]).ordering == "pt"
    assert result["best"] == {
        "number": 0,
        "val_auc": pytest.approx(float(rows(out / "lstm")[0]["val_auc"])),
        "params": {"train.lr": 3e-2, "build.ordering": "pt", "model.hidden_size": 8, "build.invariants": []},
        "build": rows(out / "lstm")[0]["build"],
    }


def test_a_killed_search_resumes_from_its_journal_and_builds_each_combination_once(searched, ingested):
    out, _, before = searched
    shards, summary = ingested
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "lstm" / JOURNAL))
    )
    study = optuna.load_study(study_name=STUDY_NAME, storage=journal)
    # a trial that was running when its search was killed: its values drawn, no result
    study.enqueue_trial(
        {"train.lr": 3e-2, "build.ordering": "kt", "model.hidden_size": 12, "build.invariants": '["jet"]'}
    )
    killed = study.ask()
    assert (killed.number, killed.suggest_float("train.lr", 1e-8, 3e-2, log=True)) == (2, 3e-2)
    assert killed.suggest_categorical("build.ordering", ["pt", "kt"]) == "kt"
    assert killed.suggest_categorical("model.hidden_size", [8, 12]) == 12
    assert killed.suggest_categorical("build.invariants", ["[]", '["jet"]']) == '["jet"]'
    tune_model(
        out / "lstm.yaml",
        shards,
        summary,
        out / "lstm",
        out / "builds",
        tune_settings(trials=3),
        BUILD,
        TRAIN,
    )
    after = rows(out / "lstm")
    assert after[:2] == before  # the finished trials are kept as they were, not trained again
    assert (after[2]["state"], after[2]["val_auc"]) == ("fail", "")
    retried = after[3]
    assert retried["state"] in ("complete", "pruned")
    assert (retried["train.lr"], retried["build.ordering"], retried["model.hidden_size"]) == (
        "0.03",
        "kt",
        "12",
    )
    assert len(after) == 4
    # two orderings, two builds: the pt build of the first trials was made once and shared
    assert retried["build.invariants"] == '["jet"]'
    built = json.loads((out / "builds" / retried["build"] / "build.json").read_text())["settings"]
    assert (built["ordering"], built["invariants"]) == ("kt", ["jet"])
    assert before[0]["build"] == before[1]["build"] != retried["build"]
    assert sorted(p.name for p in (out / "builds").iterdir() if not p.name.startswith(".")) == sorted(
        {before[0]["build"], retried["build"]}
    )


def test_the_bdt_search_is_reproducible_from_its_seed_and_starts_from_the_baseline(ingested, tmp_path):
    shards, summary = ingested
    settings = {
        "tune": {
            "trials": 3,
            "random_trials": 1,
            "space": {
                "bdt": [
                    {"section": "bdt", "key": "learning_rate", "float": [0.01, 0.3], "log": True},
                    {"section": "bdt", "key": "max_leaf_nodes", "int": [4, 31], "log": True},
                    {"section": "bdt", "key": "max_iter", "int": [20, 300], "log": True},
                ]
            },
        },
        "build": BUILD.to_dict(),
        "train": {"accelerator": "cpu"},
    }
    argv = [
        "tune",
        "--model",
        "bdt",
        "--shards",
        *map(str, [*shards["train"], *shards["val"], *shards["test"]]),
        "--ingest-summary",
        str(summary),
        "--builds-dir",
        str(tmp_path / "builds"),
        "--settings",
        json.dumps(settings),
    ]
    assert main([*argv, "--output-dir", str(tmp_path / "a")]) == 0
    tune = TuneSettings.load(settings)
    # the same shards in the command's order (by path), so the same build
    grouped = group_shards([*shards["train"], *shards["val"], *shards["test"]])
    tune_model("bdt", grouped, summary, tmp_path / "b", tmp_path / "builds", tune, BUILD, TRAIN)
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in a] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in b
    ]
    assert (
        a[0]["baseline"],
        a[0]["bdt.learning_rate"],
        a[0]["bdt.max_leaf_nodes"],
        a[0]["bdt.max_iter"],
    ) == ("1", "0.1", "31", "300")
    assert len({(row["bdt.learning_rate"], row["bdt.max_iter"]) for row in a}) == 3
    best = load_bdt_config(tmp_path / "a" / "best.yaml")
    assert best["early_stopping"] is True
    chosen = next(
        row
        for row in a
        if row["number"] == str(json.loads((tmp_path / "a" / "study.json").read_text())["best"]["number"])
    )
    assert best["learning_rate"] == pytest.approx(float(chosen["bdt.learning_rate"]))
    # a search from that model file starts from its arguments, as `train-bdt --model` trains it
    again = TuneSettings.load(settings | {"tune": settings["tune"] | {"trials": 1}})
    tune_model(
        tmp_path / "a" / "best.yaml",
        grouped,
        summary,
        tmp_path / "c",
        tmp_path / "builds",
        again,
        BUILD,
        TRAIN,
    )
    first = rows(tmp_path / "c")[0]
    assert (first["baseline"], first["bdt.max_leaf_nodes"]) == ("1", chosen["bdt.max_leaf_nodes"])
    assert (
        main(["tune-summary", str(tmp_path / "a" / "study.json"), "--output", str(tmp_path / "summary.md")])
        == 0
    )
    table = (tmp_path / "summary.md").read_text()
    assert "| bdt | 3 (3, 0) |" in table


def test_a_model_files_own_train_keys_are_where_its_search_starts():
    spec = validate_model_config(TINY_LSTM | {"train": {"lr": 2e-3}})
    base = base_sections(Tagger("lstm", "recurrent", spec), BUILD, TRAIN, tune_settings())
    assert base["train"]["lr"] == 2e-3
    assert base["train"]["batch_size"] == TRAIN.batch_size
    # the trial's values go into the train section; the model section holds the architecture alone
    assert "train" not in base["model"]
