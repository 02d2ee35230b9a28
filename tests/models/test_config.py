"""Model configurations: every shipped file builds, and mistakes are refused with the key and the file."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from jettag.config import ConfigError
from jettag.jetclass import STANDARD_FEATURES
from jettag.models import (
    ImageCNN,
    ParticleCloudTagger,
    ParticleFlowNetwork,
    RecurrentTagger,
    build_model,
    load_model_config,
    n_parameters,
    validate_model_config,
)
from jettag.settings import TrainSettings
from jettag.standardisation import Standardisation
from jettag.train.bdt import is_bdt_config, load_bdt_config

#: the class each kind of sequence tagger builds
SEQUENCE_CLASSES = {
    "recurrent": RecurrentTagger,
    "pfn": ParticleFlowNetwork,
    "particlenet": ParticleCloudTagger,
}
STANDARDISATION = Standardisation(list(STANDARD_FEATURES), np.zeros(7), np.full(7, 0.2))

MODEL_DIR = Path(__file__).resolve().parents[2] / "configs" / "models"
#: the networks' model files (the BDT's, kind bdt, holds classifier arguments: tests/train/test_bdt.py)
MODEL_FILES = sorted(path for path in MODEL_DIR.glob("*.yaml") if not is_bdt_config(path))


def test_the_shipped_model_files_are_there() -> None:
    assert {path.stem for path in MODEL_FILES} >= {"lstm", "gru", "rnn", "cnn", "pfn", "particlenet"}
    assert load_bdt_config(MODEL_DIR / "bdt.yaml")["learning_rate"] > 0


def test_a_model_file_sets_its_own_train_keys_over_the_configuration() -> None:
    spec = validate_model_config(
        {"name": "g", "kind": "recurrent", "train": {"lr": "2e-3", "batch_size": 64}}, source="g.yaml"
    )
    configured = TrainSettings.create(lr=1e-2, batch_size=256, weight_decay=0.05)
    own = configured.for_model(spec)
    assert (own.lr, own.batch_size, own.weight_decay) == (2e-3, 64, 0.05)
    assert configured.for_model(validate_model_config({"name": "c", "kind": "cnn"})) is configured


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"max_epochs": 3}, "'train.max_epochs' cannot be set per model"),
        ({"lr": -1.0}, "'train.lr': -1.0 is less than or equal to the minimum of 0"),
        ({"schedule": "linear"}, "'train.schedule': 'linear' is not one of"),
        (0.001, "'train' must be a mapping of train keys, got 0.001"),
    ],
    ids=["not-per-model", "negative-lr", "schedule", "not-a-mapping"],
)
def test_bad_train_keys_of_a_model_file_are_refused_naming_the_key(train, message) -> None:
    with pytest.raises(ConfigError, match=r"g\.yaml: invalid model configuration") as err:
        validate_model_config({"name": "g", "kind": "recurrent", "train": train}, source="g.yaml")
    assert message in str(err.value)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_every_model_file_builds_and_runs(path: Path) -> None:
    spec = load_model_config(path)
    assert spec["name"] == path.stem
    torch.manual_seed(0)
    if spec["kind"] == "cnn":
        for size in (33, 37, 40):
            model = build_model(spec, n_features=7, n_classes=1, image_size=size)
            assert isinstance(model, ImageCNN)
            assert model.eval()(torch.rand(2, size, size)).shape == (2, 1)
    else:
        model = build_model(
            spec, n_features=7, n_classes=3, feature_names=STANDARD_FEATURES, standardisation=STANDARDISATION
        )
        assert isinstance(model, SEQUENCE_CLASSES[spec["kind"]])
        if spec["kind"] == "recurrent":
            assert model.cell == spec["cell"]
            assert len(model.layers) == spec["num_layers"]
        lengths = torch.tensor([5, 2])
        assert model.eval()(torch.randn(2, 5, 7), lengths).shape == (2, 3)
    # small enough for a laptop CPU
    assert 1_000 < n_parameters(model) < 200_000


def test_rnn_file_switches_to_an_irnn(tmp_path: Path) -> None:
    spec = yaml.safe_load((MODEL_DIR / "rnn.yaml").read_text())
    assert spec["identity_init"] is False
    assert spec["nonlinearity"] == "tanh"
    path = tmp_path / "irnn.yaml"
    path.write_text(yaml.safe_dump(spec | {"name": "irnn", "nonlinearity": "relu", "identity_init": True}))
    model = build_model(load_model_config(path), n_features=7, n_classes=1)
    assert model.layers[0].nonlinearity == "relu"
    torch.testing.assert_close(model.layers[0].weight_hh_l0.detach(), torch.eye(model.hidden_size))


def test_unknown_key_is_refused_with_the_key_the_file_and_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\nkind: recurrent\ncell: gru\nhiden_size: 32\n")
    with pytest.raises(ConfigError, match="hiden_size") as error:
        load_model_config(path)
    assert str(path) in str(error.value)
    assert "did you mean 'hidden_size'" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_keys_of_the_other_kind_are_unknown() -> None:
    with pytest.raises(ConfigError, match="'channels' is not known for kind 'recurrent'"):
        validate_model_config({"name": "x", "kind": "recurrent", "channels": [8]})


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"hidden_size": True}, "hidden_size"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"readout": "max"}, "readout"),
        ({"head_sizes": 64}, "head_sizes"),
        ({"cell": "lstm", "identity_init": True}, "identity_init"),
        ({"cell": "gru", "nonlinearity": "relu"}, "nonlinearity"),
        ({"kind": "transformer"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_values_are_refused_naming_the_key(changes: dict, key: str) -> None:
    spec = {"name": "x", "kind": "recurrent", "cell": "rnn"} | changes
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_model_config(spec, source="models/x.yaml")


def test_defaults_are_those_of_the_constructors() -> None:
    spec = validate_model_config({"name": "bare", "kind": "recurrent"})
    parameters = inspect.signature(RecurrentTagger).parameters
    for key, value in spec.items():
        if key not in ("name", "kind"):
            default = parameters[key].default
            assert value == (list(default) if isinstance(default, tuple) else default), key
    # validating twice changes nothing, so build_model accepts what load_model_config returns
    assert validate_model_config(spec) == spec


def test_cnn_needs_the_image_size() -> None:
    with pytest.raises(ValueError, match="image_size"):
        build_model({"name": "cnn", "kind": "cnn"}, n_features=7, n_classes=1)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        load_model_config(tmp_path / "nowhere.yaml")


def test_n_parameters_counts_weights_and_biases() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    assert n_parameters(model) == (3 * 2 + 2) + (2 + 1)
    model[0].requires_grad_(False)
    assert n_parameters(model, trainable_only=True) == 3
    assert n_parameters(model) == 11
