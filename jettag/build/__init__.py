"""Build stage: constituent sequences (padded or packed), jet images and high-level features."""

from jettag.build.images import ImageSpec, jet_images
from jettag.build.run import BuildSettings, build_split, fit_standardisation, read_shards
from jettag.build.sequences import Standardisation, constituent_features, order_constituents, pack, pad

__all__ = [
    "BuildSettings",
    "ImageSpec",
    "Standardisation",
    "build_split",
    "constituent_features",
    "fit_standardisation",
    "jet_images",
    "order_constituents",
    "pack",
    "pad",
    "read_shards",
]
