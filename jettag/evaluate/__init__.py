"""Evaluate stage: every trained tagger scores the test split; the figures of merit are
:mod:`jettag.metrics`'s."""

from jettag.evaluate.scoring import evaluate_run, score_bdt, score_network

__all__ = ["evaluate_run", "score_bdt", "score_network"]
