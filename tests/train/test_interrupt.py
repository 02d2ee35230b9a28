"""Interrupted trainings, with real processes: `jettag train` killed with SIGKILL mid-epoch and run again
ends where the uninterrupted run of the same seed ends; a last.ckpt that cannot be resumed (truncated,
garbage, written for another model) is set aside with its run and the training starts over."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from jettag.train import JetDataModule
from tests.training import fit

#: a GRU small enough for a few seconds an epoch on one thread, with dropout: it draws random numbers
#: every step, so a resumed run only matches if the random state of every epoch is restored
TINY_GRU = {
    "name": "tiny_gru",
    "kind": "recurrent",
    "cell": "gru",
    "embed_dim": 8,
    "hidden_size": 16,
    "num_layers": 2,
    "dropout": 0.2,
    "head_sizes": [16],
    "readout": "mean",
}
EPOCHS = 4
SEED = 4

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


def train_command(model: Path, built: Path, out: Path, **extra: Any) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jettag",
        "train",
        "--model",
        str(model),
        "--build-dir",
        str(built),
        "--output-dir",
        str(out),
        "--seed",
        str(SEED),
        "--settings",
        json.dumps(
            {"train": {"batch_size": 16, "lr": 3e-3, "max_epochs": EPOCHS, "accelerator": "cpu", **extra}}
        ),
    ]


def epochs_done(last: Path) -> int:
    """Epochs the checkpoint holds (our own file: it holds loop state, not only tensors)."""
    return torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1


def history(run: Path) -> list[dict[str, float]]:
    return torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)["jettag"]["history"]


def callback_states(run: Path) -> dict[str, Any]:
    """The callbacks' states in last.ckpt (early stopping, best checkpoint), paths relative to ``run``."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {plain(key): plain(item) for key, item in value.items()}
        if isinstance(value, torch.Tensor):
            return value.tolist()
        return value.replace(str(run), "<run>") if isinstance(value, str) else value

    checkpoint = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    return plain(checkpoint["callbacks"])


def assert_same_run(run: Path, reference: Path) -> None:
    """Same artefact numbers, the same validation metrics every epoch, the same callback states, the same
    weights, bit for bit."""
    ours, theirs = (json.loads((d / "artefact.json").read_text()) for d in (run, reference))
    for key in ("best", "best_epoch", "epochs_trained", "global_step"):
        assert ours[key] == theirs[key], key
    assert history(run) == history(reference)
    assert callback_states(run) == callback_states(reference)
    weights = torch.load(run / "model.pt", weights_only=True)
    for name, tensor in torch.load(reference / "model.pt", weights_only=True).items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=0)


def sequences(built: Path, seed: int = SEED, streaming: bool = True) -> JetDataModule:
    """The data module `jettag train` makes with the options of :func:`train_command`."""
    return JetDataModule.create(
        "sequence",
        *(built / split / "sequences.arrow" for split in ("train", "val", "test")),
        batch_size=16,
        seed=seed,
        streaming=streaming,
    )


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny_gru.yaml"
    path.write_text(json.dumps(TINY_GRU))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def reference(built, tmp_path_factory) -> Callable[[bool], Path]:
    """The uninterrupted run of each data path (streamed or in memory), trained from Python with the
    options `jettag train` is given in :func:`train_command`: the two agree bit for bit, which the tests
    below show by comparing command runs with these."""
    runs: dict[bool, Path] = {}

    def run(streaming: bool) -> Path:
        if streaming not in runs:
            runs[streaming] = out = tmp_path_factory.mktemp("reference")
            data = sequences(built, streaming=streaming)
            fit(TINY_GRU, data, out, seed=SEED, max_epochs=EPOCHS, accelerator="cpu", lr=3e-3)
        return runs[streaming]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "in_memory"])
def test_a_training_killed_mid_epoch_ends_as_the_uninterrupted_one(
    built, model_file, reference, tmp_path, streaming
):
    out = tmp_path / "killed"
    last = out / "last.ckpt"
    with (tmp_path / "killed.log").open("w") as log:
        process = subprocess.Popen(train_command(model_file, built, out, streaming=streaming), stderr=log)
        try:
            deadline = time.monotonic() + 240
            while not last.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            first = time.monotonic()
            while epochs_done(last) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            # halfway through the next epoch, an epoch being as long as the last one was
            time.sleep((time.monotonic() - first) / 2)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 2 <= epochs_done(last) < EPOCHS
    assert not (out / "artefact.json").exists()

    result = subprocess.run(
        train_command(model_file, built, out, streaming=streaming), check=True, capture_output=True, text=True
    )
    assert "'resumed': True" in result.stderr
    assert_same_run(out, reference(streaming))


