"""Built shards as numpy arrays for training: what a split holds, reading it a piece at a time, batches.

A built shard (``sequences.arrow`` or ``images.arrow``) is a file of record batches, each one chunk as the
build stage wrote it. :func:`scan_split` lists the record batches of a split's shards as :class:`Unit`\\ s
(file, record batch, row range) without decoding their data, and checks that the shards agree on their
features. :class:`ShardReader` decodes a unit into :class:`SequenceArrays` or :class:`ImageArrays`, reading
only the columns training needs. Both array types make a training batch of any jets with ``batch``:
sequences padded to the batch's own longest jet.

Reading goes through pyarrow directly rather than awkward: a unit becomes flat numpy arrays with no
per-jet Python work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

__all__ = [
    "KINDS",
    "ImageArrays",
    "SequenceArrays",
    "ShardReader",
    "SplitLayout",
    "Unit",
    "concatenate",
    "scan_split",
    "split_units",
]

#: what a data module serves and the built shard each kind reads
KINDS = {"sequence": "sequences.arrow", "image": "images.arrow"}

#: the column holding each kind's inputs
_INPUT_COLUMN = {"sequence": "features", "image": "image"}


@dataclass(frozen=True)
class Unit:
    """Rows ``start:stop`` of record batch ``batch`` of the shard ``path``: the unit of reading."""

    path: Path
    batch: int
    start: int
    stop: int

    @property
    def n_jets(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class SplitLayout:
    """The shards of a split: their non-empty record batches in file order, and what each jet holds
    (``feature_names`` for sequences, ``image_size`` for images)."""

    kind: str
    units: tuple[Unit, ...]
    feature_names: tuple[str, ...] | None = None
    image_size: int | None = None

    @property
    def n_jets(self) -> int:
        return sum(unit.n_jets for unit in self.units)


def _open(path: Path, columns: Sequence[str]) -> pa.ipc.RecordBatchFileReader:
    """A shard opened to decode only ``columns`` (the others are never decompressed)."""
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
    missing = [name for name in columns if schema.get_field_index(name) < 0]
    if missing:
        raise ValueError(f"{path}: lacks the column(s) {', '.join(missing)}; it has {schema.names}")
    options = pa.ipc.IpcReadOptions(included_fields=[schema.get_field_index(name) for name in columns])
    return pa.ipc.open_file(pa.memory_map(str(path)), options=options)


def _layout_of(path: Path, kind: str, schema: pa.Schema) -> tuple[tuple[str, ...] | None, int | None]:
    """``(feature names, None)`` of a sequence shard, ``(None, image size)`` of an image shard."""
    missing = [name for name in ("label", _INPUT_COLUMN[kind]) if schema.get_field_index(name) < 0]
    if missing:
        raise ValueError(f"{path}: lacks the column(s) {', '.join(missing)}; it has {schema.names}")
    kind_of = schema.field(_INPUT_COLUMN[kind]).type
    if kind == "sequence":
        item = kind_of.value_type if isinstance(kind_of, pa.ListType | pa.LargeListType) else None
        if item is None or not pa.types.is_struct(item):
            raise ValueError(f"{path}: 'features' is {kind_of}, expected lists of feature records")
        return tuple(item.field(i).name for i in range(item.num_fields)), None
    if not pa.types.is_fixed_size_list(kind_of):
        raise ValueError(f"{path}: 'image' is {kind_of}, expected fixed-size lists of pixels")
    size = math.isqrt(kind_of.list_size)
    if size * size != kind_of.list_size:
        raise ValueError(f"{path}: images of {kind_of.list_size} pixels are not square")
    return None, size


def scan_split(paths: Sequence[str | Path], kind: str) -> SplitLayout:
    """List the non-empty record batches of the shards ``paths`` (only the small ``label`` column is
    decoded, to count rows) and check that every shard has the same features or image size."""
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(KINDS)}")
    units: list[Unit] = []
    layout: tuple[tuple[str, ...] | None, int | None] | None = None
    first: Path | None = None
    for path in map(Path, paths):
        with pa.memory_map(str(path)) as source:
            this = _layout_of(path, kind, pa.ipc.open_file(source).schema)
        if layout is None:
            layout, first = this, path
        elif this != layout:
            what = "features" if kind == "sequence" else "image size"
            raise ValueError(f"{path}: {what} {this[0] or this[1]} differ from those of {first}: {layout}")
        counter = _open(path, ["label"])
        for i in range(counter.num_record_batches):
            rows = counter.get_batch(i).num_rows
            if rows:
                units.append(Unit(path, i, 0, rows))
    if not units or layout is None:
        raise ValueError(f"no jets in the {kind} shards {[str(p) for p in paths]}")
    return SplitLayout(kind, tuple(units), feature_names=layout[0], image_size=layout[1])


def split_units(units: Sequence[Unit], chunk_size: int | None) -> list[Unit]:
    """``units`` cut into pieces of at most ``chunk_size`` jets (None: as they are)."""
    if chunk_size is None:
        return list(units)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return [
        Unit(unit.path, unit.batch, start, min(start + chunk_size, unit.stop))
        for unit in units
        for start in range(unit.start, unit.stop, chunk_size)
    ]


@dataclass
class SequenceArrays:
    """Jets as sequences: ``values`` ``[n_constituents, n_features]`` float32, jet ``i`` being the rows
    ``offsets[i] : offsets[i] + lengths[i]``; ``offsets`` and ``lengths`` ``[n_jets]`` int64 (``lengths``
    may be cut below what ``values`` holds, by ``max_length``); ``labels`` ``[n_jets]`` int64."""

    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        start = self.offsets[i]
        return self.values[start : start + self.lengths[i]], int(self.labels[i])

    def batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        """Jets ``index`` padded to their own longest: ``x`` float32 ``[B, T, F]`` (zero padding),
        ``lengths`` int64 ``[B]``, ``label`` float32 ``[B]`` (1 signal, 0 background)."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        rows, positions, source = _gather(self.offsets[index], lengths)
        x = np.zeros((len(index), int(lengths.max()), self.values.shape[1]), dtype=np.float32)
        x[rows, positions] = self.values[source]
        return {
            "x": torch.from_numpy(x),
            "lengths": torch.from_numpy(lengths.astype(np.int64)),
            "label": torch.from_numpy(self.labels[index].astype(np.float32)),
        }

    def take(self, index: np.ndarray) -> SequenceArrays:
        """The jets ``index``, their constituents copied into a compact ``values``."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        _, _, source = _gather(self.offsets[index], lengths)
        return SequenceArrays(
            self.values[source],
            np.cumsum(lengths) - lengths,
            lengths,
            self.labels[index],
            self.feature_names,
        )


@dataclass
class ImageArrays:
    """Jets as images: ``images`` ``[n_jets, size, size]`` float32 and ``labels`` ``[n_jets]`` int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])

    def batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        """Images ``index``: ``x`` float32 ``[B, 1, S, S]``, ``label`` float32 ``[B]``."""
        index = np.asarray(index, dtype=np.int64)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(self.images[index][:, None])),
            "label": torch.from_numpy(self.labels[index].astype(np.float32)),
        }

    def take(self, index: np.ndarray) -> ImageArrays:
        index = np.asarray(index, dtype=np.int64)
        return ImageArrays(self.images[index], self.labels[index])


