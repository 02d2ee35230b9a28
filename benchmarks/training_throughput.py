"""Training throughput of the LSTM and GRU taggers: padded, packed and length-bucketed batches, and the
fraction of a training step spent waiting for data.

Side by side in one run, on the same built shards, with the same `RecurrentTagger` (configs/models):
- pad-to-max: shuffled batches padded to the longest jet of the split, run over the padding;
- packed: shuffled batches given as `PackedSequence`s;
- pack+bkt: the same on length-bucketed batches;
- pad+bkt: length-bucketed batches padded to their own longest jet (jettag's default: unidirectional
  taggers run over the padding, which gives the same outputs as packing, and mask it in the read-out).
Each mode runs forward, backward and an AdamW step over `--steps` batches; jets/s is the median of three.

Then a real Lightning fit of each model (`--epochs` epochs, SimpleProfiler) with the data module's two
paths, side by side: the training split streamed from its shards (`streaming=True`, what `jettag train`
uses) and read whole into memory (`streaming=False`). For each: jets/s over the training batches, data
wait included, and the data-wait fraction (time in the data loader's `next()` over that plus the time in
training batches).

    python benchmarks/training_throughput.py --build-dir results/smoke/build --steps 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.profilers import SimpleProfiler
from torch import nn

from jettag.features.sequences import length_buckets, pack
from jettag.models import build_model, load_model_config
from jettag.settings import TrainSettings
from jettag.train import JetDataModule, TaggerModule
from jettag.train.data import load_sequences


def batches(data, order: list[np.ndarray], pad_to: int | None):
    for index in order:
        values = [data[i][0] for i in index]
        lengths = torch.tensor([len(v) for v in values])
        width = pad_to or int(lengths.max())
        x = torch.zeros(len(values), width, values[0].shape[1])
        for row, v in enumerate(values):
            x[row, : len(v)] = torch.from_numpy(v[:width])
        yield x, lengths.clamp(max=width), torch.tensor(data.labels[index], dtype=torch.float32)


def jets_per_second(model: nn.Module, data, order, pad_to, steps: int, packed: bool = False) -> float:
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    prepared = list(batches(data, order[:steps], pad_to))
    runs = []
    for _ in range(3):
        start, n = time.perf_counter(), 0
        for x, lengths, label in prepared:
            optimiser.zero_grad()
            inputs = (pack(x, lengths),) if packed else (x, lengths)
            loss = loss_fn(model(*inputs).squeeze(-1), label)
            loss.backward()
            optimiser.step()
            n += len(label)
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def tagger_module(network: nn.Module, spec: dict) -> TaggerModule:
    """The Lightning module of ``network`` with the schema's optimiser settings, as `jettag train` has it."""
    train = TrainSettings.create()
    return TaggerModule(
        network,
        n_classes=1,
        lr=train.lr,
        weight_decay=train.weight_decay,
        schedule=train.schedule,
        model_config=spec,
    )


def fit(module: TaggerModule, data: JetDataModule, **options) -> Trainer:
    """A Lightning fit of ``module`` on ``data`` without validation, checkpoints, logs or progress bar;
    ``options`` go to the ``Trainer`` (``max_epochs``, ``accelerator``, ``precision``, ``profiler``, ...).
    torch's deterministic mode, which ``deterministic=True`` turns on for the process, is restored after."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # as in jettag.train.fit: Slurm's tools on the machine, and the stream's exact length
        warnings.filterwarnings("ignore", "The `srun` command is available")
        warnings.filterwarnings("ignore", "Your `IterableDataset` has `__len__` defined")
        trainer = Trainer(
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
            limit_val_batches=0,
            **options,
        )
        try:
            trainer.fit(module, datamodule=data)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
    return trainer


def lightning_fit(
    spec: dict, build: Path, batch_size: int, epochs: int, streaming: bool, num_workers: int
) -> tuple[float, float]:
    """``(jets/s, data-wait fraction)`` of the training batches of a Lightning fit."""
    data = JetDataModule.create(
        "sequence",
        build / "train" / "sequences.arrow",
        build / "val" / "sequences.arrow",
        batch_size=batch_size,
        bucket=True,
        seed=1,
        streaming=streaming,
        num_workers=num_workers,
    )
    data.setup("fit")
    module = tagger_module(build_model(spec, data.n_features, 1), spec)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = SimpleProfiler(dirpath=tmp, filename="profile")  # its table goes to a file, not stdout
        fit(module, data, max_epochs=epochs, accelerator="cpu", profiler=profiler)
    durations = profiler.recorded_durations
    waiting = sum(sum(v) for k, v in durations.items() if "train_dataloader_next" in k)
    stepping = sum(sum(v) for k, v in durations.items() if k == "run_training_batch")
    jets = epochs * data.layouts["train"].n_jets
    return jets / (waiting + stepping), waiting / (waiting + stepping)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, default=Path("results/smoke/build"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each Lightning fit")
    parser.add_argument("--num-workers", type=int, default=0, help="data-loader workers of each fit")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/training_throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_sequences(args.build_dir / "train" / "sequences.arrow")
    lengths = np.asarray(data.lengths)
    rng = np.random.default_rng(1)
    shuffled = np.array_split(rng.permutation(len(lengths)), max(1, len(lengths) // args.batch_size))
    bucketed = length_buckets(lengths, args.batch_size, seed=1)
    max_length = int(lengths.max())
    rows = []
    for name in ("lstm", "gru"):
        spec = load_model_config(Path("configs/models") / f"{name}.yaml")
        torch.manual_seed(1)
        n_features = data.values.shape[1]

        def rate(order, pad_to, packed, spec=spec, n_features=n_features):
            torch.manual_seed(1)
            return jets_per_second(build_model(spec, n_features, 1), data, order, pad_to, args.steps, packed)

        row = {
            "model": name,
            "padded_to_max_jets_per_s": rate(shuffled, max_length, False),
            "packed_jets_per_s": rate(shuffled, None, True),
            "packed_bucketed_jets_per_s": rate(bucketed, None, True),
            "padded_bucketed_jets_per_s": rate(bucketed, None, False),
        }
        for streaming, path in ((False, "in_memory"), (True, "streamed")):
            speed, wait = lightning_fit(
                spec, args.build_dir, args.batch_size, args.epochs, streaming, args.num_workers
            )
            row[f"fit_{path}_jets_per_s"] = speed
            row[f"data_wait_{path}"] = wait
        rows.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    print(
        f"{'model':6} {'pad-to-max':>10} {'packed':>10} {'pack+bkt':>10} {'pad+bkt':>10}"
        f" {'fit, mem':>10} {'wait, mem':>10} {'fit, strm':>10} {'wait, strm':>10}"
        f"   (jets/s; CPU, {args.threads} thread, batch {args.batch_size}, max length {max_length}, "
        f"{args.num_workers} workers)"
    )
    for r in rows:
        print(
            f"{r['model']:6} {r['padded_to_max_jets_per_s']:10.0f} {r['packed_jets_per_s']:10.0f} "
            f"{r['packed_bucketed_jets_per_s']:10.0f} {r['padded_bucketed_jets_per_s']:10.0f}"
            f" {r['fit_in_memory_jets_per_s']:10.0f} {100 * r['data_wait_in_memory']:9.1f}%"
            f" {r['fit_streamed_jets_per_s']:10.0f} {100 * r['data_wait_streamed']:9.1f}%"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
