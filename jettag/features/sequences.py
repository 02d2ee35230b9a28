"""Constituent sequences for recurrent taggers: per-particle features, orderings, padding and packing.

An LSTM or GRU reads a jet as a sequence of constituents. This module turns the jagged JetClass branches
(``part_*`` per particle, ``jet_*`` per jet) into the seven standard features of the field, orders the
constituents (by pT, by Delta R or along the kt clustering tree), pads them to a fixed length with a mask,
packs them for ``torch.nn.utils.rnn``, standardises them with parameters that are a declared output (JSON),
and groups jets of similar length into batches so that little of each batch is padding.

Everything runs on flat numpy arrays and jagged offsets: there is no Python loop over jets.
"""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from jettag.jetclass import ORDERINGS, PID_BRANCHES
from jettag.standardisation import flat, jagged

__all__ = [
    "constituent_features",
    "length_buckets",
    "order_constituents",
    "pack",
    "padding_fraction",
]

_KINEMATIC_BRANCHES = ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi")
_JET_BRANCHES = ("jet_pt", "jet_energy")

#: momenta (GeV) below this are clamped before the logarithm, so a zero-momentum particle gives a finite
#: (very negative) feature instead of -inf that would poison standardisation and training
_LOG_FLOOR = 1e-6

#: kt reclustering radius: far above any constituent separation, so every constituent joins one tree
_RECLUSTER_R = 10.0

#: :func:`length_buckets` sorts by length within chunks of this many batches
_BUCKET_CHUNK_BATCHES = 50


def _require(jets: ak.Array, names: tuple[str, ...] | list[str], what: str) -> None:
    missing = [name for name in names if name not in ak.fields(jets)]
    if missing:
        raise ValueError(
            f"{what} needs the fields {missing}, which the jets lack (they have {ak.fields(jets)})"
        )


def _counts(jets: ak.Array, names: tuple[str, ...]) -> np.ndarray:
    """Constituents per jet, checked to be the same for every jagged branch in ``names``."""
    counts = ak.to_numpy(ak.num(jets[names[0]], axis=1)).astype(np.int64)
    for name in names[1:]:
        if not np.array_equal(ak.to_numpy(ak.num(jets[name], axis=1)), counts):
            raise ValueError(f"branch {name!r} has a different number of particles per jet than {names[0]!r}")
    return counts


def constituent_features(jets: ak.Array, with_pid: bool = False) -> ak.Array:
    """Per-constituent features (float32), one field per name of ``STANDARD_FEATURES`` (+ ``PID_FEATURES``).

    log pT, log E, log(pT / pT_jet), log(E / E_jet), Delta R = hypot(deta, dphi) to the jet axis, deta, dphi;
    with ``with_pid`` also the charge and the five particle-type flags. Momenta are clamped at 1e-6 GeV
    before the logarithm. Constituents keep the order of the input branches.
    """
    _require(jets, _KINEMATIC_BRANCHES + _JET_BRANCHES, "constituent_features")
    if with_pid:
        _require(jets, list(PID_BRANCHES.values()), "constituent_features(with_pid=True)")
    counts = _counts(jets, _KINEMATIC_BRANCHES)
    px, py = flat(jets["part_px"]), flat(jets["part_py"])
    energy = flat(jets["part_energy"])
    deta, dphi = flat(jets["part_deta"]), flat(jets["part_dphi"])
    jet_pt = np.repeat(ak.to_numpy(jets["jet_pt"]).astype(np.float64), counts)
    jet_energy = np.repeat(ak.to_numpy(jets["jet_energy"]).astype(np.float64), counts)

    log_pt = np.log(np.maximum(np.hypot(px, py), _LOG_FLOOR))
    log_e = np.log(np.maximum(energy, _LOG_FLOOR))
    columns = {
        "log_pt": log_pt,
        "log_e": log_e,
        "log_pt_rel": log_pt - np.log(np.maximum(jet_pt, _LOG_FLOOR)),
        "log_e_rel": log_e - np.log(np.maximum(jet_energy, _LOG_FLOOR)),
        "delta_r": np.hypot(deta, dphi),
        "deta": deta,
        "dphi": dphi,
    }
    if with_pid:
        columns |= {name: flat(jets[branch]) for name, branch in PID_BRANCHES.items()}
    return jagged({name: values.astype(np.float32) for name, values in columns.items()}, counts)


