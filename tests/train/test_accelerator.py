"""What a training runs with on each device (jettag.train.accelerator_plan), and a real bf16-mixed fit on
the CPU: the code path a GPU training takes by default."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from jettag.settings import TrainSettings
from jettag.train import JetDataModule, accelerator_plan, default_precision
from tests.training import fit

TINY_GRU = {
    "name": "tiny_gru",
    "kind": "recurrent",
    "cell": "gru",
    "embed_dim": 16,
    "hidden_size": 16,
    "num_layers": 2,
    "dropout": 0.0,
    "head_sizes": [16],
    "readout": "mean",
}

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


def test_the_cpu_trains_in_float32_deterministically_without_cudnn():
    plan = accelerator_plan("cpu")
    assert (plan.device, plan.precision, plan.deterministic) == ("cpu", "32-true", True)
    assert (plan.cudnn, plan.cudnn_benchmark) == (False, False)
    # "auto" on a machine without a GPU, and a GPU asked for where there is none to use
    assert accelerator_plan("auto", cuda=False).precision == "32-true"
    assert accelerator_plan("gpu", cuda=False).deterministic is False
    if not torch.cuda.is_available():
        assert default_precision() == "32-true"


@pytest.mark.parametrize("accelerator", ["auto", "gpu", "cuda"])
def test_a_gpu_with_bfloat16_trains_bf16_mixed_with_cudnn(accelerator: str):
    plan = accelerator_plan(accelerator, cuda=True, bf16=True)
    assert (plan.device, plan.precision, plan.deterministic, plan.cudnn) == (
        "cuda",
        "bf16-mixed",
        False,
        True,
    )
    # sequence batches change shape from batch to batch: nothing for cuDNN's autotuner to keep
    assert plan.cudnn_benchmark is False
    assert accelerator_plan(accelerator, None, "image", cuda=True, bf16=True).cudnn_benchmark is True


def test_what_is_set_is_kept_and_older_gpus_stay_in_float32():
    assert accelerator_plan("gpu", cuda=True, bf16=False).precision == "32-true"
    assert accelerator_plan("gpu", "32-true", cuda=True, bf16=True).precision == "32-true"
    assert accelerator_plan("cpu", "bf16-mixed").precision == "bf16-mixed"
    asked = accelerator_plan("gpu", None, "image", deterministic=True, cuda=True, bf16=True)
    # torch ignores cuDNN's deterministic flag where benchmark is on
    assert (asked.deterministic, asked.cudnn_benchmark) == (True, False)


def test_an_unknown_data_kind_is_refused():
    with pytest.raises(ValueError, match="unknown data kind 'graph'; known: sequence, image"):
        accelerator_plan("cpu", None, "graph")


def test_the_backend_flags_hold_inside_the_fit_only():
    cudnn = torch.backends.cudnn
    before = cudnn.enabled, cudnn.benchmark
    gpu = accelerator_plan("gpu", None, "image", cuda=True, bf16=True)
    with gpu.backend():
        assert (cudnn.enabled, cudnn.benchmark) == (True, True)
    assert (cudnn.enabled, cudnn.benchmark) == before
    with accelerator_plan("cpu").backend():
        assert (cudnn.enabled, cudnn.benchmark) == before


def test_a_bf16_mixed_fit_on_the_cpu_trains_a_recurrent_tagger(built: Path, tmp_path: Path):
    """The GPU's default precision on the CPU: Lightning's autocast around every step (the recurrent
    layers' dtype under it: tests/models/test_recurrent.py); the loss stays finite and falls, and the
    artefact says what ran."""
    # the data module `jettag train` makes
    data = JetDataModule.from_settings("sequence", built, TrainSettings.create(batch_size=32), seed=1)
    result = fit(
        TINY_GRU, data, tmp_path, seed=1, max_epochs=3, lr=1e-2, accelerator="cpu", precision="bf16-mixed"
    )
    artefact = json.loads((tmp_path / "artefact.json").read_text())
    assert artefact["training"]["precision"] == "bf16-mixed"
    assert math.isfinite(result["val/loss"])
    # below the ln 2 of a tagger that has learnt nothing on a balanced sample, and far from chance
    assert result["val/loss"] < math.log(2)
    assert result["val/auc"] > 0.75
