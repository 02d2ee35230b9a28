"""Training data: the built shards of a split as batches for Lightning, streamed or read whole.

:class:`JetDataModule` serves either the constituent sequences (``sequences.arrow``) or the jet images
(``images.arrow``) written by :func:`jettag.features.build_split`, each split given as one shard or a list of
them. The arguments are stored in ``__init__``; :meth:`JetDataModule.setup` lists the shards' record
batches and checks that they agree (:func:`jettag.train.arrays.scan_split`), reading no jets.

``streaming=True`` (the default, and what ``jettag train`` uses): batches come from
:class:`jettag.train.streaming.ShardStream`, which reads a record batch at a time into a shuffle buffer of
``shuffle_buffer`` jets per stream, so memory does not grow with the split (10x the jets in 10x the shard
files trains in the same memory; a rank holds ``max(num_workers, 1)`` buffers). Units are split between
ranks and then between data-loader workers, so the batches depend on both counts as well as on the seed;
validation and test see every jet once, in file order, each rank its contiguous share.

``streaming=False``: a split is read whole into numpy (a million jets of 128 constituents and 7 features
is about 3.5 GB as float32). Training batches then come from :class:`EpochBatchSampler` over the whole
split, and do not depend on the number of workers.

Either way sequence batches are padded to their own longest jet, never to ``max_length``; training
batches are length buckets (:func:`jettag.features.sequences.length_buckets`) or plain shuffled batches,
reshuffled each epoch from ``(seed, epoch)`` alone, so an epoch's batches depend neither on the global
random state nor on whether the run was resumed: a checkpoint keeps the epoch to train next
(:meth:`JetDataModule.state_dict`), since a resumed run fetches its first batch before Lightning restores
its own epoch counter. The batch dicts are those of
:meth:`jettag.train.arrays.SequenceArrays.batch` and :meth:`jettag.train.arrays.ImageArrays.batch`
(:func:`collate_sequences` / :func:`collate_images` make the same from single jets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler

from jettag.features.sequences import length_buckets
from jettag.jetclass import SPLITS
from jettag.settings import TrainSettings
from jettag.train.arrays import (
    KINDS,
    Arrays,
    ImageArrays,
    SequenceArrays,
    ShardReader,
    SplitLayout,
    concatenate,
    scan_split,
)
from jettag.train.streaming import ShardStream, StreamLoader, rank_rows

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

Paths = str | Path | Sequence[str | Path]


def _paths(paths: Paths) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _read_whole(layout: SplitLayout, max_length: int | None = None) -> Arrays:
    reader = ShardReader(layout.kind, max_length)
    return concatenate([reader.read(unit) for unit in layout.units])


def load_sequences(paths: Paths, max_length: int | None = None) -> SequenceArrays:
    """Read the ``sequences.arrow`` shard(s) of a split whole; jets are cut to ``max_length`` where given.

    Raises ``ValueError`` for a jet without constituents: a recurrent network cannot read it."""
    return _read_whole(scan_split(_paths(paths), "sequence"), max_length)


def load_images(paths: Paths) -> ImageArrays:
    """Read the ``images.arrow`` shard(s) of a split whole (square images stored row-major, flattened)."""
    return _read_whole(scan_split(_paths(paths), "image"))


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


class _Batches(Dataset):
    """Arrays in memory, indexed by a whole batch of jet indices."""

    def __init__(self, arrays: Arrays) -> None:
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: Sequence[int]) -> dict[str, torch.Tensor]:
        return self.arrays.batch(np.asarray(index, dtype=np.int64))


class EpochBatchSampler(Sampler[list[int]]):
    """Training batches that change every epoch, from ``(seed, epoch)`` only: a ``SeedSequence`` of the
    pair, so seed 1 in epoch 1 does not shuffle as seed 2 in epoch 0.

    With ``lengths`` (sequences): length buckets, see :func:`jettag.features.sequences.length_buckets`,
    class-mixed where ``labels`` are given;
    without: a random permutation cut into batches. Every jet appears exactly once per epoch.
    With ``num_replicas`` > 1 each rank takes every ``num_replicas``-th batch (the batch count cut to a
    multiple of ``num_replicas`` so ranks stay in step).

    Lightning calls ``set_epoch`` on ``dataloader.sampler`` (the data module passes this object as the
    sampler of a loader that yields whole batches) and on ``dataloader.batch_sampler.sampler`` at the
    start of every epoch; :attr:`sampler` is this object itself, so it also serves as a ``batch_sampler``.
    """

    def __init__(
        self,
        n_jets: int,
        batch_size: int,
        seed: int,
        lengths: np.ndarray | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        labels: np.ndarray | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if lengths is not None and len(lengths) != n_jets:
            raise ValueError(f"{len(lengths)} lengths for {n_jets} jets")
        self.n_jets = n_jets
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.labels = None if labels is None else np.asarray(labels)
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
        entropy = [self.seed, self.epoch if epoch is None else epoch]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)
        if self.lengths is not None:
            return length_buckets(self.lengths, self.batch_size, seed, shuffle=True, labels=self.labels)
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

    ``streaming`` (default) reads the shards a record batch at a time (see the module docstring), with a
    shuffle buffer of ``shuffle_buffer`` jets per data-loader worker and record batches cut to at most
    ``chunk_size`` jets (None: as written); ``streaming=False`` reads each split whole into memory.
    Under a trainer with several ranks each rank gets its own part of every split.
    """

    def __init__(
        self,
        kind: str,
        train: Paths,
        val: Paths,
        test: Paths | None = None,
        *,
        batch_size: int,
        num_workers: int,
        bucket: bool,
        streaming: bool,
        shuffle_buffer: int,
        seed: int = 0,
        max_length: int | None = None,
        pin_memory: bool | None = None,
        eval_batch_size: int | None = None,
        chunk_size: int | None = None,
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
        self.streaming = streaming
        self.shuffle_buffer = shuffle_buffer
        self.chunk_size = chunk_size
        #: what the shards of each split hold (record batches, features), without their jets
        self.layouts: dict[str, SplitLayout] = {}
        #: each split read whole (``streaming=False`` only)
        self.datasets: dict[str, Arrays] = {}
        #: the first epoch of a run resumed from a checkpoint (see :meth:`_epoch_source`), else 0
        self._resumed_epoch = 0

    #: the loader's keywords that are ``train`` settings
    SETTINGS = ("batch_size", "num_workers", "bucket", "streaming", "shuffle_buffer")

    @classmethod
    def create(
        cls, kind: str, train: Paths, val: Paths, test: Paths | None = None, **options: Any
    ) -> JetDataModule:
        """For scripts and tests: the loader's ``train`` settings among ``options`` over the schema's
        defaults (:class:`jettag.settings.TrainSettings`), the other options (``seed``, ``max_length``, ...)
        passed on."""
        given = {key: options.pop(key) for key in cls.SETTINGS if key in options}
        settings = TrainSettings.create(**given)
        return cls(kind, train, val, test, **{key: getattr(settings, key) for key in cls.SETTINGS}, **options)

    @classmethod
    def from_settings(
        cls, kind: str, build_dir: str | Path, settings: TrainSettings, seed: int
    ) -> JetDataModule:
        """The splits the build stage wrote into ``build_dir`` (``sequences.arrow``, or ``images.arrow`` for
        ``kind="image"``), batched as the ``train`` settings say."""
        shard = "images.arrow" if kind == "image" else "sequences.arrow"
        build = Path(build_dir)
        return cls(
            kind,
            *(build / split / shard for split in SPLITS),
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
            bucket=settings.bucket,
            seed=seed,
            streaming=settings.streaming,
            shuffle_buffer=settings.shuffle_buffer,
        )

    # -- I/O ---------------------------------------------------------------------------------------------

    def _load(self, split: str) -> None:
        if split in self.layouts:
            return
        paths = self.paths[split]
        if paths is None:
            raise ValueError(f"no {split} shards were given to the data module")
        layout = scan_split(paths, self.kind)
        if not self.streaming:
            self.datasets[split] = _read_whole(layout, self.max_length)
        self.layouts[split] = layout

    def setup(self, stage: str | None = None) -> None:
        """Scan the splits the stage needs (``fit``: train and val; ``validate``; ``test``; None: all
        given), and read them whole if not streaming; a split already set up is kept, so calling this
        again is cheap."""
        splits = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }.get(stage or "", tuple(s for s, p in self.paths.items() if p is not None))
        for split in splits:
            self._load(split)

    # -- what the model needs to know ------------------------------------------------------------------

    def _layout(self) -> SplitLayout:
        if not self.layouts:
            self.setup("fit")
        return next(iter(self.layouts.values()))

    @property
    def n_features(self) -> int | None:
        """Constituent features per jet (sequences), else None; scans the shards if not yet set up."""
        names = self._layout().feature_names
        return None if names is None else len(names)

    @property
    def feature_names(self) -> list[str] | None:
        names = self._layout().feature_names
        return None if names is None else list(names)

    @property
    def image_size(self) -> int | None:
        """Pixels a side (images), else None; scans the shards if not yet set up."""
        return self._layout().image_size

    # -- the trainer's view ----------------------------------------------------------------------------

    def _rank(self) -> tuple[int, int]:
        """``(global rank, world size)`` of the attached trainer, else ``(0, 1)``."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _epochs_done(self) -> int:
        """Training epochs the attached trainer has finished: the number Lightning gives samplers'
        ``set_epoch``. Not ``trainer.current_epoch``, which on resuming from a checkpoint written after
        validation still names the epoch just finished."""
        return int(self.trainer.fit_loop.epoch_progress.current.processed)

    def _epoch_source(self) -> Callable[[], int] | None:
        """The epoch the attached trainer is about to train, read when a pass over the training data
        begins. A resumed run begins its first pass (and fetches its first batch) before Lightning has
        restored its loops, while their counters still say 0: the epoch then comes from the checkpoint's
        state of this module (:meth:`load_state_dict`)."""
        if self.trainer is None:
            return None
        return lambda: max(self._epochs_done(), self._resumed_epoch)

    def state_dict(self) -> dict[str, int]:
        """What a checkpoint keeps of the data: the epoch a run resumed from it trains first."""
        return {"next_epoch": self._epochs_done()} if self.trainer is not None else {}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Restored by Lightning from the checkpoint a run resumes from, before any loader is made."""
        self._resumed_epoch = int(state_dict.get("next_epoch", 0))

    # -- loaders -----------------------------------------------------------------------------------------

    def _loader_options(self) -> dict[str, bool | int]:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def train_stream(self) -> ShardStream:
        """This rank's training stream (``streaming=True``)."""
        self._load("train")
        rank, world_size = self._rank()
        return ShardStream(
            self.layouts["train"],
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            bucket=self.bucket,
            shuffle_buffer=self.shuffle_buffer,
            chunk_size=self.chunk_size,
            max_length=self.max_length,
            rank=rank,
            world_size=world_size,
            num_workers=self.num_workers,
        )

    def train_batch_sampler(self) -> EpochBatchSampler:
        """This rank's training batches of the split in memory (``streaming=False``)."""
        self._load("train")
        data = self.datasets.get("train")
        if data is None:
            raise ValueError("the in-memory batch sampler needs JetDataModule(streaming=False)")
        rank, world_size = self._rank()
        return EpochBatchSampler(
            len(data),
            self.batch_size,
            self.seed,
            lengths=data.lengths if self.bucket else None,
            num_replicas=world_size,
            rank=rank,
            labels=data.labels,
        )

    def train_dataloader(self) -> DataLoader:
        epoch = self._epoch_source()
        if self.streaming:
            stream = self.train_stream()
            if epoch is not None:
                stream.set_epoch(epoch())
            return StreamLoader(stream, epoch=epoch, **self._loader_options())
        sampler = self.train_batch_sampler()
        if epoch is not None:
            # workers fetch batch indices as soon as the loader is iterated, and Lightning iterates the
            # first loader of a resumed run before it sets the sampler's epoch
            sampler.set_epoch(epoch())
        return DataLoader(
            _Batches(self.datasets["train"]), sampler=sampler, batch_size=None, **self._loader_options()
        )

    def _eval_loader(self, split: str) -> DataLoader:
        self._load(split)
        rank, world_size = self._rank()
        if self.streaming:
            stream = ShardStream(
                self.layouts[split],
                self.eval_batch_size,
                shuffle=False,
                shuffle_buffer=self.shuffle_buffer,
                max_length=self.max_length,
                rank=rank,
                world_size=world_size,
                num_workers=self.num_workers,
            )
            return StreamLoader(stream, **self._loader_options())
        start, stop = rank_rows(len(self.datasets[split]), rank, world_size)
        batches = [
            np.arange(a, min(a + self.eval_batch_size, stop))
            for a in range(start, stop, self.eval_batch_size)
        ]
        return DataLoader(
            _Batches(self.datasets[split]), sampler=batches, batch_size=None, **self._loader_options()
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
