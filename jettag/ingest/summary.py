"""The dataset summary: per-file ingest counts added up (jets per split and class, drops by reason)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jettag.ingest.prepare import DROP_REASONS
from jettag.ingest.split import SPLITS

__all__ = ["summarize"]


def summarize(summaries: Iterable[str | Path], output: str | Path | None = None) -> dict[str, Any]:
    """Add up per-file summaries of :func:`jettag.ingest.ingest_file`; write JSON if ``output`` is given."""
    total: dict[str, Any] = {
        "files": 0,
        "files_skipped": [],
        "jets_read": 0,
        "jets_kept": 0,
        "dropped": dict.fromkeys(DROP_REASONS, 0),
        "splits": {s: {"jets": 0, "signal": 0, "background": 0} for s in SPLITS},
    }
    for path in summaries:
        one = json.loads(Path(path).read_text())
        total["files"] += 1
        if one["skipped"]:
            total["files_skipped"].append({"file": one["file"], "problem": one["skipped"]})
        total["jets_read"] += one["jets_read"]
        total["jets_kept"] += one["jets_kept"]
        for reason, n in one["dropped"].items():
            total["dropped"][reason] += n
        for split, counts in one["splits"].items():
            for key, n in counts.items():
                total["splits"][split][key] += n
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(total, indent=2) + "\n")
    return total
