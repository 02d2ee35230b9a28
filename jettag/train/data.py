"""Training data: the built shards of a split as batches for Lightning.

:class:`JetDataModule` serves either the constituent sequences (``sequences.arrow``) or the jet images
(``images.arrow``) written by :func:`jettag.build.build_split`. The arguments are stored in ``__init__``;
the shards are read in :meth:`JetDataModule.setup`.

Memory: a split is read whole into numpy (flat constituent features plus offsets, or one image array).
That is right for the smoke and laptop sizes this project trains on (a million jets of 128 constituents
and 7 features is about 3.5 GB as float32). The seam for streaming larger splits is the loader functions
:func:`load_sequences` / :func:`load_images` and the map-style datasets they feed: an iterable dataset
over :func:`jettag.shards.iterate_shard` chunks can replace them, keeping :func:`collate_sequences` and
:func:`collate_images`, which never see more than one batch.

Sequence batches are padded to their own longest jet, never to ``max_length``. Training batches come
from :class:`EpochBatchSampler`: length buckets (:func:`jettag.build.sequences.length_buckets`) or plain
shuffled batches, reshuffled each epoch from ``seed + epoch`` alone, so an epoch's batches do not depend
on the global random state or on whether the run was resumed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler

from jettag.build.sequences import length_buckets
from jettag.shards import read_shard

__all__ = [
    "KINDS",
    "EpochBatchSampler",
    "ImageArrays",
    "JetDataModule",
    "SequenceArrays",
    "collate_images",
    "collate_sequences",
    "load_images",
    "load_sequences",
]

#: what a data module serves and the built shard each kind reads
KINDS = {"sequence": "sequences.arrow", "image": "images.arrow"}

Paths = str | Path | Sequence[str | Path]


def _paths(paths: Paths) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


@dataclass
class SequenceArrays(Dataset):
    """A split's sequences in memory: ``values`` ``[n_constituents, n_features]`` float32 (jets one after the
    other), ``offsets`` ``[n_jets + 1]``, ``lengths`` ``[n_jets]`` int64 and ``labels`` ``[n_jets]``."""

    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        start = self.offsets[i]
        return self.values[start : start + self.lengths[i]], int(self.labels[i])


@dataclass
class ImageArrays(Dataset):
    """A split's images in memory: ``images`` ``[n_jets, size, size]`` float32 and ``labels``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])


def load_sequences(paths: Paths, max_length: int | None = None) -> SequenceArrays:
    """Read the ``sequences.arrow`` shard(s) of a split; jets are cut to ``max_length`` where given.

    Raises ``ValueError`` for a jet without constituents: a recurrent network cannot read it."""
    values, offsets, lengths, labels = [], [0], [], []
    names: list[str] | None = None
    for path in _paths(paths):
        table = read_shard(path)
        if not len(table):
            continue
        features = table.features
        shard_names = ak.fields(features)
        if names is None:
            names = shard_names
        elif shard_names != names:
            raise ValueError(
                f"{path}: features {shard_names} differ from those of the earlier shards {names}"
            )
        counts = ak.to_numpy(ak.num(features, axis=1)).astype(np.int64)
        flat = np.stack(
            [ak.to_numpy(ak.flatten(features[name])).astype(np.float32) for name in names], axis=1
        )
        values.append(flat)
        offsets.extend((offsets[-1] + np.cumsum(counts)).tolist())
        lengths.append(counts if max_length is None else np.minimum(counts, max_length))
        labels.append(ak.to_numpy(table.label).astype(np.int64))
    if names is None:
        raise ValueError(f"no jets in the sequence shards {[str(p) for p in _paths(paths)]}")
    arrays = SequenceArrays(
        np.concatenate(values),
        np.asarray(offsets[:-1], dtype=np.int64),
        np.concatenate(lengths),
        np.concatenate(labels),
        list(names),
    )
    empty = np.flatnonzero(arrays.lengths == 0)
    if len(empty):
        raise ValueError(
            f"{len(empty)} jets without constituents in {[str(p) for p in _paths(paths)]} (first at row "
            f"{empty[0]}); a recurrent tagger cannot read them: drop them in the build stage"
        )
    return arrays


