"""Columnar shards: how jettag writes and reads the outputs of ingest and build.

Shards are Arrow IPC files (the Feather v2 format) with zstd-compressed record batches: they write and
read faster than parquet and are no larger (``benchmarks/shard_format.py``, results in
``benchmarks/README.md``). Every record batch is one chunk as it was written, so readers stream a batch at
a time; pandas, polars, pyarrow and awkward (``ak.from_arrow``) all read the files directly.

A shard appears at its path whole or not at all: :class:`ShardWriter` writes ``.<name>.partial`` beside
it and moves that into place with one rename (atomic on one file system) once the file is closed.
A process killed mid-write (SIGKILL, a job past its time limit) leaves at most the ``.partial`` file,
which nothing reads and the next write of the shard replaces; an error deletes it.
:func:`write_text_atomically` does the same for the small JSON files beside the shards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import awkward as ak
import pyarrow as pa

__all__ = [
    "ShardWriter",
    "iterate_shard",
    "num_rows",
    "partial_path",
    "read_shard",
    "set_aside",
    "write_text_atomically",
]

_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def partial_path(path: str | Path) -> Path:
    """Where ``path`` is written until it is complete: ``.<name>.partial`` in the same directory."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`partial_path`, so ``path`` is never half-written."""
    partial = partial_path(path)
    try:
        partial.write_text(text)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def set_aside(directory: Path, names: Sequence[str], reason: str) -> Path:
    """Move the files ``names`` of ``directory`` that exist into a new ``abandoned-<n>/`` in it, with
    ``reason.txt`` saying why, so that a run that cannot go on from them starts over without losing them."""
    n = 1
    while (directory / f"abandoned-{n}").exists():
        n += 1
    target = directory / f"abandoned-{n}"
    target.mkdir()
    for name in names:
        if (directory / name).exists():
            (directory / name).replace(target / name)
    (target / "reason.txt").write_text(reason + "\n")
    return target


class ShardWriter:
    """Append awkward chunks to one shard; the schema is the first chunk's, or ``empty``'s if none came.

    The shard is written to :func:`partial_path` and renamed to ``path`` by :meth:`close`; :meth:`abort`
    (or leaving a ``with`` block on an exception) deletes it instead.
    """

    def __init__(self, path: str | Path, empty: ak.Array | None = None) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.empty = empty
        self._sink = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, chunk: ak.Array) -> None:
        if not isinstance(chunk, ak.Array):
            raise TypeError(
                f"{self.path}: a shard takes an awkward Array of jets, not {type(chunk).__name__}"
            )
        table = ak.to_arrow_table(chunk, extensionarray=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(self.partial), "wb")
            self._schema = table.schema
            self._writer = pa.ipc.new_file(self._sink, self._schema, options=_OPTIONS)
        self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        """Finish the file and move it to :attr:`path`, replacing what was there."""
        if self._writer is None:
            if self.empty is None:
                raise ValueError(f"{self.path}: nothing written and no empty layout given")
            self.write(self.empty)
        self._writer.close()
        self._sink.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        """Close and delete the half-written shard, and any shard of an earlier run at :attr:`path`: it is
        not what the failed run was to write."""
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
        self.partial.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def iterate_shard(path: str | Path, chunk_size: int | None = None) -> Iterator[ak.Array]:
    """The record batches of a shard as awkward arrays, cut to at most ``chunk_size`` jets."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            step = chunk_size or max(batch.num_rows, 1)
            for start in range(0, batch.num_rows, step):
                yield ak.from_arrow(batch.slice(start, step))


def read_shard(path: str | Path) -> ak.Array:
    """A whole shard as one awkward array."""
    with pa.memory_map(str(path)) as source:
        return ak.from_arrow(pa.ipc.open_file(source).read_all())


def num_rows(path: str | Path) -> int:
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
