"""benchmarks/gpu_throughput.py end to end on the CPU on the tiny build: every combination is measured,
padded and packed batches give the same loss, and the precision path is the one asked for. No timing is
asserted beyond its being a rate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.gpu_throughput import LAYOUTS, PRECISIONS, markdown, run

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def measured(built: Path) -> dict:
    return run(built, models=("gru",), accelerator="cpu", batch_size=32, warmup=1, steps=2, repeats=2)


def test_every_combination_is_a_rate_relative_to_padded_float32(measured: dict):
    rows = {(r["layout"], r["precision"]): r for r in measured["rows"]}
    assert set(rows) == {(layout, precision) for layout in LAYOUTS for precision in PRECISIONS}
    baseline = rows["padded", "32-true"]
    assert baseline["vs_padded_fp32"] == 1.0
    for row in rows.values():
        assert len(row["runs_jets_per_s"]) == 2
        assert all(rate > 0 and math.isfinite(rate) for rate in row["runs_jets_per_s"])
        assert row["vs_padded_fp32"] == pytest.approx(row["jets_per_s"] / baseline["jets_per_s"], rel=1e-2)
    assert measured["skipped"] == {}
    assert measured["settings"]["batch_size"] == 32
    assert measured["settings"]["train_jets"] > 100


def test_padded_and_packed_batches_give_the_same_first_loss(measured: dict):
    for row in measured["rows"]:
        # an untrained tagger on a balanced batch: about ln 2
        assert abs(row["first_batch_loss"] - math.log(2)) < 0.1
        # float32: the same arithmetic on the real constituents; bfloat16 rounds differently per layout
        tolerance = 1e-5 if row["precision"] == "32-true" else 1e-2
        assert row["padded_packed_loss_difference"] < tolerance
    losses = {r["precision"]: r["first_batch_loss"] for r in measured["rows"] if r["layout"] == "padded"}
    # bf16-mixed really ran in another precision
    assert losses["bf16-mixed"] != losses["32-true"]


def test_the_precision_path_and_the_device_are_stated(measured: dict):
    env = measured["environment"]
    assert env["device"] == "cpu"
    assert env["torch"]
    assert env["cudnn"] is None
    paths = {r["precision"]: r["dtypes"] for r in measured["rows"]}
    assert paths["32-true"] == {"embedding": "float32", "recurrent": "float32", "head": "float32"}
    # on the CPU autocast runs the recurrent layers in bfloat16 too (on CUDA they would stay float32)
    assert paths["bf16-mixed"] == {"embedding": "bfloat16", "recurrent": "bfloat16", "head": "bfloat16"}
    assert measured["plans"]["bf16-mixed"]["precision"] == "bf16-mixed"
    table = markdown(measured)
    assert f"torch {env['torch']}" in table
    assert table.count("| gru |") == len(LAYOUTS) * len(PRECISIONS)
    json.dumps(measured)  # what --output writes
