"""The search space is read from the configuration: each entry sets one key of one section, and a bad
entry is refused before any trial runs, with the entry and the key it sets named."""

from __future__ import annotations

from pathlib import Path

import pytest

from jettag.config import tune_problems, validate_config
from jettag.schema import ConfigError
from jettag.searchspace import Param, parse_entries, set_key
from jettag.settings import BuildSettings, TrainSettings, TuneSettings
from jettag.tune import load_tagger, tagger_params
from jettag.tune.study import base_sections, baseline_values

ROOT = Path(__file__).resolve().parents[2]


def keys(settings: TuneSettings, name: str, kind: str) -> set[str]:
    where, entries = settings.entries(name, kind)
    return {f"{p.section}.{p.key}" for p in parse_entries(entries, where)}


def test_the_default_spaces_cover_the_recurrent_taggers_cnn_pfn_and_bdt():
    settings = TuneSettings.create()
    recurrent = keys(settings, "gru", "recurrent")
    assert recurrent == {
        "model.hidden_size",
        "model.num_layers",
        "model.embed_dim",
        "model.readout",
        "model.reverse",
        "model.dropout",
        "build.ordering",
        "build.invariants",
        "build.augment.copies",
        "train.lr",
    }
    assert keys(settings, "cnn", "cnn") == {"model.channels", "model.dropout", "train.lr"}
    for name in ("lstm", "gru", "rnn", "cnn", "pfn"):
        tagger = load_tagger(f"configs/models/{name}.yaml")
        assert tagger_params(tagger, settings)
    bdt = {p.key for p in tagger_params(load_tagger("bdt"), settings)}
    assert {"learning_rate", "max_leaf_nodes", "max_iter", "l2_regularization"} <= bdt


def test_a_key_joins_the_search_with_one_entry():
    space = {
        "recurrent": [
            *TuneSettings.create().space["recurrent"],
            {"section": "train", "key": "weight_decay", "float": [1e-4, 0.1], "log": True},
        ]
    }
    settings = TuneSettings.create(space=space)
    params = tagger_params(load_tagger("configs/models/lstm.yaml"), settings)
    assert params[-1] == Param(
        "train.weight_decay",
        "train",
        "weight_decay",
        "float",
        low=1e-4,
        high=0.1,
        log=True,
        where="tune.space.recurrent[10]",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"section": "train", "key": "augment.rotate", "choices": [True, False]},
            r"'tune\.space\.recurrent\[0\]' \(train\.augment\.rotate\): "
            r"config key 'train\.augment' is not known",
        ),
        (
            {"section": "build", "key": "ordering", "choices": ["pt", "eta"]},
            r"'tune\.space\.recurrent\[0\]' \(build\.ordering\) = 'eta': 'eta' is not one of",
        ),
        (
            {"section": "train", "key": "lr", "float": [0.0, 0.1], "log": True},
            r"'tune\.space\.recurrent\[0\]' \(train\.lr\): a log scale needs low > 0",
        ),
        (
            {"section": "model", "key": "hidden_size", "int": [64, 16]},
            r"\(model\.hidden_size\): int range \[64, 16\]: low must be below high",
        ),
        (
            {"section": "model", "key": "hidden_size", "int": [16, 64], "choices": [16]},
            r"\(model\.hidden_size\): give exactly one of choices, int: \[low, high\] or "
            r"float: \[low, high\] \(got choices, int\)",
        ),
        (
            {"section": "train", "key": "seeds", "choices": [[1], [2]]},
            r"\(train\.seeds\): train\.seeds says which trainings run, not how; it cannot be searched",
        ),
        ({"section": "optimiser", "key": "lr", "choices": [1]}, r"'tune\.space\.recurrent\.0\.section'"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry_and_its_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        TuneSettings.create(space={"recurrent": [entry]})


def test_a_model_key_is_checked_against_the_model_file_when_its_search_starts():
    space = {
        "recurrent": [
            {"section": "model", "key": "hidden_sise", "int": [8, 64]},
            {"section": "model", "key": "readout", "choices": ["mean", "first"]},
            {"section": "bdt", "key": "learning_rate", "float": [0.01, 0.1]},
        ]
    }
    with pytest.raises(ConfigError) as err:
        tagger_params(load_tagger("configs/models/gru.yaml"), TuneSettings.create(space=space))
    text = str(err.value)
    assert (
        "'tune.space.recurrent[0]' (model.hidden_sise) = 8: model config key 'hidden_sise' is not known"
        in text
    )
    assert "did you mean 'hidden_size'?" in text
    assert (
        "'tune.space.recurrent[1]' (model.readout) = 'first': model config key 'readout' must be one of"
        in text
    )
    assert "'tune.space.recurrent[2]' (bdt.learning_rate): section bdt sets the BDT's arguments" in text
    bdt_space = {"bdt": [{"section": "bdt", "key": "random_state", "int": [1, 9]}]}
    with pytest.raises(ConfigError, match=r"\(bdt\.random_state\): not an argument of the BDT that can be"):
        tagger_params(load_tagger("bdt"), TuneSettings.create(space=bdt_space))


def test_a_tagger_without_a_space_or_a_model_file_stops_the_search_but_not_the_main_job(tmp_path):
    config = validate_config({"tune": {"models": ["particlenet", "gur", "bdt"]}})
    text = "\n".join(tune_problems(config))
    assert (
        "config key 'tune.space' has no space for the tagger 'particlenet' of tune.models: add "
        "tune.space.particlenet\n"
    ) in text + "\n"
    assert "config key 'tune.models': no model file configs/models/gur.yaml" in text
    assert "'bdt'" not in text
    # a main job whose model directory holds its own taggers only is not stopped by tune.models
    (tmp_path / "rnn.yaml").write_text((ROOT / "configs/models/rnn.yaml").read_text())
    config = validate_config({"train": {"models": ["rnn", "bdt"], "model_dir": str(tmp_path)}})
    assert any("no model file" in problem for problem in tune_problems(config))


def test_list_choices_are_kept_in_the_study_as_text_and_set_nested_keys():
    param = parse_entries([{"section": "build", "key": "invariants", "choices": [[], ["jet"]]}], "s")[0]
    assert param.encode(["jet"]) == '["jet"]'
    assert param.decode('["jet"]') == ["jet"]
    assert param.contains(["jet"])
    assert not param.contains(["harder"])
    assert set_key({"image": {"size": 37, "flip": True}}, "image.size", 9) == {
        "image": {"size": 9, "flip": True}
    }


def test_every_default_tagger_as_it_is_lies_in_its_default_space():
    """So the baseline trial is the tagger as the main job trains it, none of its values drawn."""
    settings = TuneSettings.create()
    for name in settings.models:
        tagger = load_tagger(name if name == "bdt" else f"configs/models/{name}.yaml")
        params = tagger_params(tagger, settings)
        base = base_sections(tagger, BuildSettings.create(), TrainSettings.create(), settings)
        assert set(baseline_values(params, base)) == {param.name for param in params}, name
