"""Writing JetClass-schema ROOT files with uproot (a TTree named ``tree``, not an RNTuple)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import awkward as ak
import numpy as np
import uproot

from jettag.jetclass import TREE_NAME
from jettag.shards import partial_path

__all__ = ["JetClassWriter"]


class JetClassWriter:
    """Append jets to a new ROOT file as a JetClass TTree.

    ``write`` takes the columns of :func:`jettag.generate.jets.jetclass_columns`: a ``part`` record of
    jagged particle fields (written as ``part_<field>`` with one counter ``npart``) and flat jet and label
    arrays. Chunks are buffered and flushed in baskets of at least ``basket_jets`` jets.
    """

    def __init__(self, path: str | Path, basket_jets: int = 2000) -> None:
        self.path = Path(path)
        self.basket_jets = basket_jets
        self.n_written = 0
        self._pending: list[dict[str, Any]] = []
        self._n_pending = 0
        self._file: Any = None
        self._tree: Any = None

    def __enter__(self) -> JetClassWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = uproot.recreate(partial_path(self.path))
        return self

    def write(self, columns: dict[str, Any]) -> None:
        n = len(columns["jet_pt"])
        if n == 0:
            return
        self._pending.append(columns)
        self._n_pending += n
        if self._n_pending >= self.basket_jets:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        names = list(self._pending[0])
        merged = {}
        for name in names:
            parts = [chunk[name] for chunk in self._pending]
            if isinstance(parts[0], np.ndarray):
                merged[name] = np.concatenate(parts)
            else:
                merged[name] = ak.concatenate(parts)
        if self._tree is None:
            types = {
                name: (value.type.content if isinstance(value, ak.Array) else value.dtype)
                for name, value in merged.items()
            }
            self._tree = self._file.mktree(TREE_NAME, types)
        self._tree.extend(merged)
        self.n_written += self._n_pending
        self._pending, self._n_pending = [], 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # written beside the target and renamed into place once whole: a killed job leaves no file at the
        # path that looks complete
        partial = partial_path(self.path)
        try:
            if exc_type is None:
                self._flush()
        except BaseException:
            self._file.close()
            partial.unlink(missing_ok=True)
            raise
        self._file.close()
        if exc_type is None:
            partial.replace(self.path)
        else:
            partial.unlink(missing_ok=True)
