"""Chunked readers of jet-constituent files, each yielding jets in the JetClass naming.

- ROOT files with the JetClass schema (TTree ``tree``; jagged ``part_*`` as ``vector<float>`` or ``float[]``),
  or any other names through a branch map (``{"part_px": "PFCands_px", ...}``);
- TopLandscape HDF5 (pandas, key ``table``: ``E_i, PX_i, PY_i, PZ_i`` for i < 200, zero-padded,
  ``is_signal_new``);
- TopLandscape parquet (``label``, ``jet_*``, jagged ``part_*``).

Every reader yields ``(entry_start, chunk)``: ``chunk`` is an awkward record array with at least
``part_px, part_py, part_pz, part_energy`` (jagged) and the label branches it knows; everything else
(``part_deta``, ``jet_sdmass``, ...) is optional and computed later from the constituents. Files are read
``chunk_size`` jets at a time, so memory is set by the chunk size, not by the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import uproot

from jettag.ingest.errors import IngestError
from jettag.jetclass import COUNTER_BRANCH, JET_BRANCHES, LABEL_BRANCHES, PARTICLE_BRANCHES

__all__ = [
    "REQUIRED_PARTICLE_BRANCHES",
    "TOPLANDSCAPE_LABELS",
    "file_kind",
    "iterate_file",
    "label_problems",
    "topland_label_map",
]

REQUIRED_PARTICLE_BRANCHES = ("part_px", "part_py", "part_pz", "part_energy")
#: TopLandscape's one flag, mapped onto the JetClass labels
TOPLANDSCAPE_SIGNAL, TOPLANDSCAPE_BACKGROUND = "label_Tbqq", "label_QCD"
TOPLANDSCAPE_LABELS = (TOPLANDSCAPE_SIGNAL, TOPLANDSCAPE_BACKGROUND)
_N_TOPLANDSCAPE = 200


def topland_label_map(is_top: np.ndarray) -> dict[str, np.ndarray]:
    is_top = np.asarray(is_top) != 0
    return {TOPLANDSCAPE_SIGNAL: is_top, TOPLANDSCAPE_BACKGROUND: ~is_top}


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".root":
        return "root"
    if suffix in {".h5", ".hdf5"}:
        return "hdf5"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    raise IngestError(path, f"unknown file type '{suffix}' (expected .root, .h5/.hdf5 or .parquet)")


def iterate_file(
    path: str | Path,
    labels: list[str],
    chunk_size: int,
    branch_map: Mapping[str, str] | None = None,
    tree: str = "tree",
) -> Iterator[tuple[int, ak.Array]]:
    """Chunks of jets of one file: ``(first entry, jets)``. Raises :class:`IngestError` for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(path, "file not found")
    kind = file_kind(path)
    if kind != "root":
        unknown = [label for label in labels if label not in TOPLANDSCAPE_LABELS]
        if unknown:
            raise IngestError(
                path,
                f"label(s) {', '.join(unknown)} asked for, but a TopLandscape {kind} file has one flag, "
                f"read as {TOPLANDSCAPE_SIGNAL} (top) and {TOPLANDSCAPE_BACKGROUND} (QCD)",
            )
    if kind == "root":
        yield from _iterate_root(path, labels, chunk_size, dict(branch_map or {}), tree)
    elif kind == "hdf5":
        yield from _iterate_toplandscape_hdf5(path, chunk_size)
    else:
        yield from _iterate_parquet(path, chunk_size)


def label_problems(
    path: str | Path, labels: Sequence[str], branch_map: Mapping[str, str] | None = None, tree: str = "tree"
) -> str | None:
    """Why ``labels`` cannot be read from ``path`` (naming the file and the label-like branches it has), or
    None when they can. A file that cannot be opened is left to ingest, which reports it in full."""
    path = Path(path)
    try:
        kind = file_kind(path)
    except IngestError as err:
        return str(err)
    if kind != "root":
        unknown = [label for label in labels if label not in TOPLANDSCAPE_LABELS]
        if unknown:
            return (
                f"{path}: a TopLandscape {kind} file has the labels {', '.join(TOPLANDSCAPE_LABELS)} only, "
                f"not {', '.join(unknown)}"
            )
        return None
    try:
        with uproot.open(path) as file:
            branches = file[tree].typenames()
    except Exception:  # not ROOT, no such tree, damaged: ingest names the file and the problem
        return None
    branch_map = dict(branch_map or {})
    missing = [label for label in labels if branch_map.get(label, label) not in branches]
    if not missing:
        return None
    known = {*PARTICLE_BRANCHES, *JET_BRANCHES, COUNTER_BRANCH}
    flat = [
        name
        for name, typename in branches.items()
        if name not in known and "[" not in typename and "vector" not in typename
    ]
    hints = []
    for label in missing:
        close = difflib.get_close_matches(branch_map.get(label, label), flat, n=1)
        hints.append(f"{label} (did you mean {close[0]}?)" if close else label)
    return (
        f"{path}: tree '{tree}' has no label branch {', '.join(hints)}; its other flat branches: "
        f"{', '.join(flat) or 'none'}"
    )


def _open_tree(path: Path, tree: str):
    try:
        file = uproot.open(path)
    except Exception as err:  # uproot raises several types for files that are not ROOT or are cut short
        raise IngestError(path, f"not a readable ROOT file ({type(err).__name__}: {err})") from None
    try:
        return file[tree]
    except KeyError:
        raise IngestError(
            path, f"no tree '{tree}' (has: {', '.join(file.keys(cycle=False)) or 'nothing'})"
        ) from None
    except Exception as err:
        raise IngestError(path, f"truncated or corrupt ROOT file ({type(err).__name__}: {err})") from None


