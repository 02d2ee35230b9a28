"""Training data streamed from the built shards: memory follows a buffer size, not the split.

:class:`ShardStream` is an ``IterableDataset`` that yields whole batches (the dicts of
:meth:`jettag.train.arrays.SequenceArrays.batch`) read from the units of a split
(:func:`jettag.train.arrays.scan_split`: record batches of the shards, in file order).

Training (``shuffle=True``):

- The units are dealt to the ranks, then to each rank's data-loader workers, balancing jets (the largest
  unit goes to the part with the fewest jets so far). A (rank, worker) stream keeps its units in every
  epoch; their order and the batches change.
- Units are record batches cut to at most ``shuffle_buffer / UNITS_PER_BUFFER`` jets (a batch at the
  least), so that a buffer is filled from many places of the split: a shard written in class order (one
  class, then the other) still gives batches of both classes.
- Each epoch a stream reads its units in an order drawn from ``(seed, epoch, rank, worker)`` into a
  buffer; once the buffer holds ``shuffle_buffer`` jets they are cut into full batches, by length within
  each class (:func:`jettag.features.sequences.length_buckets` with the labels, so every batch holds the
  classes in the buffer's proportions) for sequences, else at random, and the few left over
  (fewer than a batch) are carried into the next buffer. The last buffer of the epoch gives the one short
  batch, so a stream of ``n`` jets yields each of them once, in ``ceil(n / batch_size)`` batches.
- Under DDP every rank must take the same number of steps: each yields as many batches as the rank with
  the fewest has, a rank with more dropping the last batches of its longest streams (a few jets an epoch,
  not the same ones each epoch). With one rank no jet is dropped.
- The batches depend on the seed, the epoch, the number of ranks and of workers, and nothing else: not on
  the global random state, the timing of workers, or whether the run was resumed.

Evaluation (``shuffle=False``): each rank takes a contiguous share of the split's jets, cut into batches
of ``batch_size`` in file order; worker ``w`` of ``W`` makes batches ``w, w + W, ...``, which the data
loader hands out in order. Every jet once, in file order; the ranks' shares in rank order make the split.

Memory per stream: the buffer (``shuffle_buffer`` jets, plus up to one unit and one batch carried over)
and one decoded record batch. The epoch is shared memory, so persistent workers see
:meth:`ShardStream.set_epoch` from the main process.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from jettag.features.sequences import length_buckets
from jettag.train.arrays import Arrays, ShardReader, SplitLayout, Unit, concatenate, split_units

__all__ = ["UNITS_PER_BUFFER", "ShardStream", "StreamLoader", "deal", "rank_rows"]

#: the fewest units a full shuffle buffer is filled from (units are cut to fit), whatever the record batches
UNITS_PER_BUFFER = 32


def deal(units: Sequence[Unit], parts: int) -> list[list[Unit]]:
    """``units`` dealt into ``parts`` lists of similar numbers of jets (largest unit first, to the part
    with the fewest jets so far; ties to the lower part), each list in the order of ``units``."""
    heap = [(0, part) for part in range(parts)]
    chosen: list[list[int]] = [[] for _ in range(parts)]
    for i in sorted(range(len(units)), key=lambda i: (-units[i].n_jets, i)):
        jets, part = heapq.heappop(heap)
        chosen[part].append(i)
        heapq.heappush(heap, (jets + units[i].n_jets, part))
    return [[units[i] for i in sorted(part)] for part in chosen]


def rank_rows(n_jets: int, rank: int, world_size: int) -> tuple[int, int]:
    """The contiguous rows ``[start, stop)`` of ``n_jets`` that ``rank`` of ``world_size`` evaluates."""
    return rank * n_jets // world_size, (rank + 1) * n_jets // world_size


def _quotas(counts: Sequence[int], total: int) -> list[int]:
    """Batches per stream so that they sum to ``total``: the largest counts are cut first."""
    quotas = list(counts)
    for _ in range(sum(counts) - total):
        largest = max(range(len(quotas)), key=lambda k: (quotas[k], k))
        quotas[largest] -= 1
    return quotas


class ShardStream(IterableDataset):
    """Batches of the units of ``layout`` for one rank (``rank`` of ``world_size``) and its
    ``num_workers`` data-loader workers (0: read in the main process); see the module docstring.

    ``shuffle=True`` makes training batches (length buckets for sequences when ``bucket``), reshuffled
    each epoch (:meth:`set_epoch`); ``shuffle=False`` evaluation batches in file order. ``chunk_size``
    cuts record batches into units of at most that many jets (None: ``shuffle_buffer / UNITS_PER_BUFFER``
    or a batch, whichever is more; they are cut finer anyway when there are fewer units than streams).
    ``max_length`` cuts sequences.
    ``len()`` is the number of batches this rank yields an epoch.
    """

    def __init__(
        self,
        layout: SplitLayout,
        batch_size: int,
        *,
        shuffle: bool,
        shuffle_buffer: int,
        seed: int = 0,
        bucket: bool = True,
        chunk_size: int | None = None,
        max_length: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be at least 1 jet, got {shuffle_buffer}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of {world_size} ranks")
        self.kind = layout.kind
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket = bucket and layout.kind == "sequence"
        self.shuffle_buffer = shuffle_buffer
        self.max_length = max_length
        self.rank = rank
        self.world_size = world_size
        self.n_streams = max(num_workers, 1)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        if shuffle:
            self._plan_training(layout, chunk_size)
        else:
            self._plan_evaluation(layout)

    # -- plans ---------------------------------------------------------------------------------------

    def _plan_training(self, layout: SplitLayout, chunk_size: int | None) -> None:
        streams = self.world_size * self.n_streams
        if chunk_size is None:
            chunk_size = max(self.batch_size, self.shuffle_buffer // UNITS_PER_BUFFER)
        units = split_units(layout.units, chunk_size)
        if len(units) < streams:
            units = split_units(units, max(1, layout.n_jets // streams))
        parts = [deal(rank_units, self.n_streams) for rank_units in deal(units, self.world_size)]
        counts = [
            [math.ceil(sum(u.n_jets for u in stream) / self.batch_size) for stream in rank_parts]
            for rank_parts in parts
        ]
        steps = min(sum(rank_counts) for rank_counts in counts)
        if steps == 0:
            raise ValueError(
                f"{layout.n_jets} training jets in {len(units)} units leave a rank without a batch "
                f"({self.world_size} ranks x {self.n_streams} workers); use fewer of either"
            )
        #: the units of each worker of this rank
        self.parts: list[list[Unit]] = parts[self.rank]
        #: batches each worker of this rank yields an epoch
        self.quotas = _quotas(counts[self.rank], steps)
        #: batches an epoch this rank drops to keep in step with the others
        self.dropped = sum(counts[self.rank]) - steps
        self._length = steps

    def _plan_evaluation(self, layout: SplitLayout) -> None:
        start, stop = rank_rows(layout.n_jets, self.rank, self.world_size)
        #: global row ranges of this rank's batches, in file order
        self.batches = [(a, min(a + self.batch_size, stop)) for a in range(start, stop, self.batch_size)]
        self._units = layout.units
        self._starts = np.cumsum([0] + [unit.n_jets for unit in layout.units[:-1]]).tolist()
        self._length = len(self.batches)

    # -- epochs --------------------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def __len__(self) -> int:
        return self._length

    # -- iteration -----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if workers != self.n_streams:
            raise RuntimeError(
                f"the stream was planned for {self.n_streams} reading processes but runs in {workers}: "
                "give the data loader the stream's num_workers"
            )
        reader = ShardReader(self.kind, self.max_length)
        return self._training(reader, worker) if self.shuffle else self._evaluation(reader, worker)

    def _training(self, reader: ShardReader, worker: int) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
        units, quota = self.parts[worker], self.quotas[worker]
        yielded = 0
        pending: list[Arrays] = []
        n_pending = 0
        order = rng.permutation(len(units))
        for position, k in enumerate(order):
            piece = reader.read(units[k])
            pending.append(piece)
            n_pending += len(piece)
            final = position == len(order) - 1
            if n_pending < self.shuffle_buffer and not final:
                continue
            block = concatenate(pending)
            batches, carry = self._cut(block, rng, final)
            for index in batches:
                if yielded == quota:
                    return
                yield block.batch(index)
                yielded += 1
            pending = [] if carry is None else [carry]
            n_pending = 0 if carry is None else len(carry)

    def _cut(
        self, block: Arrays, rng: np.random.Generator, final: bool
    ) -> tuple[list[np.ndarray], Arrays | None]:
        """Batches (indices into ``block``) and the jets carried into the next buffer: all but fewer than
        a batch of them go into full batches, or all of them at the end of the epoch."""
        n = len(block)
        used = n if final else n - n % self.batch_size
        order = rng.permutation(n)
        use, rest = order[:used], order[used:]
        if self.bucket:
            seed = int(rng.integers(2**63))
            buckets = length_buckets(
                block.lengths[use], self.batch_size, seed, shuffle=True, labels=block.labels[use]
            )
            batches = [use[b] for b in buckets]
        else:
            batches = [use[i : i + self.batch_size] for i in range(0, used, self.batch_size)]
        return batches, (block.take(rest) if len(rest) else None)

    def _pieces(self, start: int, stop: int) -> Iterator[Unit]:
        """The unit slices holding the global rows ``[start, stop)``."""
        k = bisect.bisect_right(self._starts, start) - 1
        while start < stop:
            unit, first = self._units[k], self._starts[k]
            end = min(stop, first + unit.n_jets)
            yield Unit(unit.path, unit.batch, unit.start + start - first, unit.start + end - first)
            start, k = end, k + 1

    def _evaluation(self, reader: ShardReader, worker: int) -> Iterator[dict[str, torch.Tensor]]:
        for start, stop in self.batches[worker :: self.n_streams]:
            block = concatenate([reader.read(piece) for piece in self._pieces(start, stop)])
            yield block.batch(np.arange(len(block)))


class StreamLoader(DataLoader):
    """A ``DataLoader`` over a :class:`ShardStream`, whose batches come whole.

    With ``epoch`` (a function returning the current epoch, e.g. the trainer's) the stream is told the
    epoch each time a pass begins, before any worker reads. Lightning starts the first pass of a run,
    fresh or resumed, before it calls ``set_epoch`` on samplers, and a stream has no sampler to call.
    """

    def __init__(self, dataset: ShardStream, epoch: Callable[[], int] | None = None, **kwargs: Any) -> None:
        super().__init__(dataset, batch_size=None, **kwargs)
        self.epoch_source = epoch

    def __iter__(self) -> Any:
        if self.epoch_source is not None:
            self.dataset.set_epoch(self.epoch_source())
        return super().__iter__()
