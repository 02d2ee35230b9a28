"""The learning curve's training sets (jettag subset-train): the first N jets of one fixed shuffled order of
the ingested training split, nested, written in that order, every jet counted, and a size the split cannot
give refused with the numbers."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pytest

from jettag.cli import main
from jettag.ingest.subset import order_keys, subset_train_split
from jettag.shards import num_rows, read_shard


def jets_of(path: Path) -> list[tuple[int, int]]:
    """The jets of a shard in their order, each as (label, entry): one file per class in the shared sample."""
    jets = read_shard(path)
    return list(zip(ak.to_numpy(jets.label).tolist(), ak.to_numpy(jets.entry).tolist(), strict=True))


@pytest.fixture(scope="module")
def train(ingested) -> tuple[list[Path], Path, int]:
    shards, summary = ingested
    return shards["train"], summary, sum(num_rows(shard) for shard in shards["train"])


def test_smaller_subsets_lie_inside_larger_ones_in_the_same_order(train, tmp_path):
    shards, summary, total = train
    sizes = (50, 150, total)
    subsets = {}
    for size in sizes:
        subset_train_split(shards, size, tmp_path / f"n{size}", summary)
        subsets[size] = jets_of(tmp_path / f"n{size}" / "train.arrow")
        assert len(subsets[size]) == len(set(subsets[size])) == size
    for small, large in ((50, 150), (150, total)):
        # the smaller subset is the start of the larger one: the same jets, in the same order
        assert subsets[large][:small] == subsets[small]
    # the whole split is every jet
    assert sorted(subsets[total]) == sorted(jet for shard in shards for jet in jets_of(shard))


def test_a_subset_is_the_first_jets_of_the_fixed_shuffled_order(train, tmp_path):
    shards, summary, _ = train
    keys = []
    for shard in shards:
        jets = read_shard(shard)
        entries = ak.to_numpy(jets.entry)
        keys += zip(
            order_keys(shard, entries).tolist(),
            ak.to_numpy(jets.label).tolist(),
            entries.tolist(),
            strict=True,
        )
    first = [(label, entry) for _, label, entry in sorted(keys)[:80]]
    subset_train_split(shards, 80, tmp_path / "a", summary)
    written = jets_of(tmp_path / "a" / "train.arrow")
    # the first 80 jets of the order, written in that order
    assert written == first
    # a shuffled order, not the first entries of each file: the chosen entries spread over the files
    entries = np.array([entry for _, entry in first])
    spread = max(np.ptp([entry for _, _, entry in keys]), 1)
    assert np.ptp(entries) > 0.8 * spread
    # the shards hold one class each, top first; the file mixes them from its start: each half holds
    # the subset's fraction of top jets within four binomial standard deviations
    labels = np.array([label for label, _ in written])
    fraction = labels.mean()
    for half in (labels[:40], labels[40:]):
        assert abs(half.mean() - fraction) < 4 * np.sqrt(fraction * (1 - fraction) / 40)
    # listed the other way round, the shards give the same file
    subset_train_split(list(reversed(shards)), 80, tmp_path / "b", summary)
    assert jets_of(tmp_path / "b" / "train.arrow") == written


def test_every_jet_is_counted_and_the_summary_is_the_subsets_dataset(train, tmp_path):
    shards, summary_path, total = train
    result = subset_train_split(shards, 120, tmp_path, summary_path, chunk_size=32)
    assert json.loads((tmp_path / "summary.json").read_text()) == result
    subset = result["subset"]
    assert subset["size"] == subset["jets_out"] == 120
    assert subset["jets_in"] == total
    assert subset["dropped"] == {"beyond_size": total - 120}
    assert sum(s["jets_in"] for s in subset["shards"].values()) == total
    assert sum(s["jets_out"] for s in subset["shards"].values()) == 120
    labels = ak.to_numpy(read_shard(tmp_path / "train.arrow").label)
    train_counts = result["splits"]["train"]
    assert train_counts["jets"] == 120
    assert train_counts["signal"] == int((labels == 1).sum())
    assert train_counts["background"] == int((labels == 0).sum())
    dataset = json.loads(summary_path.read_text())
    background, signal = dataset["label_names"]
    assert train_counts["classes"] == {background: train_counts["background"], signal: train_counts["signal"]}
    assert result["splits"]["val"] == dataset["splits"]["val"]
    assert result["splits"]["test"] == dataset["splits"]["test"]
    assert result["label_names"] == dataset["label_names"]
    # record batches of at most chunk_size jets
    with pa.memory_map(str(tmp_path / "train.arrow")) as source:
        reader = pa.ipc.open_file(source)
        rows = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
    assert rows == [32, 32, 32, 24]


def test_a_size_beyond_the_split_is_refused_with_the_numbers_and_writes_nothing(train, tmp_path):
    shards, summary, total = train
    with pytest.raises(ValueError, match=r"^learning_curve\.sizes: ") as info:
        subset_train_split(shards, total + 1, tmp_path, summary)
    message = str(info.value)
    assert message.startswith(f"learning_curve.sizes: {total + 1} training jets asked for")
    assert f"the training split has {total} (in 2 ingest shard(s))" in message
    assert not list(tmp_path.iterdir())


def test_the_command_writes_the_subset_and_refuses_a_size_too_big(train, tmp_path, caplog):
    shards, summary, total = train
    out = tmp_path / "n100"
    args = ["subset-train", *map(str, shards), "--ingest-summary", str(summary), "--output-dir", str(out)]
    assert main([*args, "--size", "100", "--settings", '{"ingest": {"chunk_size": 64}}']) == 0
    assert num_rows(out / "train.arrow") == 100
    assert json.loads((out / "summary.json").read_text())["subset"]["jets_out"] == 100
    assert main([*args, "--size", str(10 * total)]) == 2
    assert f"{10 * total} training jets asked for, but the training split has {total}" in caplog.text
