"""Build stage: from ingest shards to standardised constituent sequences, jet images and high-level features.

The standardisation is fitted on the training split only, written as its own output, and applied to
every split. Shards are read a chunk at a time and written as record batches, so memory follows the
chunk size. Every output appears whole or not at all (:mod:`jettag.shards`): a build killed or failing
midway leaves none of a split's shards, or the summary, half-written at its path; one that fails with an
error also removes what an earlier build wrote there.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from jettag import __version__
from jettag.features.augment import augment_jets
from jettag.features.images import jet_images
from jettag.features.invariants import invariant_features
from jettag.features.sequences import constituent_features, order_constituents
from jettag.ingest.split import jet_uniform
from jettag.jetclass import BINARY_LABEL_NAMES, BUILD_OBSERVERS, HIGH_LEVEL_FEATURES
from jettag.progress import Progress
from jettag.settings import BuildSettings
from jettag.shards import ShardWriter, iterate_shard, read_shard, write_text_atomically
from jettag.standardisation import Standardisation, flat, jagged

__all__ = [
    "build_split",
    "constituent_sequences",
    "fit_standardisation",
    "load_highlevel",
    "read_shards",
]

log = logging.getLogger(__name__)


def read_shards(paths: Sequence[str | Path], chunk_size: int) -> Iterator[tuple[Path, ak.Array]]:
    """``(shard, jets)`` chunks of ingest shards, one shard after the other; empty shards yield nothing."""
    for path in map(Path, paths):
        for jets in iterate_shard(path, chunk_size):
            if len(jets):
                yield path, jets


def constituent_sequences(jets: ak.Array, settings: BuildSettings) -> ak.Array:
    """Features of each jet's constituents, in the configured order, with the invariants switched on
    (:mod:`jettag.features.invariants`, from all constituents), cut at ``max_length``."""
    features = constituent_features(jets, with_pid=settings.with_pid)
    order = order_constituents(jets, settings.ordering)
    ordered = features[order]
    if settings.invariants:
        columns = {name: flat(ordered[name], np.float32) for name in ak.fields(ordered)}
        extra = invariant_features(jets, order, settings.invariants)
        columns |= {name: values.astype(np.float32) for name, values in extra.items()}
        ordered = jagged(columns, ak.to_numpy(ak.num(ordered, axis=1)))
    return ordered[:, : settings.max_length]


def fit_standardisation(
    train_shards: Sequence[str | Path], settings: BuildSettings, output: str | Path
) -> Standardisation:
    """Fit mean and std of every feature on the training split (after ordering and truncation)."""
    shards = read_shards(train_shards, settings.chunk_size)
    chunks = (constituent_sequences(jets, settings) for _, jets in shards)
    standardisation = Standardisation.fit_chunks(chunks)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    standardisation.to_json(output)
    return standardisation


def _label_names(ingest_summary: dict[str, Any] | None) -> list[str]:
    """Class names by label value, from the ingest summary (binary when it names none)."""
    if ingest_summary is None:
        return list(BINARY_LABEL_NAMES)
    return list(ingest_summary.get("label_names", BINARY_LABEL_NAMES))


def _balance_keep(ingest_summary: dict[str, Any], split: str, label_names: list[str]) -> np.ndarray:
    """Fraction of each class (by label value) kept so that every class present has the count of the
    smallest one; from the per-class counts, or for a binary summary without them from signal and
    background."""
    counts = ingest_summary["splits"][split]
    per_class = counts.get("classes")
    if per_class is None or len(label_names) == 2:
        n = np.array([counts["background"], counts["signal"]], dtype=np.float64)
    else:
        n = np.array([per_class[name] for name in label_names], dtype=np.float64)
    present = n > 0
    smallest = n[present].min() if present.any() else 0.0
    return np.where(present, smallest / np.where(present, n, 1.0), 1.0)


def build_split(
    split: str,
    shards: Sequence[str | Path],
    standardisation: str | Path,
    settings: BuildSettings,
    output_dir: str | Path,
    ingest_summary: str | Path | None = None,
) -> dict[str, Any]:
    """Write the ``sequences``, ``images`` and ``highlevel`` shards and ``summary.json`` of a split.

    ``sequences.arrow``: per jet the standardised constituent features (jagged, in order), ``length``,
    ``label`` and the observers; ``images.arrow``: ``image`` (size*size float32, row-major, rows Delta eta)
    and ``label``; ``highlevel.arrow``: the BDT features, ``label`` and the observers.

    The class names come from ``ingest_summary`` (binary without one); ``summary.json`` records them as
    ``label_names``, with ``n_classes`` (the network outputs: 1 for a binary tagger) and the jets of each
    class. ``settings.balance`` keeps every class at the count of the smallest one.
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    std = Standardisation.from_json(standardisation)
    summary = None if ingest_summary is None else json.loads(Path(ingest_summary).read_text())
    label_names = _label_names(summary)
    keep_fraction = None
    if settings.balance:
        if summary is None:
            raise ValueError("class balancing needs the ingest summary (the class counts per split)")
        keep_fraction = _balance_keep(summary, split, label_names)
    empty = _empty_columns(std, settings)
    writers = {
        name: ShardWriter(output_dir / f"{name}.arrow", ak.zip(empty[name], depth_limit=1)) for name in empty
    }
    counts = {"jets_in": 0, "jets_out": 0, "dropped": {"class_balance": 0}, "signal": 0, "background": 0}
    copies = settings.augment.copies if split == "train" else 0
    augmented = 0
    per_class = np.zeros(len(label_names), dtype=np.int64)
    progress = Progress(log, f"build {split}", 0, "jets")
    try:
        for shard, jets in read_shards(shards, settings.chunk_size):
            counts["jets_in"] += len(jets)
            label = ak.to_numpy(jets.label).astype(np.int64)
            if len(label) and (label.min() < 0 or label.max() >= len(label_names)):
                raise ValueError(
                    f"{shard}: labels {sorted(set(label.tolist()))} outside the classes {label_names}"
                    + ("" if summary else "; a multi-class build needs the ingest summary (--ingest-summary)")
                )
            if keep_fraction is not None:
                # jet_uniform keys on the last path component: the shard's folder names the sample
                u = jet_uniform(f"{shard.parent.name}.balance", ak.to_numpy(jets.entry))
                keep = u < keep_fraction[label]
                counts["dropped"]["class_balance"] += int((~keep).sum())
                jets, label = jets[keep], label[keep]
            if len(jets) == 0:
                continue
            _write_chunk(jets, std, settings, writers)
            for copy in range(1, copies + 1):
                rng = np.random.default_rng([settings.augment.seed, copy, zlib.crc32(str(shard).encode()),
                                             int(ak.to_numpy(jets.entry)[0])])  # fmt: skip
                _write_chunk(augment_jets(jets, settings.augment, rng), std, settings, writers, AUGMENTED)
                augmented += len(jets)
            per_class += np.bincount(label, minlength=len(label_names))
            counts["jets_out"] += len(jets)
            counts["signal"] += int((label > 0).sum())
            counts["background"] += int((label == 0).sum())
            progress.update(counts["jets_in"])
    except BaseException:
        # no half-written shard a rerun would trust, nor an earlier build's summary without its shards
        for writer in writers.values():
            writer.abort()
        (output_dir / "summary.json").unlink(missing_ok=True)
        raise
    for writer in writers.values():
        writer.close()
    result = {
        "jettag_version": __version__,
        "split": split,
        "settings": settings.to_dict(),
        "features": std.names,
        "n_classes": len(label_names) if (summary or {}).get("multiclass") else 1,
        "label_names": label_names,
        **counts,
        # the transformed copies in sequences.arrow and images.arrow (build.augment), beside jets_out
        "augmented": augmented,
        "classes": dict(zip(label_names, per_class.tolist(), strict=True)),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_text_atomically(output_dir / "summary.json", json.dumps(result, indent=2) + "\n")
    return result


def _columns(jets: ak.Array, std: Standardisation, settings: BuildSettings) -> dict[str, dict[str, Any]]:
    sequences = std.apply(constituent_sequences(jets, settings))
    observers = {name: ak.to_numpy(jets[name]).astype(np.float32) for name in BUILD_OBSERVERS}
    label = ak.to_numpy(jets.label).astype(np.int8)
    pt = np.hypot(jets.part_px, jets.part_py)
    images = jet_images(jets.part_deta, jets.part_dphi, pt, settings.image)
    size = settings.image.size
    tau1, tau2, tau3 = (ak.to_numpy(jets[f"jet_tau{k}"]).astype(np.float64) for k in (1, 2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau21 = np.where(tau1 > 0, tau2 / tau1, 0.0)
        tau32 = np.where(tau2 > 0, tau3 / tau2, 0.0)
    return {
        "sequences": {
            "features": sequences,
            "length": ak.to_numpy(ak.num(sequences, axis=1)).astype(np.int32),
            "label": label,
            "entry": ak.to_numpy(jets.entry),
            **observers,
        },
        "images": {
            "image": ak.to_regular(ak.from_numpy(images.reshape(len(images), size * size)), axis=1),
            "label": label,
        },
        "highlevel": {
            "jet_mass": observers["jet_mass"],
            "jet_sdmass": observers["jet_sdmass"],
            "tau21": tau21.astype(np.float32),
            "tau32": tau32.astype(np.float32),
            "jet_nparticles": ak.to_numpy(jets.jet_nparticles).astype(np.float32),
            # not a BDT feature: the report's dataset figure shows it
            "jet_lead_pt_fraction": (ak.to_numpy(ak.max(pt, axis=1)) / observers["jet_pt"]).astype(
                np.float32
            ),
            "label": label,
            **{k: v for k, v in observers.items() if k not in ("jet_mass", "jet_sdmass")},
        },
    }


#: the outputs that take the augmented copies of the training jets: the BDT's high-level features do not
AUGMENTED = ("sequences", "images")


def _write_chunk(
    jets: ak.Array,
    std: Standardisation,
    settings: BuildSettings,
    writers: dict[str, ShardWriter],
    outputs: Sequence[str] | None = None,
) -> None:
    for name, columns in _columns(jets, std, settings).items():
        if outputs is None or name in outputs:
            writers[name].write(ak.zip(columns, depth_limit=1))


def _empty_columns(std: Standardisation, settings: BuildSettings) -> dict[str, dict[str, Any]]:
    """Zero-length columns with the right types, for a split that ends up empty."""
    features = ak.Array(
        ak.contents.ListOffsetArray(
            ak.index.Index64(np.zeros(1, np.int64)),
            ak.contents.RecordArray(
                [ak.contents.NumpyArray(np.empty(0, np.float32)) for _ in std.names], std.names
            ),
        )
    )
    f32 = np.empty(0, np.float32)
    label = np.empty(0, np.int8)
    size = settings.image.size
    observers = dict.fromkeys(BUILD_OBSERVERS, f32)
    return {
        "sequences": {
            "features": features,
            "length": np.empty(0, np.int32),
            "label": label,
            "entry": np.empty(0, np.int64),
            **observers,
        },
        "images": {
            "image": ak.to_regular(ak.from_numpy(np.empty((0, size * size), np.float32)), axis=1),
            "label": label,
        },
        "highlevel": {
            "jet_mass": f32,
            "jet_sdmass": f32,
            "tau21": f32,
            "tau32": f32,
            "jet_nparticles": f32,
            "jet_lead_pt_fraction": f32,
            "label": label,
            "jet_pt": f32,
            "jet_eta": f32,
            "jet_phi": f32,
        },
    }


def load_highlevel(
    path: str | Path, features: Sequence[str] = HIGH_LEVEL_FEATURES, n_labels: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """The features (float64, one column per feature, in order) and labels of a ``highlevel.arrow`` shard;
    labels must lie in ``0 .. n_labels - 1`` (binary: 0 background, 1 signal)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such high-level shard")
    jets = read_shard(path)
    fields = ak.fields(jets)
    missing = [name for name in (*features, "label") if name not in fields]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; the shard has {', '.join(fields)}")
    X = np.empty((len(jets), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        X[:, j] = ak.to_numpy(jets[name])
    y = ak.to_numpy(jets["label"]).astype(np.int64)
    if not np.isin(y, np.arange(n_labels)).all():
        if n_labels == 2:
            raise ValueError(f"{path}: column label must hold 0 (background) or 1 (signal)")
        raise ValueError(f"{path}: column label must hold class indices 0 to {n_labels - 1}")
    return X, y
