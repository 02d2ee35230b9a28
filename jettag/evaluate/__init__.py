"""Evaluate stage: every trained tagger scores the test split; figures of merit by the field's conventions."""

from jettag.evaluate.metrics import (
    binary_metrics,
    multiclass_metrics,
    one_vs_background,
    rejection_at,
    roc,
    spread,
)
from jettag.evaluate.scoring import OBSERVERS, evaluate_run, score_bdt, score_network

__all__ = [
    "OBSERVERS",
    "binary_metrics",
    "evaluate_run",
    "multiclass_metrics",
    "one_vs_background",
    "rejection_at",
    "roc",
    "score_bdt",
    "score_network",
    "spread",
]