def _argsort_within(key: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Flat positions that sort ``key`` increasingly inside each jet (stable: ties keep input order)."""
    jet_of = np.repeat(np.arange(len(counts)), counts)
    return np.lexsort((key, jet_of))


def order_constituents(jets: ak.Array, ordering: str = "pt") -> ak.Array:
    """Jagged int64 local indices putting each jet's constituents in ``ordering``; use as ``features[order]``.

    - ``"pt"``: decreasing pT.
    - ``"delta_r"``: increasing Delta R = hypot(deta, dphi) to the jet axis.
    - ``"kt"``: the jet's constituents are reclustered with FastJet's kt algorithm (R = 10, so they form one
      tree) and read in the order of a depth-first walk of that tree from the final jet, where at each merging
      the branch holding the harder leading constituent (the highest-pT single particle) is walked first.
      So the first constituent is the hardest, and every kt subjet, i.e. every node of the tree, fills one
      contiguous block: a jet reads as its hardest prong, grown outwards from the hardest particle by its
      kt-nearest soft neighbours, then the next prong, and so on. An RNN thereby sees the substructure that
      recursive networks over the kt tree use, as a sequence. The walk is FastJet's
      ``unique_history_order`` on the pT-ordered constituents (it walks first the branch with the lowest input
      index), which also makes the order independent of ties in the clustering distances.

    Ties in pT or Delta R keep the input order.
    """
    if ordering not in ORDERINGS:
        raise ValueError(
            f"unknown constituent ordering {ordering!r}; known orderings: {', '.join(ORDERINGS)}"
        )
    if ordering == "delta_r":
        _require(jets, ("part_deta", "part_dphi"), "order_constituents('delta_r')")
        counts = _counts(jets, ("part_deta", "part_dphi"))
        positions = _argsort_within(np.hypot(flat(jets["part_deta"]), flat(jets["part_dphi"])), counts)
    else:
        names = ("part_px", "part_py") + (("part_pz", "part_energy") if ordering == "kt" else ())
        _require(jets, names, f"order_constituents({ordering!r})")
        counts = _counts(jets, names)
        positions = _argsort_within(-np.hypot(flat(jets["part_px"]), flat(jets["part_py"])), counts)
        if ordering == "kt":
            positions = _kt_order(jets, positions, counts)
    starts = np.cumsum(counts) - counts
    local = positions - np.repeat(starts, counts)
    return ak.unflatten(local.astype(np.int64), counts)


def _kt_order(jets: ak.Array, by_pt: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Flat positions of the constituents in kt-tree order (see :func:`order_constituents`), given the flat
    positions ``by_pt`` that order each jet by decreasing pT."""
    if counts.sum() == 0:
        return by_pt
    momenta = {
        key: flat(jets[branch])[by_pt]
        for key, branch in (("px", "part_px"), ("py", "part_py"), ("pz", "part_pz"), ("E", "part_energy"))
    }
    events = ak.unflatten(ak.zip(momenta, with_name="Momentum4D"), counts)
    sequence = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.kt_algorithm, _RECLUSTER_R))
    history = sequence.unique_history_order()
    steps = ak.to_numpy(ak.flatten(history)).astype(np.int64)
    jet_of = np.repeat(np.arange(len(counts)), ak.to_numpy(ak.num(history)))
    # history entries below the jet's particle count are its input particles; the rest are merging steps
    is_particle = steps < counts[jet_of]
    if is_particle.sum() != counts.sum():
        raise RuntimeError("FastJet's unique_history_order did not list every constituent exactly once")
    starts = np.cumsum(counts) - counts
    return by_pt[starts[jet_of[is_particle]] + steps[is_particle]]


def pack(values: torch.Tensor, lengths: torch.Tensor) -> PackedSequence:
    """Pack padded ``[batch, time, features]`` values for an RNN, so it never reads the padding.

    Jets need not be sorted by length. torch cannot pack a sequence of length 0: such jets raise a
    ``ValueError`` and must be dropped or given a sentinel constituent by the caller.
    """
    lengths = torch.as_tensor(lengths).to(device="cpu", dtype=torch.int64)
    if lengths.ndim != 1 or values.ndim != 3 or len(lengths) != values.shape[0]:
        raise ValueError(
            f"expected values [batch, time, features] and lengths [batch], got {tuple(values.shape)} "
            f"and {tuple(lengths.shape)}"
        )
    empty = torch.nonzero(lengths <= 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"jets at batch positions {empty} have no constituents; torch cannot pack length-0 sequences, "
            "so drop those jets or give them a sentinel constituent"
        )
    if int(lengths.max()) > values.shape[1]:
        raise ValueError(f"a length of {int(lengths.max())} exceeds the padded length {values.shape[1]}")
    return pack_padded_sequence(values, lengths, batch_first=True, enforce_sorted=False)


def length_buckets(
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    labels: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Batches of jet indices with similar lengths, every index exactly once, deterministic per ``seed``.

    With ``shuffle`` the jets are shuffled, cut into chunks of 50 batches, sorted by length within each
    chunk and cut into batches, and the batch order is shuffled; without it the chunks follow the input
    order and the batches stay in order. Sorting within chunks rather than globally keeps batches varied
    between epochs (different seeds) while a padded batch is mostly real constituents; see
    :func:`padding_fraction`.

    With ``labels`` (one class per jet) a chunk is sorted by each jet's length quantile within its own class
    instead, so that every batch holds the classes in the chunk's proportions, each at similar lengths. The
    number of constituents separates top from QCD jets: sorted by length alone, a batch is nearly all one
    class, its loss is lowered by the length alone, and a recurrent tagger sat for epochs where it had
    learnt the jet mass (benchmarks/README.md, "class-mixed buckets").
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be one-dimensional, got shape {lengths.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if labels is not None and np.shape(labels) != lengths.shape:
        raise ValueError(f"{np.shape(labels)} labels for {lengths.shape} lengths: one label per jet")
    rng = np.random.default_rng(seed)
    index = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    chunk = batch_size * _BUCKET_CHUNK_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(index), chunk):
        part = index[start : start + chunk]
        key = lengths[part] if labels is None else _class_quantiles(lengths[part], np.asarray(labels)[part])
        part = part[np.argsort(key, kind="stable")]
        batches.extend(np.split(part, np.arange(batch_size, len(part), batch_size)))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return [batch.astype(np.int64) for batch in batches]


def _class_quantiles(lengths: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each jet's length quantile (mid-rank over the class size) among the jets of its own class."""
    quantile = np.empty(len(lengths), np.float64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank = np.argsort(np.argsort(lengths[members], kind="stable"), kind="stable")
        quantile[members] = (rank + 0.5) / len(members)
    return quantile


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of padded slots when every batch is padded to its own longest jet (0: no padding at all)."""
    lengths = np.asarray(lengths)
    slots = sum(len(batch) * int(lengths[batch].max()) for batch in batches if len(batch))
    real = sum(int(lengths[batch].sum()) for batch in batches)
    return 1.0 - real / slots if slots else 0.0
