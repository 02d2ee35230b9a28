"""Prediction outputs, written a chunk at a time: a ROOT TTree (a friend tree of the inputs) or parquet.

The file is written under a temporary name and renamed when complete, so a run that fails never leaves a
file that looks finished.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

__all__ = ["FORMATS", "PREDICTION_TREE", "PredictionWriter"]

#: output formats and their usual suffix
FORMATS = {"root": ".root", "parquet": ".parquet"}
#: name of the TTree in ROOT outputs (distinct from the inputs' ``tree``, so both can be friends)
PREDICTION_TREE = "scores"


class PredictionWriter:
    """Append flat columns (one value per jet, ``columns`` gives names and dtypes) to ``path``."""

    def __init__(self, path: str | Path, columns: dict[str, np.dtype], fmt: str = "root") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; known: {', '.join(FORMATS)}")
        self.path = Path(path)
        self.columns = {name: np.dtype(dtype) for name, dtype in columns.items()}
        self.format = fmt
        self.n_written = 0
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._file = None
        self._tree = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> PredictionWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "root":
            self._file = uproot.recreate(self._partial)
            self._tree = self._file.mktree(PREDICTION_TREE, self.columns)
        else:
            self._schema = pa.schema([(name, pa.from_numpy_dtype(dt)) for name, dt in self.columns.items()])
            self._file = pq.ParquetWriter(self._partial, self._schema, compression="zstd")
        return self

    def write(self, chunk: dict[str, np.ndarray]) -> None:
        """One chunk of jets: an array for every column, all of the same length."""
        if set(chunk) != set(self.columns):
            raise ValueError(f"columns {sorted(chunk)} differ from the output's {sorted(self.columns)}")
        arrays = {name: np.ascontiguousarray(chunk[name], dtype=dt) for name, dt in self.columns.items()}
        lengths = {len(values) for values in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns of different lengths {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            return
        if self.format == "root":
            self._tree.extend(arrays)
        else:
            self._file.write_table(pa.table(arrays, schema=self._schema))
        self.n_written += n

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._file.close()
        finally:
            if exc_type is None:
                self._partial.replace(self.path)
            else:
                self._partial.unlink(missing_ok=True)
