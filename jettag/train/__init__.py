"""Train stage: data modules over built shards (streamed or in memory), the Lightning module of every
tagger, and the fit.

Its settings: :class:`jettag.settings.TrainSettings`, the configuration's ``train`` section, handed to the
command as ``--settings`` by the workflow's rule (see :mod:`jettag.settings` for the way from the
configuration file to the code)."""

from jettag.train.accelerator import AcceleratorPlan, accelerator_plan, default_precision
from jettag.train.data import EpochBatchSampler, JetDataModule, collate_images, collate_sequences
from jettag.train.fit import ARTEFACT_KEYS, train_model, train_run
from jettag.train.module import TaggerModule
from jettag.train.streaming import ShardStream, StreamLoader

__all__ = [
    "ARTEFACT_KEYS",
    "AcceleratorPlan",
    "EpochBatchSampler",
    "JetDataModule",
    "ShardStream",
    "StreamLoader",
    "TaggerModule",
    "accelerator_plan",
    "collate_images",
    "collate_sequences",
    "default_precision",
    "train_model",
    "train_run",
]
