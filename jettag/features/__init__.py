"""The build stage: constituent sequences (padded or packed), jet images and high-level features.

The package is named after what it makes; the stage, its rules, CLI command and ``results/build/`` keep the
name ``build``."""

from jettag.features.images import jet_images
from jettag.features.run import build_split, fit_standardisation, read_shards
from jettag.features.sequences import constituent_features, order_constituents, pack, pad

__all__ = [
    "build_split",
    "constituent_features",
    "fit_standardisation",
    "jet_images",
    "order_constituents",
    "pack",
    "pad",
    "read_shards",
]
