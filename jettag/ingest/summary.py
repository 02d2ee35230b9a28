"""The dataset summary: per-file ingest counts added up (jets per split and class, drops by reason).

Per split: ``jets``, ``signal`` (every signal class together), ``background``, and ``classes``: the jets of
each class by name (for a binary tagger ``{"background": n, "signal": n}``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from jettag.ingest.prepare import DROP_REASONS
from jettag.jetclass import BINARY_LABEL_NAMES, SPLITS
from jettag.shards import write_text_atomically

__all__ = ["add_counts", "split_counts", "summarize"]


def split_counts(label_names: list[str]) -> dict[str, Any]:
    """Zero counts of one split for the classes ``label_names`` (class 0 the background)."""
    return {"jets": 0, "signal": 0, "background": 0, "classes": dict.fromkeys(label_names, 0)}


def add_counts(counts: dict[str, Any], labels: np.ndarray, label_names: list[str]) -> None:
    """Add the jets of ``labels`` (class indices) to the ``counts`` of :func:`split_counts`."""
    per_class = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(label_names))
    if len(per_class) > len(label_names):
        raise ValueError(f"label {len(per_class) - 1} beyond the classes {label_names}")
    counts["jets"] += len(labels)
    counts["background"] += int(per_class[0])
    counts["signal"] += int(per_class[1:].sum())
    for name, n in zip(label_names, per_class, strict=True):
        counts["classes"][name] += int(n)


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
    first = None
    for path in summaries:
        one = json.loads(Path(path).read_text())
        classes = (one.get("multiclass", False), one.get("label_names", list(BINARY_LABEL_NAMES)))
        if first is None:
            first = (path, classes)
            total["multiclass"], total["label_names"] = classes
            total["splits"] = {split: split_counts(classes[1]) for split in SPLITS}
        elif classes != first[1]:
            raise ValueError(
                f"{path}: classes {classes[1]} (multiclass {classes[0]}) differ from those of {first[0]} "
                f"({first[1][1]}, multiclass {first[1][0]}); ingest every file with the same labels"
            )
        total["files"] += 1
        if one["skipped"]:
            total["files_skipped"].append({"file": one["file"], "problem": one["skipped"]})
        total["jets_read"] += one["jets_read"]
        total["jets_kept"] += one["jets_kept"]
        for reason, n in one["dropped"].items():
            total["dropped"][reason] += n
        for split, counts in one["splits"].items():
            for key, n in counts.items():
                if key == "classes":
                    for name, k in n.items():
                        total["splits"][split]["classes"][name] += k
                else:
                    total["splits"][split][key] += n
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(output, json.dumps(total, indent=2) + "\n")
    return total