def _check_types(path: Path, sample: ak.Array, wanted: dict[str, str]) -> None:
    """Jagged numbers for particle branches, flat numbers for jet and label branches."""
    for name, branch in wanted.items():
        layout = ak.to_layout(sample[branch])
        jagged = layout.is_list and layout.content.is_numpy
        flat = layout.is_numpy
        expected_jagged = name.startswith("part_")
        if expected_jagged and not jagged:
            raise IngestError(
                path, f"branch '{branch}' has type {sample[branch].type}, expected a jagged array of numbers"
            )
        if not expected_jagged and not flat:
            raise IngestError(
                path, f"branch '{branch}' has type {sample[branch].type}, expected one number per jet"
            )


def _iterate_root(path: Path, labels: list[str], chunk_size: int, branch_map: dict[str, str], tree_name: str):
    tree = _open_tree(path, tree_name)
    available = set(tree.keys())
    # label branches are the user's own names (the JetClass ones by default); a branch map may rename them too
    name = {k: branch_map.get(k, k) for k in (*PARTICLE_BRANCHES, *JET_BRANCHES, *LABEL_BRANCHES, *labels)}
    missing = [name[k] for k in (*REQUIRED_PARTICLE_BRANCHES, *labels) if name[k] not in available]
    if missing:
        raise IngestError(path, f"missing branch(es) {', '.join(missing)} in tree '{tree_name}'")
    wanted = {k: name[k] for k in (*PARTICLE_BRANCHES, *JET_BRANCHES) if name[k] in available}
    wanted.update({k: name[k] for k in labels})
    if tree.num_entries == 0:
        return
    try:
        _check_types(path, tree.arrays(list(wanted.values()), entry_stop=1), wanted)
        for chunk, report in tree.iterate(list(wanted.values()), step_size=chunk_size, report=True):
            jets = ak.zip({k: chunk[v] for k, v in wanted.items()}, depth_limit=1)
            yield report.tree_entry_start, jets
    except IngestError:
        raise
    except Exception as err:
        raise IngestError(path, f"truncated or corrupt ROOT file ({type(err).__name__}: {err})") from None


def _iterate_toplandscape_hdf5(path: Path, chunk_size: int):
    import pandas as pd

    try:
        with pd.HDFStore(path, mode="r") as store:
            if "/table" not in store:
                raise IngestError(path, f"no key 'table' (has: {', '.join(store.keys()) or 'nothing'})")
            storer = store.get_storer("table")
            n_rows = storer.nrows if storer.is_table else storer.shape[0]
            columns = [f"{c}_{i}" for i in range(_N_TOPLANDSCAPE) for c in ("E", "PX", "PY", "PZ")]
            for start in range(0, n_rows, chunk_size):
                frame = store.select("table", start=start, stop=min(start + chunk_size, n_rows))
                absent = [c for c in (*columns[:4], "is_signal_new") if c not in frame.columns]
                if absent:
                    raise IngestError(
                        path, f"missing column(s) {', '.join(absent)} (TopLandscape HDF5 expected)"
                    )
                n_part = sum(1 for i in range(_N_TOPLANDSCAPE) if f"E_{i}" in frame.columns)
                block = {
                    c: frame[[f"{c}_{i}" for i in range(n_part)]].to_numpy(np.float32)
                    for c in ("E", "PX", "PY", "PZ")
                }
                present = block["E"] > 0  # zero-padded
                counts = present.sum(axis=1)
                jets = {
                    f"part_{out}": ak.unflatten(block[c][present], counts)
                    for out, c in (("px", "PX"), ("py", "PY"), ("pz", "PZ"), ("energy", "E"))
                }
                jets.update(topland_label_map(frame["is_signal_new"].to_numpy()))
                yield start, ak.zip(jets, depth_limit=1)
    except IngestError:
        raise
    except Exception as err:  # HDF5 and PyTables raise many types for damaged files
        raise IngestError(
            path, f"not a readable TopLandscape HDF5 file ({type(err).__name__}: {err})"
        ) from None


def _iterate_parquet(path: Path, chunk_size: int):
    try:
        file = pq.ParquetFile(path)
    except Exception as err:
        raise IngestError(path, f"not a readable parquet file ({type(err).__name__}: {err})") from None
    names = set(file.schema_arrow.names)
    missing = [c for c in (*REQUIRED_PARTICLE_BRANCHES, "label") if c not in names]
    if missing:
        raise IngestError(path, f"missing column(s) {', '.join(missing)} (TopLandscape parquet expected)")
    keep = [c for c in file.schema_arrow.names if c in PARTICLE_BRANCHES or c in JET_BRANCHES or c == "label"]
    start = 0
    try:
        for batch in file.iter_batches(batch_size=chunk_size, columns=keep):
            chunk = ak.from_arrow(batch)
            jets = {c: chunk[c] for c in keep if c != "label"}
            jets.update(topland_label_map(ak.to_numpy(chunk["label"])))
            yield start, ak.zip(jets, depth_limit=1)
            start += len(chunk)
    except Exception as err:
        raise IngestError(path, f"truncated or corrupt parquet file ({type(err).__name__}: {err})") from None
