"""Real Lightning training on CPU of tiny taggers on built top-vs-QCD jets: they learn, they reproduce,
they resume, and what they write can be used again."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from jettag.features.sequences import padding_fraction
from jettag.models import build_model
from jettag.settings import TrainSettings
from jettag.train import ARTEFACT_KEYS, EpochBatchSampler, JetDataModule, train_run
from tests.training import fit

TINY_RNN = {
    "kind": "recurrent",
    "embed_dim": 16,
    "hidden_size": 16,
    "num_layers": 1,
    "dropout": 0.0,
    "head_sizes": [16],
    # with pT ordering the last state is the softest constituent: the mean read-out learns faster
    "readout": "mean",
}
TINY_CNN = {"name": "cnn", "kind": "cnn", "channels": [4, 8], "head_sizes": [16], "dropout": 0.0}
pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

CPU = {"accelerator": "cpu", "devices": 1, "log_every_n_steps": 1, "lr": 1e-2}


def rnn(cell: str) -> dict:
    return {"name": cell, "cell": cell, **TINY_RNN}


def sequences(built: Path, **kwargs) -> JetDataModule:
    return JetDataModule.create(
        "sequence",
        built / "train" / "sequences.arrow",
        built / "val" / "sequences.arrow",
        built / "test" / "sequences.arrow",
        **({"batch_size": 32, "seed": 3} | kwargs),
    )


def metrics_rows(output_dir: Path, version: int) -> list[dict[str, str]]:
    with (output_dir / "logs" / f"version_{version}" / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained_lstm(built: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, JetDataModule]:
    out = tmp_path_factory.mktemp("lstm")
    data = sequences(built)
    result = fit(
        rnn("lstm"),
        data,
        out,
        seed=1,
        max_epochs=6,
        standardisation=built / "standardisation.json",
        build_info={"ordering": "pt", "max_length": 64},
        **CPU,
    )
    return out, result, data


def test_lstm_learns_top_from_qcd(trained_lstm):
    _, result, _ = trained_lstm
    assert result["val/auc"] > 0.75
    assert result["epochs_trained"] == 6
    assert not result["resumed"]


def test_gru_learns_top_from_qcd(built, tmp_path):
    result = fit(rnn("gru"), sequences(built), tmp_path, seed=1, max_epochs=6, **CPU)
    assert result["val/auc"] > 0.75


def test_cnn_learns_top_from_qcd(built, tmp_path):
    data = JetDataModule.create(
        "image", built / "train" / "images.arrow", built / "val" / "images.arrow", batch_size=32, seed=3
    )
    result = fit(TINY_CNN, data, tmp_path, seed=1, max_epochs=6, **(CPU | {"lr": 3e-3}))
    assert result["val/auc"] > 0.75
    artefact = json.loads((tmp_path / "artefact.json").read_text())
    assert artefact["image_size"] == data.image_size
    assert "gradient_reach" not in artefact["files"]


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "in_memory"])
def test_same_seed_gives_the_same_metrics(built, tmp_path, streaming):
    runs = [
        fit(rnn("gru"), sequences(built, streaming=streaming), tmp_path / str(i), seed=5, max_epochs=2, **CPU)
        for i in range(2)
    ]
    for key in ("val/loss", "val/accuracy", "val/auc"):
        assert runs[0][key] == pytest.approx(runs[1][key], abs=1e-6), key
    first = torch.load(tmp_path / "0" / "model.pt", weights_only=True)
    second = torch.load(tmp_path / "1" / "model.pt", weights_only=True)
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, rtol=0, atol=1e-6)


def test_a_stopped_run_resumes_from_its_last_checkpoint(built, tmp_path):
    first = fit(rnn("gru"), sequences(built), tmp_path, seed=2, max_epochs=2, schedule="none", **CPU)
    assert (tmp_path / "last.ckpt").exists()
    assert not first["resumed"]
    second = fit(rnn("gru"), sequences(built), tmp_path, seed=2, max_epochs=4, schedule="none", **CPU)
    assert second["resumed"]
    assert second["epochs_trained"] == 4
    # the step count goes on from the first run rather than starting again
    assert second["global_step"] == 2 * first["global_step"]
    epochs_first = {int(row["epoch"]) for row in metrics_rows(tmp_path, 0) if row["epoch"]}
    epochs_second = {int(row["epoch"]) for row in metrics_rows(tmp_path, 1) if row["epoch"]}
    assert epochs_first == {0, 1}
    assert epochs_second == {2, 3}
    # the validation history and the gradient diagnostics of the first run are kept
    reach = json.loads((tmp_path / "gradient_reach.json").read_text())
    assert reach["epochs"] == [0, 1, 2, 3]


def test_buckets_pad_less_and_cover_every_jet_once_per_epoch(built):
    """The in-memory path: the batch sampler over a split read whole."""
    bucketed = sequences(built, bucket=True, streaming=False)
    shuffled = sequences(built, bucket=False, streaming=False)
    bucketed.setup("fit")
    shuffled.setup("fit")
    lengths = bucketed.datasets["train"].lengths
    n_jets = len(lengths)
    for data in (bucketed, shuffled):
        sampler = data.train_batch_sampler()
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            batches = [np.asarray(batch) for batch in sampler]
            assert len(batches) == len(sampler)
            np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n_jets))
            epochs.append(batches)
        # reshuffled each epoch, and the same again for the same seed and epoch
        assert not all(np.array_equal(a, b) for a, b in zip(*epochs, strict=False))
        sampler.set_epoch(1)
        assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(epochs[1], sampler, strict=True))
    # seed and epoch do not add up: seed 1 in epoch 1 shuffles otherwise than seed 2 in epoch 0
    one, two = EpochBatchSampler(n_jets, 16, seed=1), EpochBatchSampler(n_jets, 16, seed=2)
    one.set_epoch(1)
    assert not np.array_equal(np.concatenate(list(one)), np.concatenate(list(two)))
    waste = {
        name: padding_fraction(lengths, list(data.train_batch_sampler()))
        for name, data in (("bucketed", bucketed), ("shuffled", shuffled))
    }
    assert waste["bucketed"] < 0.5 * waste["shuffled"]
    # batches are padded to their own longest jet
    batch = next(iter(bucketed.train_dataloader()))
    assert batch["x"].dtype == torch.float32
    assert batch["x"].shape[1] == int(batch["lengths"].max())
    assert batch["x"].shape[2] == bucketed.n_features == 7
    assert batch["lengths"].dtype == torch.int64


def test_artefact_describes_the_model_and_model_pt_rebuilds_it(trained_lstm, built):
    out, result, data = trained_lstm
    artefact = json.loads((out / "artefact.json").read_text())
    assert set(artefact) == set(ARTEFACT_KEYS)
    assert artefact["features"] == artefact["standardisation"]["names"] == data.feature_names
    assert artefact["build"] == {"ordering": "pt", "max_length": 64}
    assert artefact["label_names"] == ["background", "signal"]
    assert artefact["best"]["val/auc"] == result["val/auc"]
    assert (out / "best.ckpt").exists()
    assert (out / "last.ckpt").exists()
    reach = json.loads((out / "gradient_reach.json").read_text())
    assert len(reach["input_gradient_norms"]) == 6

    state = torch.load(out / "model.pt", weights_only=True)
    network = build_model(artefact["model"], artefact["n_features"], artefact["n_classes"])
    network.load_state_dict(state)
    network.eval()
    assert sum(p.numel() for p in network.parameters()) == artefact["n_parameters"]
    # the same logits as the best checkpoint's network
    checkpoint = torch.load(out / "best.ckpt", weights_only=False)
    reference = build_model(artefact["model"], artefact["n_features"], artefact["n_classes"])
    reference.load_state_dict(
        {
            k.removeprefix("network."): v
            for k, v in checkpoint["state_dict"].items()
            if k.startswith("network.")
        }
    )
    reference.eval()
    batch = next(iter(data.val_dataloader()))
    with torch.no_grad():
        torch.testing.assert_close(
            network(batch["x"], batch["lengths"]), reference(batch["x"], batch["lengths"]), rtol=0, atol=0
        )


def test_a_killed_training_resumes_where_it_stopped(built, tmp_path):
    """`jettag train` killed mid-run (as a batch job past its time limit) continues from last.ckpt."""
    model = tmp_path / "tiny_lstm.yaml"
    model.write_text(json.dumps({"name": "tiny_lstm", "cell": "lstm", **TINY_RNN}))  # JSON is YAML
    out = tmp_path / "run"
    command = [
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
        "1",
        "--settings",
    ]

    def settings(max_epochs: int) -> str:
        # no schedule, so that the run may be resumed to stop earlier than it was started for (a
        # schedule's course depends on max_epochs: a run of another max_epochs starts over)
        train = {"batch_size": 16, "patience": 1000, "max_epochs": max_epochs, "schedule": "none"}
        return json.dumps({"train": train})

    last = out / "last.ckpt"
    process = subprocess.Popen([*command, settings(1000)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not last.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        first_save = last.stat().st_mtime_ns
        while last.stat().st_mtime_ns == first_save and time.monotonic() < deadline:
            time.sleep(0.005)
        process.kill()  # right after a checkpoint was written, so the kill lands mid-epoch
    finally:
        process.kill()
        process.wait()
    assert not (out / "artefact.json").exists()
    done = torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1  # our own file
    assert 2 <= done < 1000
    result = subprocess.run([*command, settings(done + 2)], capture_output=True, text=True, check=True)
    assert "'resumed': True" in result.stderr
    assert f"'epochs_trained': {done + 2}" in result.stderr
    artefact = json.loads((out / "artefact.json").read_text())
    assert artefact["epochs_trained"] == done + 2


def test_multiclass_validation_auc_is_undefined_not_an_error_while_a_class_is_missing():
    """The sanity check's first batches of a small multi-class sample can lack a class: the AUC is NaN then,
    and defined again once every class is there."""
    from jettag.metrics import validation_auc

    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    assert np.isnan(validation_auc(np.array([0, 1, 0, 1]), probabilities))
    probabilities = np.vstack([probabilities, [0.1, 0.1, 0.8]])
    assert validation_auc(np.array([0, 1, 0, 1, 2]), probabilities) == pytest.approx(1.0)
    assert np.isnan(validation_auc(np.array([1, 1]), np.array([0.3, 0.9])))


def test_a_model_file_trains_with_its_own_train_keys(built, tmp_path):
    """`train` keys in a model file take the place of the configuration's for that tagger alone."""
    model = tmp_path / "gru.yaml"
    model.write_text(json.dumps(rnn("gru") | {"train": {"lr": 0.02, "batch_size": 48}}))
    settings = TrainSettings.create(accelerator="cpu", max_epochs=1, lr=1e-3, batch_size=32, threads=1)
    result = train_run(model, built, tmp_path / "out", 1, settings)
    artefact = json.loads((tmp_path / "out" / "artefact.json").read_text())
    assert (artefact["settings"]["lr"], artefact["settings"]["batch_size"]) == (0.02, 48)
    assert artefact["settings"]["max_epochs"] == 1
    n_train = json.loads((built / "train" / "summary.json").read_text())["jets_out"]
    assert result["epochs_trained"] == 1
    # the batches the model file asked for: ceil(n_train / 48) optimizer steps in the epoch
    assert artefact["global_step"] == -(-n_train // 48)
