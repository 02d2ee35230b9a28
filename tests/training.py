"""Training from tests: :func:`jettag.train.train_model` with the ``train`` settings given as keywords."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jettag.settings import TrainSettings
from jettag.train import JetDataModule, train_model


def fit(
    model_config: dict[str, Any], data: JetDataModule, output_dir: str | Path, seed: int, **kwargs: Any
) -> dict[str, Any]:
    """``train_model`` with those ``kwargs`` that are ``train`` settings (``max_epochs``, ``lr``, ...)
    gathered into a :class:`TrainSettings` (the schema's defaults for the rest), the others passed on."""
    names = {field.name for field in dataclasses.fields(TrainSettings)}
    settings = TrainSettings.create(**{key: value for key, value in kwargs.items() if key in names})
    others = {key: value for key, value in kwargs.items() if key not in names}
    return train_model(model_config, data, output_dir, settings, seed, **others)
