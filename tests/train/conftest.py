"""Training tests: built smoke-size shards (ingested and built once per module), torch on one thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from jettag.build import BuildSettings, build_split, fit_standardisation
from jettag.ingest import IngestSettings, ingest_file

SPLITS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The models here are tiny: one thread is faster, and on a shared 2-core machine OpenMP threads that
    wait for a busy core slow every small op down by orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def built(generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Top vs QCD jets of the shared sample, ingested and built: ``<dir>/<split>/sequences.arrow`` and
    ``images.arrow``, and ``<dir>/standardisation.json``."""
    ingested = tmp_path_factory.mktemp("train_ingested")
    settings = IngestSettings(signal=["label_Tbqq"], background=["label_QCD"])
    shards: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for process, path in generated.items():
        outputs = {split: ingested / process / f"{split}.arrow" for split in SPLITS}
        ingest_file(path, outputs, settings, ingested / process / "summary.json")
        for split in SPLITS:
            shards[split].append(outputs[split])
    out = tmp_path_factory.mktemp("train_built")
    build = BuildSettings(max_length=64, chunk_size=400)
    fit_standardisation(shards["train"], build, out / "standardisation.json")
    for split in SPLITS:
        build_split(split, shards[split], out / "standardisation.json", build, out / split)
    return out
