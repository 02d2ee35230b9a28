"""W and Z jet samples generated once per test session, and helpers to read generated files."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import hist
import numpy as np
import pytest
import uproot
import vector

from tests.conftest import generate_processes

#: jets per boson process: enough for a mass peak and a tau21 median, at ~35 jets/s on one core
N_BOSON_JETS = 300


@pytest.fixture(scope="session")
def generated_bosons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ROOT files of hadronic ``Wqq`` and ``Zqq`` jets, generated with the default settings."""
    return generate_processes(tmp_path_factory.mktemp("generated_bosons"), ("Wqq", "Zqq"), N_BOSON_JETS)


@pytest.fixture(scope="session")
def generated_boson_summaries(generated_bosons: dict[str, Path]) -> dict[str, dict]:
    return {p: json.loads(path.with_suffix(".json").read_text()) for p, path in generated_bosons.items()}


def read(path: Path) -> ak.Array:
    return uproot.open(path)["tree"].arrays()


def jet_vectors(a: ak.Array) -> vector.MomentumNumpy4D:
    return vector.array(
        {
            "pt": a.jet_pt.to_numpy(),
            "eta": a.jet_eta.to_numpy(),
            "phi": a.jet_phi.to_numpy(),
            "E": a.jet_energy,
        }
    )


def peak(values: np.ndarray, start: float = 0.0, stop: float = 300.0, bins: int = 30) -> float:
    """Centre of the most populated bin."""
    h = hist.Hist.new.Reg(bins, start, stop, name="m").Double().fill(values)
    return float(h.axes[0].centers[np.argmax(h.values())])
