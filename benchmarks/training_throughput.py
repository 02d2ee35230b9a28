"""Training throughput of the LSTM and GRU taggers: padded, packed and length-bucketed batches, and the
fraction of a training step spent waiting for data.

Side by side in one run, on the same built shards and the same network sizes (configs/models):
- padded: every batch padded to `max_length`, the recurrent layers run over the padding too (a plain
  `nn.LSTM`/`nn.GRU` on the padded tensor, masked mean read-out), as code without packing does;
- packed: jettag's `RecurrentTagger` (packed sequences) on shuffled batches padded to their longest jet;
- bucketed: the same on length-bucketed batches (jettag's default);
- padded, bucketed: the padded network on length-bucketed batches padded to their longest jet.
Each mode runs forward, backward and an AdamW step over `--steps` batches; jets/s is the median of three.
The data-wait fraction comes from a real Lightning fit (SimpleProfiler): time in the data loader's
`next()` over time in training batches.

    python benchmarks/training_throughput.py --build-dir results/smoke/build --steps 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.profilers import SimpleProfiler
from torch import nn

from jettag.build.sequences import length_buckets
from jettag.models import build_model, load_model_config
from jettag.train import JetDataModule, TaggerModule
from jettag.train.data import load_sequences


class PaddedTagger(nn.Module):
    """The same sizes as RecurrentTagger, but run over the padding (no packing), masked-mean read-out."""

    def __init__(self, spec: dict, n_features: int) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(n_features, spec["embed_dim"]), nn.ReLU())
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[spec["cell"]]
        self.rnn = rnn(
            spec["embed_dim"], spec["hidden_size"], num_layers=spec["num_layers"], batch_first=True
        )
        self.head = nn.Sequential(
            nn.Linear(spec["hidden_size"], spec["head_sizes"][0]),
            nn.ReLU(),
            nn.Linear(spec["head_sizes"][0], 1),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(x))
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        return self.head((states * mask).sum(1) / lengths[:, None])


def batches(data, order: list[np.ndarray], pad_to: int | None):
    for index in order:
        values = [data[i][0] for i in index]
        lengths = torch.tensor([len(v) for v in values])
        width = pad_to or int(lengths.max())
        x = torch.zeros(len(values), width, values[0].shape[1])
        for row, v in enumerate(values):
            x[row, : len(v)] = torch.from_numpy(v[:width])
        yield x, lengths.clamp(max=width), torch.tensor(data.labels[index], dtype=torch.float32)


def jets_per_second(model: nn.Module, data, order, pad_to, steps: int) -> float:
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    prepared = list(batches(data, order[:steps], pad_to))
    runs = []
    for _ in range(3):
        start, n = time.perf_counter(), 0
        for x, lengths, label in prepared:
            optimiser.zero_grad()
            loss = loss_fn(model(x, lengths).squeeze(-1), label)
            loss.backward()
            optimiser.step()
            n += len(label)
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def data_wait_fraction(spec: dict, build: Path, batch_size: int) -> float:
    data = JetDataModule(
        "sequence",
        build / "train" / "sequences.arrow",
        build / "val" / "sequences.arrow",
        batch_size=batch_size,
        bucket=True,
        seed=1,
    )
    data.setup("fit")
    module = TaggerModule(build_model(spec, data.n_features, 1), n_classes=1, model_config=spec)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = SimpleProfiler(dirpath=tmp, filename="profile")  # its table goes to a file, not stdout
        trainer = Trainer(
            max_epochs=2,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            profiler=profiler,
            default_root_dir=tmp,
            limit_val_batches=0,
        )
        trainer.fit(module, datamodule=data)
    durations = profiler.recorded_durations
    waiting = sum(sum(v) for k, v in durations.items() if "train_dataloader_next" in k)
    stepping = sum(sum(v) for k, v in durations.items() if k == "run_training_batch")
    return waiting / (waiting + stepping)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, default=Path("results/smoke/build"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
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
        row = {
            "model": name,
            "padded_jets_per_s": jets_per_second(
                PaddedTagger(spec, data.values.shape[1]), data, shuffled, max_length, args.steps
            ),
            "packed_jets_per_s": jets_per_second(
                build_model(spec, data.values.shape[1], 1), data, shuffled, None, args.steps
            ),
            "padded_bucketed_jets_per_s": jets_per_second(
                PaddedTagger(spec, data.values.shape[1]), data, bucketed, None, args.steps
            ),
            "bucketed_jets_per_s": jets_per_second(
                build_model(spec, data.values.shape[1], 1), data, bucketed, None, args.steps
            ),
            "data_wait_fraction": data_wait_fraction(spec, args.build_dir, args.batch_size),
        }
        rows.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    print(
        f"{'model':6} {'padded':>10} {'packed':>10} {'bucketed':>10} {'padded+bkt':>10} {'data wait':>10}"
        f"   (jets/s; CPU, "
        f"{args.threads} thread, batch {args.batch_size}, max length {max_length})"
    )
    for r in rows:
        print(
            f"{r['model']:6} {r['padded_jets_per_s']:10.0f} {r['packed_jets_per_s']:10.0f} "
            f"{r['bucketed_jets_per_s']:10.0f} {r['padded_bucketed_jets_per_s']:10.0f}"
            f" {100 * r['data_wait_fraction']:9.1f}%"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
