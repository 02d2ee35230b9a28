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
from typing import Any

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
    "flat_branches",
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
    """TopLandscape's flag as the two labels. A NaN or infinite flag says neither: both labels are NaN
    there, so the jet is dropped as ``non_finite`` like a NaN in any label branch."""
    flag = np.asarray(is_top)
    top = flag != 0
    if flag.dtype.kind == "f" and not np.isfinite(flag).all():
        unset = ~np.isfinite(flag)
        return {
            TOPLANDSCAPE_SIGNAL: np.where(unset, np.nan, top),
            TOPLANDSCAPE_BACKGROUND: np.where(unset, np.nan, ~top),
        }
    return {TOPLANDSCAPE_SIGNAL: top, TOPLANDSCAPE_BACKGROUND: ~top}


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
    problem = _toplandscape_label_problem(kind, labels)
    if problem:
        raise IngestError(path, problem)
    if kind == "root":
        yield from _iterate_root(path, labels, chunk_size, dict(branch_map or {}), tree)
    elif kind == "hdf5":
        yield from _iterate_toplandscape_hdf5(path, chunk_size)
    else:
        yield from _iterate_parquet(path, chunk_size)


def _toplandscape_label_problem(kind: str, labels: Sequence[str]) -> str | None:
    """Why ``labels`` cannot be read from a file of ``kind``: a TopLandscape file has one flag, read as
    two labels; ROOT files may have any."""
    unknown = [label for label in labels if label not in TOPLANDSCAPE_LABELS]
    if kind == "root" or not unknown:
        return None
    return (
        f"a TopLandscape {kind} file has the labels {', '.join(TOPLANDSCAPE_LABELS)} only, "
        f"not {', '.join(unknown)}"
    )


def flat_branches(typenames: Mapping[str, str]) -> list[str]:
    """The branches of ``{name: ROOT typename}`` that hold one value per entry (not ``float[]`` nor
    ``std::vector``): the ones a label can be."""
    return [name for name, typename in typenames.items() if "[" not in typename and "vector" not in typename]


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
        problem = _toplandscape_label_problem(kind, labels)
        return f"{path}: {problem}" if problem else None
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
    flat = [name for name in flat_branches(branches) if name not in known]
    hints = []
    for label in missing:
        close = difflib.get_close_matches(branch_map.get(label, label), flat, n=1)
        hints.append(f"{label} (did you mean {close[0]}?)" if close else label)
    return (
        f"{path}: tree '{tree}' has no label branch {', '.join(hints)}; its other flat branches: "
        f"{', '.join(flat) or 'none'}"
    )


