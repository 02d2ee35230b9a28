"""What the workflow's `predict` rules need from the configuration (``workflow/rules/predict.smk``).

Kept here rather than in the rule file, so that the rule file holds rules only and these are tested as
plain Python.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from jettag.predict.writers import FORMATS

__all__ = ["predict_models", "predict_sources", "predicted_files"]


def predict_models(config: dict[str, Any]) -> list[tuple[str, int]]:
    """``(model, seed)`` of each entry of ``predict.models``; ``"<model>"`` alone is the first seed of
    ``train.seeds``, ``"<model>/seed<N>"`` seed N. Entries that name the same training count once."""
    pairs: list[tuple[str, int]] = []
    for item in config["predict"]["models"]:
        name, _, seed = item.partition("/seed")
        pair = (name, int(seed) if seed else config["train"]["seeds"][0])
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def predict_sources(config: dict[str, Any]) -> dict[str, str]:
    """``{name: file}`` of the files to score: the ``predict.inputs`` globs expanded, each file named by its
    file name without suffix (which names its outputs, so it must be unique)."""
    sources: dict[str, str] = {}
    for pattern in config["predict"]["inputs"]:
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))  # noqa: PTH207 (absolute patterns)
        if not matches:
            raise ValueError(f"config key 'predict.inputs': '{pattern}' matches no file")
        for path in matches:
            name = Path(path).stem
            if sources.get(name, path) != path:
                raise ValueError(
                    f"config key 'predict.inputs': {sources[name]} and {path} share the name '{name}'; "
                    "rename one"
                )
            sources[name] = path
    return sources


def predicted_files(config: dict[str, Any], results: str) -> list[str]:
    """Every output the ``predict`` target asks for: one per tagger and input file."""
    suffix = FORMATS[config["predict"]["format"]]
    return [
        f"{results}/predict/{model}/seed{seed}/{name}{suffix}"
        for model, seed in predict_models(config)
        for name in predict_sources(config)
    ]
