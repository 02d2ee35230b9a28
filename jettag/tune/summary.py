"""The searches side by side: one Markdown table from the taggers' ``study.json`` files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jettag.shards import write_text_atomically

__all__ = ["summary_table", "write_summary"]


def _auc(entry: dict[str, Any] | None) -> str:
    if entry is None or entry.get("val_auc") is None:
        return "-"
    return f"{entry['val_auc']:.4f}"


def _value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return f"{value:.3g}" if isinstance(value, float) else text


def summary_table(studies: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of the studies' ``study.json`` contents, one row per tagger."""
    lines = [
        "| tagger | trials (complete, pruned) | baseline val AUC | best val AUC | best trial | "
        "median s / trial | best values |",
        "|---|---|---|---|---|---|---|",
    ]
    for study in studies:
        counts = study["trials"]
        best = study["best"]
        values = ", ".join(f"{name} {_value(value)}" for name, value in best["params"].items())
        seconds = study["median_seconds_per_trial"]
        lines.append(
            f"| {study['model']} | {counts['complete'] + counts['pruned']} ({counts['complete']}, "
            f"{counts['pruned']}) | {_auc(study['baseline'])} | {_auc(best)} | {best['number']} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {values} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(study_files: Sequence[str | Path], output: str | Path) -> str:
    """Write the table of the ``study.json`` files to ``output`` (Markdown) and return it."""
    studies = [json.loads(Path(path).read_text()) for path in study_files]
    text = (
        "# jettag tune\n\nValidation AUC of each tagger's baseline (its model file and settings as they "
        "are) and of its best trial, on the validation split; per tagger its best.yaml and "
        "best_settings.yaml hold the best trial's configuration.\n\n" + summary_table(studies)
    )
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(output, text)
    return text