def _short(err: Exception) -> str:
    """An exception as one short line: uproot's messages run over many lines and repeat the file path."""
    text = " ".join(str(err).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _open_tree(path: Path, file: uproot.ReadOnlyDirectory, tree: str) -> Any:
    """The TTree or RNTuple ``tree`` of an open file, or an :class:`IngestError` saying what is there."""
    try:
        found = file[tree]
    except KeyError:
        raise IngestError(
            path, f"no tree '{tree}' (has: {', '.join(file.keys(cycle=False)) or 'nothing'})"
        ) from None
    except Exception as err:
        raise IngestError(
            path, f"truncated or corrupt ROOT file: cannot read tree '{tree}' ({_short(err)})"
        ) from None
    if not all(hasattr(found, attr) for attr in ("arrays", "num_entries", "keys")):
        kind = getattr(found, "classname", type(found).__name__)
        raise IngestError(path, f"'{tree}' is a {kind}, not a TTree or RNTuple")
    return found


def _is_number(kind: ak.types.Type) -> bool:
    return (
        isinstance(kind, ak.types.NumpyType)
        and kind.parameter("__array__") is None
        and np.dtype(kind.primitive).kind in "biuf"
    )


def _holds(kind: ak.types.Type, expected: str) -> bool:
    """Whether values of type ``kind`` (one jet's) are what a branch of kind ``expected`` must hold."""
    if expected == "jagged":
        return (
            isinstance(kind, ak.types.ListType | ak.types.RegularType)
            and kind.parameter("__array__") is None
            and _is_number(kind.content)
        )
    return _is_number(kind)


_EXPECTED = {
    "jagged": "a list of numbers per jet",
    "flat": "one number per jet",
    "label": "one integer, float or bool per jet",
}


def _check_types(
    path: Path, sample: ak.Array, wanted: Mapping[str, str], kinds: Mapping[str, str], typename: Any
) -> None:
    """Jagged numbers for particle branches, one number per jet for jet branches and labels: a branch of
    another type (strings, lists of lists, a list where one value belongs, or the reverse) is refused by
    name and type, before anything is read."""
    for key, branch in wanted.items():
        kind = sample[branch].type.content
        if not _holds(kind, kinds[key]):
            noun = "label branch" if kinds[key] == "label" else "branch"
            raise IngestError(
                path, f"{noun} '{branch}' has type {typename(branch, kind)}, expected {_EXPECTED[kinds[key]]}"
            )


def _check_lengths(path: Path, chunk: ak.Array, jagged: Sequence[str], entry_start: int) -> None:
    """Every jagged branch has as many values per jet as the first (``part_px``'s): a branch that disagrees
    is named with the first entry where it does."""
    reference, *others = jagged
    counts = ak.to_numpy(ak.num(chunk[reference], axis=1))
    for branch in others:
        other = ak.to_numpy(ak.num(chunk[branch], axis=1))
        bad = np.flatnonzero(other != counts)
        if len(bad):
            i = bad[0]
            raise IngestError(
                path,
                f"branch '{branch}' has {other[i]} values at entry {entry_start + i}, "
                f"where '{reference}' has {counts[i]}",
            )


def _check_distinct(path: Path, wanted: Mapping[str, str]) -> None:
    """One file branch read as two quantities (a branch map sending ``part_py`` to the branch of
    ``part_px``) is a mistake that would give plausible, wrong jets: refused."""
    seen: dict[str, str] = {}
    for key, branch in wanted.items():
        if branch in seen:
            raise IngestError(path, f"branch '{branch}' would be read as both {seen[branch]} and {key}")
        seen[branch] = key


def _branch_kinds(keys: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
    return {k: "label" if k in labels else "jagged" if k in PARTICLE_BRANCHES else "flat" for k in keys}


def _read_entries(path: Path, tree: Any, branches: list[str], start: int, stop: int) -> ak.Array:
    """Entries ``[start, stop)`` of ``branches``; a failure names the file, the branch that cannot be read
    (tried one by one) and the entries."""
    try:
        return tree.arrays(branches, entry_start=start, entry_stop=stop)
    except Exception as err:
        culprit = None
        for branch in branches:
            try:
                tree.arrays([branch], entry_start=start, entry_stop=stop)
            except Exception:
                culprit = branch
                break
        which = f"branch '{culprit}'" if culprit else f"branches {', '.join(branches)}"
        where = f" at entries {start} to {stop - 1}" if stop > start else ""
        raise IngestError(
            path, f"truncated or corrupt ROOT file: cannot read {which}{where} ({_short(err)})"
        ) from None


def _iterate_root(path: Path, labels: list[str], chunk_size: int, branch_map: dict[str, str], tree_name: str):
    try:
        file = uproot.open(path)
    except Exception as err:  # uproot raises several types for files that are not ROOT or are cut short
        raise IngestError(path, f"not a readable ROOT file ({_short(err)})") from None
    with file:
        tree = _open_tree(path, file, tree_name)
        try:
            available = set(tree.keys())
            typenames = tree.typenames()
        except Exception as err:
            raise IngestError(
                path,
                f"truncated or corrupt ROOT file: cannot list the branches of '{tree_name}' ({_short(err)})",
            ) from None
        # label branches are the user's own names (the JetClass ones by default); a branch map may rename them
        name = {
            k: branch_map.get(k, k) for k in (*PARTICLE_BRANCHES, *JET_BRANCHES, *LABEL_BRANCHES, *labels)
        }
        missing = [name[k] for k in (*REQUIRED_PARTICLE_BRANCHES, *labels) if name[k] not in available]
        if missing:
            raise IngestError(path, f"missing branch(es) {', '.join(missing)} in tree '{tree_name}'")
        wanted = {k: name[k] for k in (*PARTICLE_BRANCHES, *JET_BRANCHES) if name[k] in available}
        wanted.update({k: name[k] for k in labels})
        _check_distinct(path, wanted)
        branches = list(wanted.values())
        jagged = [wanted[k] for k in wanted if k in PARTICLE_BRANCHES]

        def typename(branch: str, kind: ak.types.Type) -> str:
            return f"{typenames.get(branch, '?')} ({kind})"

        empty = _read_entries(path, tree, branches, 0, 0)
        _check_types(path, empty, wanted, _branch_kinds(list(wanted), labels), typename)
        n_entries = tree.num_entries
        for start in range(0, n_entries, chunk_size):
            stop = min(start + chunk_size, n_entries)
            chunk = _read_entries(path, tree, branches, start, stop)
            if len(chunk) != stop - start:
                raise IngestError(
                    path,
                    f"truncated or corrupt ROOT file: entries {start} to {stop - 1} gave {len(chunk)} jets",
                )
            _check_lengths(path, chunk, jagged, start)
            yield start, ak.zip({k: chunk[v] for k, v in wanted.items()}, depth_limit=1)


def _iterate_toplandscape_hdf5(path: Path, chunk_size: int):
    import pandas as pd

    try:
        store = pd.HDFStore(path, mode="r")
    except Exception as err:  # HDF5 and PyTables raise many types for damaged files
        raise IngestError(path, f"not a readable TopLandscape HDF5 file ({_short(err)})") from None
    with store:
        try:
            keys = store.keys()
            storer = store.get_storer("table") if "/table" in keys else None
            n_rows = 0 if storer is None else storer.nrows if storer.is_table else storer.shape[0]
        except Exception as err:
            raise IngestError(path, f"not a readable TopLandscape HDF5 file ({_short(err)})") from None
        if storer is None:
            raise IngestError(path, f"no key 'table' (has: {', '.join(keys) or 'nothing'})")
        for start in range(0, max(n_rows, 1), chunk_size):  # an empty table is read once, for its columns
            stop = min(start + chunk_size, n_rows)
            try:
                frame = store.select("table", start=start, stop=stop)
            except Exception as err:
                rows = f"rows {start} to {stop - 1}" if stop > start else "rows (there are none)"
                raise IngestError(
                    path, f"truncated or corrupt HDF5 file: cannot read {rows} ({_short(err)})"
                ) from None
            jets = _toplandscape_jets(path, frame)
            if len(jets):
                yield start, jets


def _toplandscape_jets(path: Path, frame: Any) -> ak.Array:
    """Jets of one block of TopLandscape's zero-padded columns: a constituent is padding when its four
    numbers are all zero, so a NaN (or a negative energy) stays a constituent and is counted later."""
    columns = [f"{c}_{i}" for i in range(_N_TOPLANDSCAPE) for c in ("E", "PX", "PY", "PZ")]
    absent = [c for c in (*columns[:4], "is_signal_new") if c not in frame.columns]
    if absent:
        raise IngestError(path, f"missing column(s) {', '.join(absent)} (TopLandscape HDF5 expected)")
    n_part = sum(
        1 for i in range(_N_TOPLANDSCAPE) if all(f"{c}_{i}" in frame.columns for c in ("E", "PX", "PY", "PZ"))
    )
    used = [*columns[: 4 * n_part], "is_signal_new"]
    for column in used:
        if frame[column].dtype.kind not in "biuf":
            raise IngestError(path, f"column '{column}' has type {frame[column].dtype}, expected numbers")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, a counted non-finite jet
        block = {
            c: frame[[f"{c}_{i}" for i in range(n_part)]].to_numpy(np.float32)
            for c in ("E", "PX", "PY", "PZ")
        }
    present = (block["E"] != 0) | (block["PX"] != 0) | (block["PY"] != 0) | (block["PZ"] != 0)
    counts = present.sum(axis=1)
    jets = {
        f"part_{out}": ak.unflatten(block[c][present], counts)
        for out, c in (("px", "PX"), ("py", "PY"), ("pz", "PZ"), ("energy", "E"))
    }
    jets.update(topland_label_map(frame["is_signal_new"].to_numpy()))
    return ak.zip(jets, depth_limit=1)


def _without_missing(path: Path, column: str, values: ak.Array, entry_start: int) -> ak.Array:
    """A parquet column without its option type (arrow marks every column nullable); a null value, where a
    number or a list belongs, is refused with the first entry that has one."""
    missing = ak.to_numpy(ak.is_none(values, axis=0))
    if values.ndim > 1:
        inner = ak.fill_none(ak.any(ak.is_none(values, axis=1), axis=1), True)
        missing = missing | ak.to_numpy(inner)
    if missing.any():
        raise IngestError(
            path, f"column '{column}' has a missing (null) value at entry {entry_start + np.argmax(missing)}"
        )
    return ak.drop_none(values)


def _iterate_parquet(path: Path, chunk_size: int):
    try:
        file = pq.ParquetFile(path)
    except Exception as err:
        raise IngestError(path, f"not a readable parquet file ({_short(err)})") from None
    with file:
        names = file.schema_arrow.names
        missing = [c for c in (*REQUIRED_PARTICLE_BRANCHES, "label") if c not in names]
        if missing:
            raise IngestError(path, f"missing column(s) {', '.join(missing)} (TopLandscape parquet expected)")
        if len(set(names)) != len(names):
            twice = sorted({c for c in names if names.count(c) > 1})
            raise IngestError(path, f"column(s) {', '.join(twice)} appear more than once")
        keep = [c for c in names if c in PARTICLE_BRANCHES or c in JET_BRANCHES or c == "label"]
        empty = ak.from_arrow(file.schema_arrow.empty_table())
        wanted = {c: c for c in keep}
        kinds = _branch_kinds(keep, ["label"])
        jagged = ["part_px", *(c for c in keep if c in PARTICLE_BRANCHES and c != "part_px")]
        arrow_types = {field.name: field.type for field in file.schema_arrow}

        def typename(column: str, kind: ak.types.Type) -> str:
            return f"{arrow_types[column]} ({kind})"

        empty = ak.zip({c: ak.drop_none(empty[c]) for c in keep}, depth_limit=1)
        _check_types(path, empty, wanted, kinds, typename)  # also for a file without rows
        n_rows = file.metadata.num_rows
        batches = file.iter_batches(batch_size=chunk_size, columns=keep)
        start = 0
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    break
                chunk = ak.from_arrow(batch)
            except Exception as err:
                stop = min(start + chunk_size, n_rows)
                raise IngestError(
                    path,
                    f"truncated or corrupt parquet file: cannot read rows {start} to {stop - 1} "
                    f"({_short(err)})",
                ) from None
            chunk = ak.zip({c: _without_missing(path, c, chunk[c], start) for c in keep}, depth_limit=1)
            _check_types(path, chunk, wanted, kinds, typename)
            _check_lengths(path, chunk, jagged, start)
            jets = {c: chunk[c] for c in keep if c != "label"}
            jets.update(topland_label_map(ak.to_numpy(chunk["label"])))
            yield start, ak.zip(jets, depth_limit=1)
            start += len(chunk)
