"""Ingest one input file into columnar train / val / test shards (Arrow IPC), with a per-file summary."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from jettag import __version__
from jettag.ingest.errors import IngestError
from jettag.ingest.prepare import DROP_REASONS, prepare_chunk
from jettag.ingest.readers import iterate_file
from jettag.ingest.split import SPLIT_BY, assign_splits, jet_uniform, split_of_file
from jettag.ingest.summary import add_counts, split_counts
from jettag.jetclass import SPLITS
from jettag.progress import Progress
from jettag.settings import IngestSettings
from jettag.shards import ShardWriter, write_text_atomically

__all__ = ["IngestSettings", "ingest_file"]

log = logging.getLogger(__name__)


class _SplitWriters:
    """One shard writer per split; a split that gets no jet still gets a (zero-length) shard."""

    def __init__(self, outputs: Mapping[str, Path]) -> None:
        self.writers = {split: ShardWriter(path) for split, path in outputs.items()}
        self.empty: ak.Array | None = None

    def write(self, split: str, jets: ak.Array) -> None:
        if self.empty is None:
            self.empty = jets[:0]
        self.writers[split].write(jets)

    def close(self) -> None:
        empty = self.empty if self.empty is not None else ak.Array({"label": np.empty(0, np.int8)})
        for writer in self.writers.values():
            writer.empty = empty
            writer.close()

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def ingest_file(
    path: str | Path,
    outputs: Mapping[str, str | Path],
    settings: IngestSettings,
    summary: str | Path | None = None,
) -> dict[str, Any]:
    """Read ``path`` in chunks, drop (and count) bad jets, split, and write the ``outputs[split]`` shards.

    A bad file raises :class:`IngestError`, or with ``on_bad_file="skip"`` is counted as skipped and gives
    empty shards, so one damaged file among many need not stop a run.
    """
    outputs = {split: Path(outputs[split]) for split in SPLITS}
    names = settings.label_names  # refuses a label in both lists, or multi-class with one signal label
    if settings.split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {', '.join(SPLIT_BY)}, got {settings.split_by!r}")
    if settings.split_by == "file":
        split_of_file(path)  # a name that says no split stops before anything is read
    start = time.perf_counter()
    counts = {"jets_read": 0, "jets_kept": 0, "dropped": dict.fromkeys(DROP_REASONS, 0)}
    per_split = {s: split_counts(names) for s in SPLITS}
    labels = [*settings.signal, *settings.background]
    writers = _SplitWriters(outputs)
    skipped = None
    progress = Progress(log, Path(path).name, 0, "jets")
    try:
        any_label = False
        for entry_start, chunk in iterate_file(
            path, labels, settings.chunk_size, settings.branch_map, settings.tree
        ):
            jets, kept, dropped = prepare_chunk(
                chunk, settings.signal, settings.background, settings, settings.multiclass
            )
            counts["jets_read"] += len(chunk)
            counts["jets_kept"] += len(jets)
            for reason, n in dropped.items():
                counts["dropped"][reason] += n
            any_label |= len(chunk) > dropped["unknown_label"]
            entries = entry_start + kept
            if settings.split_by == "file":
                split = np.full(len(entries), SPLITS.index(split_of_file(path)))
            else:
                split = assign_splits(jet_uniform(path, entries, settings.split_seed), settings.splits)
            jets = ak.with_field(jets, entries.astype(np.int64), "entry")
            for i, name in enumerate(SPLITS):
                part = jets[split == i]
                if len(part):
                    writers.write(name, part)
                    add_counts(per_split[name], ak.to_numpy(part.label), names)
            progress.update(counts["jets_read"])
        if counts["jets_read"] and not any_label:
            raise IngestError(path, f"none of the label branches {', '.join(labels)} is set for any jet")
    except IngestError as err:
        writers.abort()
        if settings.on_bad_file != "skip":
            raise
        log.warning("skipping %s", err)
        skipped = err.problem
        writers = _SplitWriters(outputs)
    writers.close()
    progress.update(counts["jets_read"], final=True)

    seconds = time.perf_counter() - start
    result = {
        "jettag_version": __version__,
        "file": str(path),
        "skipped": skipped,
        "multiclass": settings.multiclass,
        "label_names": names,
        **counts,
        "splits": per_split,
        "seconds": round(seconds, 3),
        "jets_per_second": round(counts["jets_read"] / max(seconds, 1e-9), 1),
    }
    if summary is not None:
        Path(summary).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(summary, json.dumps(result, indent=2) + "\n")
    return result
