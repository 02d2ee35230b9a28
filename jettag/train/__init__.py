"""Train stage: data modules over built shards, the Lightning module of every tagger, and the fit."""

from jettag.train.data import EpochBatchSampler, JetDataModule, collate_images, collate_sequences
from jettag.train.fit import ARTEFACT_KEYS, default_precision, train_model
from jettag.train.module import SCHEDULES, TaggerModule

__all__ = [
    "ARTEFACT_KEYS",
    "SCHEDULES",
    "EpochBatchSampler",
    "JetDataModule",
    "TaggerModule",
    "collate_images",
    "collate_sequences",
    "default_precision",
    "train_model",
]