@pytest.fixture(scope="module")
def other_run(built, tmp_path_factory) -> Path:
    """One epoch of a smaller GRU of another seed: a run whose files a new one must not take for its own."""
    out = tmp_path_factory.mktemp("other")
    smaller = TINY_GRU | {"hidden_size": 8}
    fit(smaller, sequences(built, seed=9), out, seed=9, max_epochs=1, accelerator="cpu", lr=3e-3)
    return out


def spoil(last: Path, how: str, reference: Path) -> bytes:
    """Make ``last`` a checkpoint that cannot be resumed into TINY_GRU; return what it then holds."""
    if how == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif how == "garbage":
        last.write_bytes(np.random.default_rng(0).bytes(20000))
    elif how == "reconfigured":
        # a whole checkpoint of TINY_GRU's shapes, but of another activation
        checkpoint = torch.load(reference / "last.ckpt", map_location="cpu", weights_only=True)
        checkpoint["hyper_parameters"]["model_config"]["activation"] = "gelu"
        torch.save(checkpoint, last)
    # "smaller": as it is, a checkpoint of a GRU of hidden size 8
    return last.read_bytes()


REASONS = {
    "truncated": "it is not a whole checkpoint (no zip directory at its end",
    "garbage": "it is not a whole checkpoint (no zip directory at its end",
    "smaller": "its network is another size: network.layers.0.weight_ih_l0 is [24, 8] there, [48, 8] here",
    "reconfigured": "it was written for another model configuration (activation 'gelu' there, 'relu' here)",
}


def test_a_run_of_other_training_settings_is_never_continued(built, reference, tmp_path, caplog):
    # the finished reference run: the same network, seed and inputs; a job rerun because train.lr changed
    # must start over, not continue (here: simply keep, finished) the run it replaces
    out = tmp_path / "run"
    shutil.copytree(reference(True), out)
    recorded = json.loads((out / "run.json").read_text())
    with caplog.at_level(logging.WARNING, logger="jettag.train.fit"):
        result = fit(
            TINY_GRU, sequences(built), out, seed=SEED, max_epochs=EPOCHS, accelerator="cpu", lr=1e-3
        )
    assert not result["resumed"]
    assert result["epochs_trained"] == EPOCHS
    lr = recorded["train"]["lr"]
    assert f"it was written by another run (train.lr {lr!r} there, 0.001 here)" in caplog.text
    assert (out / "abandoned-1" / "run.json").read_text() == json.dumps(recorded, indent=2) + "\n"
    assert json.loads((out / "run.json").read_text())["train"]["lr"] == 1e-3


@pytest.mark.parametrize("how", ["truncated", "garbage", "smaller", "reconfigured"])
def test_a_last_checkpoint_that_cannot_be_resumed_is_set_aside_and_the_run_starts_over(
    built, model_file, reference, other_run, tmp_path, how, caplog
):
    out = tmp_path / "run"
    shutil.copytree(other_run, out)
    spoilt = spoil(out / "last.ckpt", how, reference(True))
    if how == "garbage":
        # the command a user runs: a warning, no traceback, and a training
        result = subprocess.run(
            train_command(model_file, built, out, streaming=True), capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        assert "'resumed': False" in result.stderr
        messages = result.stderr
    else:
        with caplog.at_level(logging.WARNING, logger="jettag.train.fit"):
            result = fit(
                TINY_GRU, sequences(built), out, seed=SEED, max_epochs=EPOCHS, accelerator="cpu", lr=3e-3
            )
        assert not result["resumed"]
        messages = caplog.text
    aside = out / "abandoned-1"
    assert f"cannot resume from {out / 'last.ckpt'}: {REASONS[how]}" in messages
    assert f"moved it and the rest of its run to {aside}/, starting over from epoch 0" in messages
    # set aside whole, never deleted: the bad file as it was, and the rest of the run it belonged to
    assert (aside / "last.ckpt").read_bytes() == spoilt
    assert REASONS[how] in (aside / "reason.txt").read_text()
    for name in ("best.ckpt", "model.pt", "artefact.json", "logs"):
        assert (aside / name).exists(), name
    # what is left is the new run's alone: one log version, whose epochs are those of a fresh run
    assert [path.name for path in (out / "logs").iterdir()] == ["version_0"]
    assert_same_run(out, reference(True))
