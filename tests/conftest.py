"""Shared fixtures: small real samples generated once per test session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from jettag.features import build_split, fit_standardisation
from jettag.generate import generate_shard
from jettag.ingest import ingest_file
from jettag.ingest.summary import summarize
from jettag.settings import BuildSettings, GenerateSettings, IngestSettings

SPLITS = ("train", "val", "test")

#: jets per process in the shared sample: enough for mass peaks, small enough for a laptop
N_SAMPLE_JETS = 400


def generate_processes(out: Path, processes: tuple[str, ...], n_jets: int, seed: int = 7) -> dict[str, Path]:
    """One ROOT file (and its JSON summary beside it) of ``n_jets`` jets per process, default settings."""
    paths = {}
    for process in processes:
        settings = GenerateSettings.create(jets_per_shard=n_jets)
        generate_shard(process, seed, settings, out / f"{process}.root", out / f"{process}.json")
        paths[process] = out / f"{process}.root"
    return paths


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ROOT files of top (``Tbqq``) and ``QCD`` jets, generated with the default settings."""
    return generate_processes(tmp_path_factory.mktemp("generated"), ("Tbqq", "QCD"), N_SAMPLE_JETS)


@pytest.fixture(scope="session")
def generated_summaries(generated: dict[str, Path]) -> dict[str, dict]:
    return {process: json.loads(path.with_suffix(".json").read_text()) for process, path in generated.items()}


@pytest.fixture(scope="session")
def ingested(generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """Ingest shards of the shared sample per split, and the dataset summary."""
    out = tmp_path_factory.mktemp("ingested")
    settings = IngestSettings.create(signal=["label_Tbqq"], background=["label_QCD"])
    shards: dict[str, list[Path]] = {split: [] for split in SPLITS}
    summaries = []
    for process, path in generated.items():
        outputs = {split: out / process / f"{split}.arrow" for split in SPLITS}
        ingest_file(path, outputs, settings, out / process / "summary.json")
        summaries.append(out / process / "summary.json")
        for split in SPLITS:
            shards[split].append(outputs[split])
    summarize(summaries, out / "summary.json")
    return shards, out / "summary.json"


@pytest.fixture(scope="session")
def built(ingested: tuple[dict, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared sample built (up to 64 constituents a jet): ``<dir>/standardisation.json`` and
    ``<dir>/<split>/{sequences,images,highlevel}.arrow`` and ``summary.json``, as in the workflow."""
    shards, summary = ingested
    out = tmp_path_factory.mktemp("built")
    settings = BuildSettings.create(max_length=64, chunk_size=150)
    fit_standardisation(shards["train"], settings, out / "standardisation.json")
    for split in SPLITS:
        build_split(split, shards[split], out / "standardisation.json", settings, out / split, summary)
    return out


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The networks in the tests are tiny: one torch thread is faster, and on a shared 2-core machine
    threads that wait for a busy core slow every small op down by orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_runs(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small taggers trained on the shared sample, each into its own directory as the workflow does:
    ``lstm/seed1``, ``lstm/seed2``, ``cnn/seed1`` and ``bdt/seed1``."""
    import warnings

    from jettag.settings import TrainSettings
    from jettag.train import JetDataModule, train_model
    from jettag.train.bdt import train_bdt

    out = tmp_path_factory.mktemp("train")
    summary = json.loads((built / "train" / "summary.json").read_text())
    settings = TrainSettings.create(max_epochs=4, accelerator="cpu", devices=1, lr=1e-2)
    common = {
        "standardisation": built / "standardisation.json",
        "build_info": {**summary["settings"], "features": summary["features"]},
    }
    lstm = {"name": "lstm", "kind": "recurrent", "cell": "lstm", "embed_dim": 16, "hidden_size": 16,
            "num_layers": 1, "dropout": 0.0, "head_sizes": [16], "readout": "mean"}  # fmt: skip
    cnn = {"name": "cnn", "kind": "cnn", "channels": [4, 8], "head_sizes": [16], "dropout": 0.0}
    runs = {}
    with warnings.catch_warnings():
        # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
        for spec, kind, shard, seeds in (
            (lstm, "sequence", "sequences", (1, 2)),
            (cnn, "image", "images", (1,)),
        ):
            for seed in seeds:
                data = JetDataModule.create(
                    kind,
                    *(built / split / f"{shard}.arrow" for split in SPLITS),
                    batch_size=32,
                    seed=seed,
                )
                runs[f"{spec['name']}/seed{seed}"] = run_dir = out / spec["name"] / f"seed{seed}"
                train_model(spec, data, run_dir, settings, seed, **common)
    runs["bdt/seed1"] = out / "bdt" / "seed1"
    train_bdt(
        built / "train" / "highlevel.arrow", built / "val" / "highlevel.arrow", runs["bdt/seed1"], seed=1
    )
    return runs
