"""The build stage: constituent sequences (padded or packed), jet images and high-level features.

The package is named after what it makes; the stage, its rules, CLI command and ``results/build/`` keep the
name ``build``.

Its settings: :class:`jettag.settings.BuildSettings`, the configuration's ``build`` section, handed to the
command as ``--settings`` by the workflow's rule (see :mod:`jettag.settings` for the way from the
configuration file to the code)."""

from jettag.features.images import jet_images
from jettag.features.run import build_split, fit_standardisation, read_shards
from jettag.features.sequences import constituent_features, order_constituents, pack

__all__ = [
    "build_split",
    "constituent_features",
    "fit_standardisation",
    "jet_images",
    "order_constituents",
    "pack",
    "read_shards",
]
