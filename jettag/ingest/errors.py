"""The error ingest raises for a bad input file: it always names the file and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IngestError"]


class IngestError(Exception):
    """A bad input file; ``str()`` reads ``<file>: <problem>``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")