Arrays = SequenceArrays | ImageArrays


def _gather(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For jets starting at ``starts`` with ``lengths``: per constituent, the jet's row in the batch, its
    position in the jet, and its row in ``values``."""
    rows = np.repeat(np.arange(len(lengths)), lengths)
    positions = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, positions, np.repeat(starts, lengths) + positions


def concatenate(parts: Sequence[Arrays]) -> Arrays:
    """The jets of ``parts`` one after the other (all of one kind)."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], ImageArrays):
        return ImageArrays(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts])
        )
    shifts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
    return SequenceArrays(
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.offsets + shift for p, shift in zip(parts, shifts, strict=True)]),
        np.concatenate([p.lengths for p in parts]),
        np.concatenate([p.labels for p in parts]),
        parts[0].feature_names,
    )


class ShardReader:
    """Decodes units of one kind's shards into arrays, cutting sequences to ``max_length``.

    Keeps the shard and the record batch it decoded last, so consecutive units of one record batch are
    decompressed once. Opened lazily in the process that reads (each data-loader worker has its own).
    Raises ``ValueError`` for a jet without constituents: a recurrent network cannot read it."""

    def __init__(self, kind: str, max_length: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind = kind
        self.max_length = max_length
        self._file: tuple[Path, pa.ipc.RecordBatchFileReader] | None = None
        self._batch: tuple[Path, int, pa.RecordBatch] | None = None

    def _record_batch(self, path: Path, index: int) -> pa.RecordBatch:
        if self._batch is not None and self._batch[:2] == (path, index):
            return self._batch[2]
        if self._file is None or self._file[0] != path:
            self._file = (path, _open(path, ["label", _INPUT_COLUMN[self.kind]]))
        batch = self._file[1].get_batch(index)
        self._batch = (path, index, batch)
        return batch

    def read(self, unit: Unit) -> Arrays:
        batch = self._record_batch(unit.path, unit.batch).slice(unit.start, unit.n_jets)
        labels = batch.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
        if self.kind == "image":
            flat = batch.column("image").flatten().to_numpy(zero_copy_only=False).astype(np.float32)
            size = math.isqrt(len(flat) // max(len(labels), 1))
            return ImageArrays(flat.reshape(len(labels), size, size), labels)
        features = batch.column("features")
        counts = np.diff(features.offsets.to_numpy(zero_copy_only=False)).astype(np.int64)
        records = features.flatten()  # the constituents of these jets only, also for a slice
        columns = records.flatten()
        values = np.empty((len(records), len(columns)), dtype=np.float32)
        for j, column in enumerate(columns):
            values[:, j] = column.to_numpy(zero_copy_only=False)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            raise ValueError(
                f"{unit.path}: {len(empty)} jets without constituents in record batch {unit.batch} (first "
                f"at row {unit.start + empty[0]}); a recurrent tagger cannot read them: drop them in the "
                "build stage"
            )
        lengths = counts if self.max_length is None else np.minimum(counts, self.max_length)
        names = [records.type.field(i).name for i in range(records.type.num_fields)]
        return SequenceArrays(values, np.cumsum(counts) - counts, lengths, labels, names)
