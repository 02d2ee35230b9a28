"""Shared fixtures: small real samples generated once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jettag.generate import GenerationSettings, generate_shard

#: jets per process in the shared sample: enough for mass peaks, small enough for a laptop
N_SAMPLE_JETS = 400


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ROOT files of top (``Tbqq``) and ``QCD`` jets, generated with the default settings."""
    out = tmp_path_factory.mktemp("generated")
    paths = {}
    for process in ("Tbqq", "QCD"):
        settings = GenerationSettings(process=process, seed=7, n_jets=N_SAMPLE_JETS)
        generate_shard(settings, out / f"{process}.root", out / f"{process}.json")
        paths[process] = out / f"{process}.root"
    return paths


@pytest.fixture(scope="session")
def generated_summaries(generated: dict[str, Path]) -> dict[str, dict]:
    return {process: json.loads(path.with_suffix(".json").read_text()) for process, path in generated.items()}
