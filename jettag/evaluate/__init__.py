"""Evaluate stage: every trained tagger scores the test split; the figures of merit are
:mod:`jettag.metrics`'s.

Its settings: :class:`jettag.settings.EvaluateSettings`, the configuration's ``evaluate`` section, handed to
the command as ``--settings`` by the workflow's rule (see :mod:`jettag.settings` for the way from the
configuration file to the code)."""

from jettag.evaluate.scoring import evaluate_run, score_bdt, score_network

__all__ = ["evaluate_run", "score_bdt", "score_network"]