def load_images(paths: Paths) -> ImageArrays:
    """Read the ``images.arrow`` shard(s) of a split (square images stored row-major, flattened)."""
    images, labels = [], []
    for path in _paths(paths):
        table = read_shard(path)
        if not len(table):
            continue
        flat = ak.to_numpy(table.image).astype(np.float32)
        size = math.isqrt(flat.shape[1])
        if size * size != flat.shape[1]:
            raise ValueError(f"{path}: images of {flat.shape[1]} pixels are not square")
        images.append(flat.reshape(len(flat), size, size))
        labels.append(ak.to_numpy(table.label).astype(np.int64))
    if not images:
        raise ValueError(f"no jets in the image shards {[str(p) for p in _paths(paths)]}")
    if len({im.shape[1:] for im in images}) > 1:
        raise ValueError("the image shards of a split have different image sizes")
    return ImageArrays(np.concatenate(images), np.concatenate(labels))


def collate_sequences(items: Sequence[tuple[np.ndarray, int]]) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest jet: ``x`` float32 ``[B, T, F]`` (zero padding), ``lengths`` int64
    ``[B]``, ``label`` float32 ``[B]`` (1 signal, 0 background)."""
    lengths = np.array([len(v) for v, _ in items], dtype=np.int64)
    n_features = items[0][0].shape[1]
    x = np.zeros((len(items), int(lengths.max()), n_features), dtype=np.float32)
    for row, (v, _) in enumerate(items):
        x[row, : len(v)] = v
    labels = np.array([label for _, label in items], dtype=np.float32)
    return {"x": torch.from_numpy(x), "lengths": torch.from_numpy(lengths), "label": torch.from_numpy(labels)}


def collate_images(items: Sequence[tuple[np.ndarray, int]]) -> dict[str, torch.Tensor]:
    """Stack a batch of images: ``x`` float32 ``[B, 1, S, S]``, ``label`` float32 ``[B]``."""
    x = np.stack([image for image, _ in items])[:, None]
    labels = np.array([label for _, label in items], dtype=np.float32)
    return {"x": torch.from_numpy(x), "label": torch.from_numpy(labels)}


class EpochBatchSampler(Sampler[list[int]]):
    """Training batches that change every epoch, from ``seed + epoch`` only.

    With ``lengths`` (sequences): length buckets, see :func:`jettag.build.sequences.length_buckets`;
    without: a random permutation cut into batches. Every jet appears exactly once per epoch.
    With ``num_replicas`` > 1 each rank takes every ``num_replicas``-th batch (the batch count cut to a
    multiple of ``num_replicas`` so ranks stay in step).

    Lightning calls ``set_epoch`` on ``dataloader.batch_sampler.sampler`` at the start of every epoch, also
    after resuming; :attr:`sampler` is therefore this object itself.
    """

    def __init__(
        self,
        n_jets: int,
        batch_size: int,
        seed: int,
        lengths: np.ndarray | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if lengths is not None and len(lengths) != n_jets:
            raise ValueError(f"{len(lengths)} lengths for {n_jets} jets")
        self.n_jets = n_jets
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    @property
    def sampler(self) -> EpochBatchSampler:
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self, epoch: int | None = None) -> list[np.ndarray]:
        """All batches of ``epoch`` (default: the current one), before splitting between ranks."""
        seed = self.seed + (self.epoch if epoch is None else epoch)
        if self.lengths is not None:
            return length_buckets(self.lengths, self.batch_size, seed, shuffle=True)
        order = np.random.default_rng(seed).permutation(self.n_jets)
        return np.split(order, np.arange(self.batch_size, self.n_jets, self.batch_size))

    def _mine(self) -> list[np.ndarray]:
        batches = self.batches()
        if self.num_replicas == 1:
            return batches
        usable = len(batches) - len(batches) % self.num_replicas
        return batches[self.rank : usable : self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._mine():
            yield batch.tolist()

    def __len__(self) -> int:
        n_batches = math.ceil(self.n_jets / self.batch_size)
        return n_batches if self.num_replicas == 1 else n_batches // self.num_replicas


class JetDataModule(LightningDataModule):
    """Train / validation / test batches of built jets, as sequences or as images.

    ``kind`` is ``"sequence"`` (batches ``{"x": [B, T, F], "lengths": [B], "label": [B]}``, padded to the
    batch's longest jet) or ``"image"`` (``{"x": [B, 1, S, S], "label": [B]}``). ``train``, ``val`` and
    ``test`` are each a built shard or a list of them (``sequences.arrow`` or ``images.arrow``); ``test``
    may be left out. ``bucket`` groups training jets of similar length (sequences only); ``max_length``
    cuts jets shorter than the build stage did. ``pin_memory`` defaults to whether CUDA is available.
    Labels are float (1 signal, 0 background); the module casts them for its loss.
    """

    def __init__(
        self,
        kind: str,
        train: Paths,
        val: Paths,
        test: Paths | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
        bucket: bool = True,
        max_length: int | None = None,
        seed: int = 0,
        pin_memory: bool | None = None,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(KINDS)}")
        if bucket and kind != "sequence":
            bucket = False
        self.kind = kind
        self.paths: dict[str, list[Path] | None] = {
            "train": _paths(train),
            "val": _paths(val),
            "test": None if test is None else _paths(test),
        }
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.bucket = bucket
        self.max_length = max_length
        self.seed = seed
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.datasets: dict[str, SequenceArrays | ImageArrays] = {}

    # -- I/O ---------------------------------------------------------------------------------------------

    def _load(self, split: str) -> None:
        if split in self.datasets:
            return
        paths = self.paths[split]
        if paths is None:
            raise ValueError(f"no {split} shards were given to the data module")
        if self.kind == "sequence":
            self.datasets[split] = load_sequences(paths, self.max_length)
        else:
            self.datasets[split] = load_images(paths)

    def setup(self, stage: str | None = None) -> None:
        """Read the splits the stage needs (``fit``: train and val; ``validate``; ``test``; None: all given);
        a split already read is kept, so calling this again is cheap."""
        splits = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }.get(stage or "", tuple(s for s, p in self.paths.items() if p is not None))
        for split in splits:
            self._load(split)

    # -- what the model needs to know ------------------------------------------------------------------

    def _any(self) -> SequenceArrays | ImageArrays:
        if not self.datasets:
            self.setup("fit")
        return next(iter(self.datasets.values()))

    @property
    def n_features(self) -> int | None:
        """Constituent features per jet (sequences), else None; reads the data if not yet set up."""
        data = self._any()
        return data.values.shape[1] if isinstance(data, SequenceArrays) else None

    @property
    def feature_names(self) -> list[str] | None:
        data = self._any()
        return data.feature_names if isinstance(data, SequenceArrays) else None

    @property
    def image_size(self) -> int | None:
        """Pixels a side (images), else None; reads the data if not yet set up."""
        data = self._any()
        return data.images.shape[1] if isinstance(data, ImageArrays) else None

    # -- loaders -----------------------------------------------------------------------------------------

    def _collate(self) -> Any:
        return collate_sequences if self.kind == "sequence" else collate_images

    def train_batch_sampler(self) -> EpochBatchSampler:
        self._load("train")
        data = self.datasets["train"]
        trainer = getattr(self, "trainer", None)
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return EpochBatchSampler(
            len(data),
            self.batch_size,
            self.seed,
            lengths=data.lengths if self.bucket else None,
            num_replicas=replicas,
            rank=rank,
        )

    def train_dataloader(self) -> DataLoader:
        sampler = self.train_batch_sampler()
        return DataLoader(
            self.datasets["train"],
            batch_sampler=sampler,
            collate_fn=self._collate(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _eval_loader(self, split: str) -> DataLoader:
        self._load(split)
        return DataLoader(
            self.datasets[split],
            batch_size=self.eval_batch_size,
            shuffle=False,
            collate_fn=self._collate(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
