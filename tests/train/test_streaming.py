"""Streaming the built shards into training: every jet once an epoch, in length buckets, split between ranks
and workers without duplicates, evaluation complete and in file order, memory set by the buffer, and a
resumed run that trains exactly like one never stopped."""

from __future__ import annotations

import itertools
import math
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from jettag.features.sequences import padding_fraction
from jettag.train import JetDataModule, ShardStream, StreamLoader
from jettag.train.arrays import scan_split
from jettag.train.data import load_sequences
from tests.training import fit

pytestmark = [
    # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

BATCH = 32


def module(built: Path, **kwargs) -> JetDataModule:
    return JetDataModule.create(
        "sequence",
        built / "train" / "sequences.arrow",
        built / "val" / "sequences.arrow",
        **({"batch_size": BATCH, "seed": 3} | kwargs),
    )


def keys_of(batch: dict[str, torch.Tensor]) -> list[bytes]:
    """Each jet of a batch by its constituents' bytes: jets of continuous features do not repeat."""
    return [batch["x"][i, :n].numpy().tobytes() for i, n in enumerate(batch["lengths"].tolist())]


@pytest.fixture(scope="module")
def train_jets(built: Path) -> dict[bytes, int]:
    """Every training jet (as :func:`keys_of` names it) and its label, read whole."""
    arrays = load_sequences(built / "train" / "sequences.arrow")
    jets = {arrays[i][0].tobytes(): arrays[i][1] for i in range(len(arrays))}
    assert len(jets) == len(arrays) > 300
    return jets


def epoch_of(loader: StreamLoader, epoch: int) -> list[dict[str, torch.Tensor]]:
    loader.dataset.set_epoch(epoch)
    return list(loader)


def same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_a_training_stream_yields_every_jet_once_an_epoch_in_length_buckets(built, train_jets):
    # a buffer of 100 jets and units of 40: an epoch is several buffers, each filled from several units
    bucketed = StreamLoader(module(built, shuffle_buffer=100, chunk_size=40).train_stream())
    shuffled = StreamLoader(module(built, shuffle_buffer=100, chunk_size=40, bucket=False).train_stream())
    epochs = {}
    for name, loader in (("bucketed", bucketed), ("shuffled", shuffled)):
        for epoch in (0, 1):
            batches = epoch_of(loader, epoch)
            assert len(batches) == len(loader) == math.ceil(len(train_jets) / BATCH)
            assert sum(len(batch["label"]) < BATCH for batch in batches) <= 1
            seen = Counter(key for batch in batches for key in keys_of(batch))
            assert seen == Counter(train_jets.keys())
            for batch in batches:  # labels travel with their jets
                assert batch["label"].tolist() == [train_jets[key] for key in keys_of(batch)]
                assert batch["x"].shape[1] == int(batch["lengths"].max())
            epochs[name, epoch] = batches
        # reshuffled each epoch, and the same again for the same epoch
        assert not same(epochs[name, 0], epochs[name, 1])
        assert same(epoch_of(loader, 1), epochs[name, 1])

    def waste(batches):
        lengths = np.concatenate([batch["lengths"].numpy() for batch in batches])
        starts = np.cumsum([0] + [len(batch["lengths"]) for batch in batches])
        return padding_fraction(lengths, [np.arange(a, b) for a, b in itertools.pairwise(starts)])

    # with the default buffer (here the whole split) the buckets pad as little as those of the split in
    # memory; a buffer of a few batches has too few jets of each length to gain much
    whole = {
        bucket: list(StreamLoader(module(built, bucket=bucket).train_stream())) for bucket in (True, False)
    }
    assert waste(whole[True]) < 0.5 * waste(whole[False])


def test_batches_mix_the_classes_of_shards_written_one_class_at_a_time(built, train_jets):
    # the training shards hold one class each, in record batches of up to 150 jets; a buffer of 10
    # batches is filled from at least 10 places of the split, so no batch comes from one record batch
    labels = np.array(list(train_jets.values()))
    fraction = labels.mean()
    loader = StreamLoader(module(built, shuffle_buffer=10 * BATCH, bucket=False).train_stream())
    batches = [batch["label"].numpy() for batch in epoch_of(loader, 0) if len(batch["label"]) == BATCH]
    single = sum(len(np.unique(batch)) == 1 for batch in batches)
    assert single <= 0.05 * len(batches)
    # the batches' signal fractions scatter about the split's as units of 32 random jets allow: the
    # scatter of 32 jets drawn from a mix of 10 units, well under the 0.5 of one-class batches
    spread = np.std([batch.mean() for batch in batches])
    assert spread < 0.25
    assert abs(np.mean([batch.mean() for batch in batches]) - fraction) < 0.1


@pytest.mark.parametrize(("world_size", "workers"), [(1, 2), (2, 0), (2, 2)])
def test_ranks_and_workers_each_read_their_own_jets(built, train_jets, world_size, workers):
    layout = scan_split([built / "train" / "sequences.arrow"], "sequence")
    seen, steps, dropped = Counter(), set(), 0
    for rank in range(world_size):
        stream = ShardStream(
            layout,
            BATCH,
            shuffle=True,
            seed=3,
            shuffle_buffer=100,
            chunk_size=40,
            rank=rank,
            world_size=world_size,
            num_workers=workers,
        )
        batches = list(StreamLoader(stream, num_workers=workers))
        assert len(batches) == len(stream)
        steps.add(len(batches))
        jets = Counter(key for batch in batches for key in keys_of(batch))
        assert not jets & seen, "a jet read by two ranks"
        seen += jets
        dropped += stream.dropped
    assert len(steps) == 1, "ranks out of step"
    assert max(seen.values()) == 1, "a jet read twice"
    assert set(seen) <= set(train_jets)
    if world_size == 1:
        assert len(seen) == len(train_jets)
    else:  # each rank took its own half, and keeping the ranks in step cost at most a few batches
        assert len(train_jets) - len(seen) <= dropped * BATCH
        assert steps.pop() >= len(train_jets) // (2 * BATCH) - 2


def test_persistent_workers_follow_the_epoch(built):
    stream = module(built, shuffle_buffer=100, num_workers=2).train_stream()
    epoch = [0]
    loader = StreamLoader(stream, epoch=lambda: epoch[0], num_workers=2, persistent_workers=True)
    first = list(loader)
    epoch[0] = 1
    second = list(loader)
    epoch[0] = 0
    again = list(loader)
    assert not same(first, second)
    assert same(first, again)


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluation_streams_every_jet_once_in_file_order(built, workers):
    whole = module(built, streaming=False, eval_batch_size=50)
    expected = list(whole.val_dataloader())
    assert same(list(module(built, eval_batch_size=50, num_workers=workers).val_dataloader()), expected)
    # two ranks: each a contiguous share, together the split in order
    layout = scan_split([built / "val" / "sequences.arrow"], "sequence")
    shares = [
        list(
            StreamLoader(
                ShardStream(
                    layout,
                    50,
                    shuffle=False,
                    shuffle_buffer=100,
                    rank=rank,
                    world_size=2,
                    num_workers=workers,
                ),
                num_workers=workers,
            )
        )
        for rank in range(2)
    ]
    assert abs(sum(map(len, shares[0])) - sum(map(len, shares[1]))) <= 1
    in_order = [key for share in shares for batch in share for key in keys_of(batch)]
    assert in_order == [key for batch in expected for key in keys_of(batch)]


def test_streaming_memory_follows_the_buffer_not_the_split(built):
    """One epoch over the training split and over ten times as many shard files (the same file again):
    the streamed epoch's peak numpy memory stays put, the split read whole grows tenfold."""
    shard = built / "train" / "sequences.arrow"

    def peak(paths: list[Path], streaming: bool) -> int:
        data = JetDataModule.create(
            "sequence",
            paths,
            built / "val" / "sequences.arrow",
            batch_size=16,
            streaming=streaming,
            shuffle_buffer=64,
        )
        tracemalloc.start()
        try:
            data.setup("fit")
            for _ in data.train_dataloader():
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streamed = peak([shard] * 10, True) / peak([shard], True)
    in_memory = peak([shard] * 10, False) / peak([shard], False)
    assert streamed < 1.3, streamed
    assert in_memory > 5, in_memory


def test_a_resumed_streamed_run_trains_like_one_never_stopped(built, tmp_path):
    """Two epochs, stopped, resumed for two more: the same weights as four epochs in one go. With a
    data-loader worker, whose stream must learn the epoch before Lightning first sets it."""
    model = {
        "name": "gru",
        "kind": "recurrent",
        "cell": "gru",
        "embed_dim": 8,
        "hidden_size": 8,
        "num_layers": 1,
        "dropout": 0.0,
        "head_sizes": [8],
        "readout": "mean",
    }
    options = {
        "seed": 4,
        "schedule": "none",
        "accelerator": "cpu",
        "devices": 1,
        "lr": 1e-2,
        "log_every_n_steps": 1,
    }

    def run(output_dir: Path, max_epochs: int) -> dict:
        data = module(built, num_workers=1, shuffle_buffer=100)
        return fit(model, data, output_dir, max_epochs=max_epochs, **options)

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "stopped", 2)
    resumed = run(tmp_path / "stopped", 4)
    assert resumed["resumed"]
    assert resumed["global_step"] == straight["global_step"]
    weights = [
        torch.load(tmp_path / name / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
        for name in ("straight", "stopped")
    ]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=0, atol=0, msg=name)
