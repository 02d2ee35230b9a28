"""The learning curve's training sets: nested subsets of the ingested training split.

Every jet of the training split gets a key from a hash of its ingest file's name and its entry number in
that file (:func:`jettag.ingest.split.jet_uniform`, salted apart from the hash that chose its split).
Ordered by key, the jets are one fixed shuffled order of the split, and the subset of ``size`` jets is the
first ``size`` of that order: the subset of 1000 jets lies inside that of 3000, and neither changes when
the shards are listed in another order or read in other chunks. A subset is written in that shuffled
order, as record batches of at most ``chunk_size`` jets, so that every stretch of the file holds the
classes in the subset's proportions whatever order the shards came in (ingest shards are often one class
each: a file of top jets, then one of QCD); its summary counts the jets read, kept and left out by shard.
The subset is held in memory while it is put in order (about 3 kB a jet).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow.feather as feather

from jettag import __version__
from jettag.ingest.split import jet_uniform
from jettag.ingest.summary import add_counts, split_counts
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.shards import ShardWriter, iterate_shard, write_text_atomically

__all__ = ["order_keys", "subset_train_split"]

log = logging.getLogger(__name__)

#: what the order's hash is salted with, so that it is independent of the split's own
SALT = "learning_curve"


def order_keys(shard: str | Path, entries: np.ndarray) -> np.ndarray:
    """The key of each jet of an ingest shard (``<name>/train.arrow``) in the fixed shuffled order: a
    number in [0, 1) from the shard's file name (its directory) and the jet's entry number."""
    return jet_uniform(f"{Path(shard).parent.name}.{SALT}", entries)


def _entries(shard: Path) -> np.ndarray:
    if not shard.is_file():
        raise FileNotFoundError(f"{shard}: no such ingest shard")
    table = feather.read_table(str(shard), columns=["entry"], memory_map=True)
    entries: np.ndarray = table.column("entry").to_numpy().astype(np.int64)
    return entries


def subset_train_split(
    shards: Sequence[str | Path],
    size: int,
    output_dir: str | Path,
    ingest_summary: str | Path | None = None,
    chunk_size: int = 20000,
) -> dict[str, Any]:
    """Write the first ``size`` jets (in the fixed shuffled order, see the module) of the training split's
    ingest ``shards`` to ``output_dir/train.arrow`` and the dataset summary of the subset to
    ``output_dir/summary.json``: ``ingest_summary`` (the dataset's, for the classes and the validation and
    test counts) with the training split's counts those of the subset, and ``subset`` with the jets read,
    kept and left out (``beyond_size``) in all and by shard. Returns that summary.

    Raises ``ValueError`` naming ``learning_curve.sizes`` when the split has fewer than ``size`` jets."""
    paths = [Path(s) for s in shards]
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"learning_curve.sizes: a subset needs a positive number of jets, got {size!r}")
    output_dir = Path(output_dir)
    dataset = None if ingest_summary is None else json.loads(Path(ingest_summary).read_text())
    label_names = list((dataset or {}).get("label_names", BINARY_LABEL_NAMES))

    keys = [order_keys(shard, _entries(shard)) for shard in paths]
    total = sum(len(k) for k in keys)
    if size > total:
        raise ValueError(
            f"learning_curve.sizes: {size} training jets asked for, but the training split has {total} "
            f"(in {len(paths)} ingest shard(s)); generate more jets (generate.shards), give more inputs, or "
            "lower the size"
        )
    # the first `size` of the order; a (most improbable) tie of keys goes to the shard listed first
    chosen = np.zeros(total, dtype=bool)
    chosen[np.argsort(np.concatenate(keys), kind="stable")[:size]] = True
    offsets = np.cumsum([0, *(len(k) for k in keys)])

    counts = split_counts(label_names)
    by_shard: dict[str, dict[str, int]] = {}
    selected: list[ak.Array] = []
    selected_keys: list[np.ndarray] = []
    writer = ShardWriter(output_dir / "train.arrow")
    try:
        for i, shard in enumerate(paths):
            keep = chosen[offsets[i] : offsets[i + 1]]
            by_shard[str(shard)] = {"jets_in": len(keep), "jets_out": int(keep.sum())}
            if not keep.any():
                continue
            start = 0
            for jets in iterate_shard(shard):
                mask = keep[start : start + len(jets)]
                if mask.any():
                    selected.append(jets[mask])
                    selected_keys.append(keys[i][start : start + len(jets)][mask])
                    add_counts(counts, ak.to_numpy(jets.label[mask]), label_names)
                start += len(jets)
            if start != len(keep):
                raise ValueError(f"{shard}: {start} jets read, but its entry column has {len(keep)}")
        # in the fixed shuffled order (ties, most improbable, to the shard listed first)
        subset = ak.concatenate(selected) if len(selected) > 1 else selected[0]
        subset = subset[np.argsort(np.concatenate(selected_keys), kind="stable")]
        for begin in range(0, len(subset), chunk_size):
            writer.write(subset[begin : begin + chunk_size])
    except BaseException:
        writer.abort()
        (output_dir / "summary.json").unlink(missing_ok=True)
        raise
    writer.close()

    result: dict[str, Any] = copy.deepcopy(dataset) if dataset is not None else {"label_names": label_names}
    result.setdefault("splits", {})["train"] = counts
    result["subset"] = {
        "jettag_version": __version__,
        "split": "train",
        "size": int(size),
        "order": f"first {size} jets by a hash of the ingest file's name and the jet's entry ({SALT})",
        "jets_in": int(total),
        "jets_out": int(counts["jets"]),
        "dropped": {"beyond_size": int(total - counts["jets"])},
        "shards": by_shard,
    }
    write_text_atomically(output_dir / "summary.json", json.dumps(result, indent=2) + "\n")
    log.info("training subset of %d jets from %d in %d shard(s)", counts["jets"], total, len(paths))
    return result
