"""DDP on CPU: `jettag train --strategy ddp --devices 2` (two processes over gloo) trains the LSTM tagger like
one process does, each rank on its own half of the training jets, validating on the whole split, and only
rank 0 writes."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from jettag.models import build_model, load_model_config
from jettag.train import JetDataModule, ShardStream
from jettag.train.arrays import scan_split
from tests.training import fit

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

LSTM = Path(__file__).parents[2] / "configs" / "models" / "lstm.yaml"
EPOCHS, BATCH, SEED, LR = 6, 32, 1, 1e-3


def files_in(directory: Path) -> list[str]:
    """The files under ``directory``, sorted; a TensorBoard event file (written where tensorboard is
    installed, as weaver-core of the reference extra installs it) by its directory only, since its name
    holds the time and the process id."""
    names = []
    for path in directory.rglob("*"):
        if path.is_file():
            name = str(path.relative_to(directory))
            names.append(f"{path.parent.relative_to(directory)}/<events>" if ".tfevents." in name else name)
    return sorted(names)


def whole_split_metrics(run: Path, built: Path) -> tuple[float, float]:
    """Validation loss and AUC of the run's model.pt over every jet of the validation split."""
    artefact = json.loads((run / "artefact.json").read_text())
    network = build_model(artefact["model"], artefact["n_features"], artefact["n_classes"])
    network.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    network.eval()
    data = JetDataModule.create(
        "sequence", built / "train" / "sequences.arrow", built / "val" / "sequences.arrow"
    )
    logits, labels = [], []
    with torch.no_grad():
        for batch in data.val_dataloader():
            logits.append(network(batch["x"], batch["lengths"])[:, 0])
            labels.append(batch["label"])
    logit, label = torch.cat(logits), torch.cat(labels)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, label).item()
    return loss, float(roc_auc_score(label.numpy(), torch.sigmoid(logit).numpy()))


@pytest.fixture(scope="module")
def one_process(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same training in one process (what `jettag train` does with one device)."""
    out = tmp_path_factory.mktemp("one_process")
    summary = json.loads((built / "train" / "summary.json").read_text())
    data = JetDataModule.create(
        "sequence",
        built / "train" / "sequences.arrow",
        built / "val" / "sequences.arrow",
        built / "test" / "sequences.arrow",
        batch_size=BATCH,
        seed=SEED,
    )
    fit(
        load_model_config(LSTM),
        data,
        out,
        seed=SEED,
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        lr=LR,
        patience=100,
        standardisation=built / "standardisation.json",
        build_info={**summary["settings"], "features": summary["features"]},
    )
    return out


def test_ddp_on_two_cpu_processes_trains_like_one(built, tmp_path, one_process):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "jettag", "train", "--model", str(LSTM), "--build-dir", str(built)]
    command += ["--output-dir", str(out), "--seed", str(SEED), "--settings"]
    settings = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "max_epochs": EPOCHS,
                "batch_size": BATCH, "lr": LR, "patience": 100}  # fmt: skip
    command += [json.dumps({"train": settings})]
    # outside a Slurm job whatever the test runs in: Lightning would take the ranks from Slurm otherwise
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]

    # both ranks finished with the same metrics: those of the whole validation split, gathered
    reports = [
        ast.literal_eval(line.replace("nan", "None"))
        for line in re.findall(r"lstm seed 1: (\{.*\})", run.stderr)
    ]
    assert len(reports) == 2
    for key in ("val/loss", "val/auc", "best_epoch", "global_step"):
        assert reports[0][key] == reports[1][key], key
    ddp = json.loads((out / "artefact.json").read_text())
    single = json.loads((one_process / "artefact.json").read_text())
    loss, auc = whole_split_metrics(out, built)
    assert ddp["best"]["val/loss"] == pytest.approx(loss, abs=1e-5)
    assert ddp["best"]["val/auc"] == pytest.approx(auc, abs=1e-6)

    # the same kind of result as one process
    assert ddp["best"]["val/auc"] > 0.85
    assert single["best"]["val/auc"] > 0.85
    assert abs(ddp["best"]["val/auc"] - single["best"]["val/auc"]) < 0.05
    assert ddp["training"]["world_size"] == 2
    assert single["training"]["world_size"] == 1

    # each rank stepped through its own half of the training jets, in step with the other
    layout = scan_split([built / "train" / "sequences.arrow"], "sequence")
    steps = {
        len(ShardStream(layout, BATCH, shuffle=True, shuffle_buffer=100, seed=SEED, rank=rank, world_size=2))
        for rank in (0, 1)
    }
    assert len(steps) == 1
    assert ddp["global_step"] == EPOCHS * steps.pop()
    assert single["global_step"] == EPOCHS * math.ceil(layout.n_jets / BATCH)
    assert ddp["global_step"] < 0.6 * single["global_step"]

    # only rank 0 wrote: one log version, the same files as one process
    assert files_in(out) == files_in(one_process)
    assert "logs/version_0/metrics.csv" in files_in(out)
    epochs = [
        len(np.asarray(norms))
        for norms in json.loads((out / "gradient_reach.json").read_text())["input_gradient_norms"]
    ]
    assert len(epochs) == EPOCHS
