"""Hyperparameter search (``snakemake tune``, ``jettag tune``): per tagger one Optuna study over the keys
its space in the configuration lists (``tune.space``, :mod:`jettag.searchspace`), every trial a real
training on the main job's ingest shards, builds made once per combination of build settings.

Its settings: :class:`jettag.settings.TuneSettings` (``tune``), with the ``build`` and ``train`` sections
every trial starts from."""

from jettag.tune.builds import cached_build, group_shards
from jettag.tune.study import ReportAUC, load_tagger, tagger_params, tune_model
from jettag.tune.summary import write_summary

__all__ = [
    "ReportAUC",
    "cached_build",
    "group_shards",
    "load_tagger",
    "tagger_params",
    "tune_model",
    "write_summary",
]
