"""Ingest of hundreds of small, randomly broken files: each one is either ingested with every jet read kept
or counted under a reason, or refused with an :class:`IngestError` that names the file and the problem.

Each file gets one to three defects drawn from :data:`DEFECTS`. A defect that must stop ingest (mismatched
jagged lengths, a branch of the wrong type, a missing branch) is checked to do so with its own words; one that
must not (NaN momenta, huge values, empty trees) is checked to leave a file ingested; a truncated file may go
either way. Anything else (a traceback from uproot, awkward, numpy or FastJet) fails the test with the file's
defects listed.
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

from jettag.ingest import IngestError, ingest_file
from jettag.settings import IngestSettings
from jettag.shards import num_rows, read_shard
from tests.ingest.conftest import MOMENTA, small_jets

SPLITS = ("train", "val", "test")
LABELS = ("label_Tbqq", "label_QCD")
#: seconds a file may take before the test calls it a hang
DEADLINE = 20


@dataclass
class Spec:
    """A file to write: its branches, how it is written, and what ingest is told about it."""

    columns: dict[str, ak.Array | np.ndarray]
    container: str = "ttree"  # ttree, rntuple, parquet or hdf5
    tree: str = "tree"
    branch_map: dict[str, str] = field(default_factory=dict)
    earlier_cycle: int | None = None  # jets of a first, shorter cycle of the tree written before the real one
    no_tree: str | None = None  # write a histogram, or the tree under another name, instead
    truncate: float | None = None  # keep this fraction of the file's bytes
    defects: list[str] = field(default_factory=list)
    #: words of the message expected for each defect that must stop ingest
    refusals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    may_refuse: bool = False

    @property
    def n_jets(self) -> int:
        return len(next(iter(self.columns.values())))


def is_jagged(values: object) -> bool:
    return isinstance(values, ak.Array) and values.ndim > 1


def _jagged(spec: Spec) -> list[str]:
    return [k for k, v in spec.columns.items() if is_jagged(v)]


def _numbers_at(values: ak.Array, rng: np.random.Generator, new: Callable[[int], np.ndarray]) -> ak.Array:
    """``values`` (jagged) with a few random constituents replaced by ``new(k)``."""
    flat = ak.to_numpy(ak.flatten(values)).copy()
    if len(flat):
        where = rng.choice(len(flat), size=min(len(flat), int(rng.integers(1, 4))), replace=False)
        flat[where] = new(len(where)).astype(flat.dtype)
    return ak.unflatten(flat, ak.num(values))


# --- the defects: each changes the spec and says whether ingest must refuse ------------------------------


def string_branch(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(["part_px", *LABELS, "jet_pt"]))
    spec.columns[name] = np.array([f"jet{i}" for i in range(spec.n_jets)], dtype=object)
    spec.refusals["string_branch"] = ("has type",)


def int64_momenta(spec: Spec, rng: np.random.Generator) -> None:
    for name in MOMENTA:
        if name in spec.columns and isinstance(spec.columns[name], ak.Array):
            spec.columns[name] = ak.values_astype(ak.round(spec.columns[name]), np.int64)


def _numeric_flat(values: object) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "biuf"


def bool_labels(spec: Spec, rng: np.random.Generator) -> None:
    for name in LABELS:
        if _numeric_flat(spec.columns.get(name)):
            spec.columns[name] = spec.columns[name] != 0


def float_labels(spec: Spec, rng: np.random.Generator) -> None:
    for name in LABELS:
        if _numeric_flat(spec.columns.get(name)):
            spec.columns[name] = spec.columns[name].astype(np.float64)


def nan_labels(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(LABELS))
    values = spec.columns.get(name)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f" and len(values):
        values = values.copy()
        values[rng.integers(0, len(values))] = np.nan
        spec.columns[name] = values


def mismatched_lengths(spec: Spec, rng: np.random.Generator) -> None:
    jagged = [k for k in _jagged(spec) if k != "part_px"]
    if not is_jagged(spec.columns.get("part_px")) or not jagged or spec.n_jets == 0:
        return
    name = str(rng.choice(jagged))
    counts = ak.to_numpy(ak.num(spec.columns[name])).copy()
    flat = ak.to_numpy(ak.flatten(spec.columns[name]))
    entry = int(rng.integers(0, len(counts)))
    if counts[entry] > 0 and rng.random() < 0.5:
        at = int(counts[: entry + 1].sum()) - 1
        flat = np.delete(flat, at)
        counts[entry] -= 1
    else:
        at = int(counts[: entry + 1].sum())
        flat = np.insert(flat, at, flat.dtype.type(1))
        counts[entry] += 1
    spec.columns[name] = ak.unflatten(flat, counts)
    spec.refusals["mismatched_lengths"] = (f"'{name}' has", f"at entry {entry}", "'part_px' has")


def empty_tree(spec: Spec, rng: np.random.Generator) -> None:
    spec.columns = {k: v[:0] for k, v in spec.columns.items()}
    spec.refusals.pop("mismatched_lengths", None)  # no entry left to disagree at


def zero_constituents(spec: Spec, rng: np.random.Generator) -> None:
    if spec.n_jets == 0:
        return
    empty = rng.random(spec.n_jets) < 0.4
    for name in _jagged(spec):
        values = spec.columns[name]
        spec.columns[name] = ak.where(empty, values[:, :0], values)


def nan_inf_momenta(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(MOMENTA))
    if (
        isinstance(spec.columns.get(name), ak.Array)
        and ak.to_layout(spec.columns[name]).content.dtype.kind == "f"
    ):
        spec.columns[name] = _numbers_at(
            spec.columns[name], rng, lambda k: rng.choice([np.nan, np.inf, -np.inf], size=k)
        )


def huge_values(spec: Spec, rng: np.random.Generator) -> None:
    for name in rng.choice(MOMENTA, size=int(rng.integers(1, 4)), replace=False):
        values = spec.columns.get(str(name))
        if isinstance(values, ak.Array) and ak.to_layout(values).content.dtype.kind == "f":
            big = np.float32(rng.choice([1e38, 3e38, -3.4e38]))
            spec.columns[str(name)] = _numbers_at(values, rng, lambda k, big=big: np.full(k, big))


def beyond_float32(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(MOMENTA))
    values = spec.columns.get(name)
    if is_jagged(values) and ak.to_layout(values).content.dtype.kind == "f":
        wide = ak.values_astype(values, np.float64)
        spec.columns[name] = _numbers_at(wide, rng, lambda k: rng.choice([1e39, -1e300], size=k))


def missing_label(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(LABELS))
    if spec.columns.pop(name, None) is not None:
        spec.refusals["missing_label"] = ("missing branch", name)


def missing_momentum(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(MOMENTA))
    if spec.columns.pop(name, None) is not None:
        spec.refusals["missing_momentum"] = ("missing branch", name)


def jagged_label(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(LABELS))
    if is_jagged(spec.columns.get("part_px")) and name in spec.columns:
        counts = ak.num(spec.columns["part_px"])
        spec.columns[name] = ak.unflatten(np.ones(int(ak.sum(counts)), np.int32), counts)
        spec.refusals["jagged_label"] = (f"label branch '{name}' has type",)


def flat_momentum(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(MOMENTA))
    if name in spec.columns:
        spec.columns[name] = rng.normal(0, 50, spec.n_jets).astype(np.float32)
        spec.refusals["flat_momentum"] = (f"branch '{name}' has type", "a list of numbers per jet")


def jagged_jet_branch(spec: Spec, rng: np.random.Generator) -> None:
    if is_jagged(spec.columns.get("part_px")):
        spec.columns["jet_pt"] = spec.columns["part_px"]
        spec.refusals["jagged_jet_branch"] = ("branch 'jet_pt' has type", "one number per jet")


def nested_deeper(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice(MOMENTA))
    values = spec.columns.get(name)
    if isinstance(values, ak.Array) and values.ndim == 2:
        ones = np.ones(int(ak.sum(ak.num(values))), np.int64)
        spec.columns[name] = ak.unflatten(values, ones, axis=1)  # each constituent a list of one
        spec.container = "rntuple"
        spec.refusals["nested_deeper"] = (f"branch '{name}' has type",)


def unread_junk_branch(spec: Spec, rng: np.random.Generator) -> None:
    spec.columns["comment"] = np.array(["junk"] * spec.n_jets, dtype=object)


def as_rntuple(spec: Spec, rng: np.random.Generator) -> None:
    spec.container = "rntuple"


def truncated(spec: Spec, rng: np.random.Generator) -> None:
    spec.truncate = float(rng.uniform(0.05, 0.98))
    spec.may_refuse = True


def branch_read_twice(spec: Spec, rng: np.random.Generator) -> None:
    onto, twice = ("part_px", "part_py") if rng.random() < 0.5 else ("label_QCD", "label_Tbqq")
    if onto in spec.columns:
        spec.branch_map[twice] = onto
        spec.refusals["branch_read_twice"] = (f"branch '{onto}' would be read as both",)


def tree_twice(spec: Spec, rng: np.random.Generator) -> None:
    if spec.container == "ttree":
        spec.earlier_cycle = int(rng.integers(0, 4))


def no_tree(spec: Spec, rng: np.random.Generator) -> None:
    spec.no_tree = str(rng.choice(["histogram", "Events"]))
    spec.refusals["no_tree"] = (
        ("'tree' is a",) if spec.no_tree == "histogram" else ("no tree 'tree' (has: Events)",)
    )


DEFECTS: dict[str, Callable[[Spec, np.random.Generator], None]] = {
    f.__name__: f
    for f in (
        string_branch,
        int64_momenta,
        bool_labels,
        float_labels,
        nan_labels,
        mismatched_lengths,
        empty_tree,
        zero_constituents,
        nan_inf_momenta,
        huge_values,
        beyond_float32,
        missing_label,
        missing_momentum,
        jagged_label,
        flat_momentum,
        jagged_jet_branch,
        nested_deeper,
        unread_junk_branch,
        as_rntuple,
        truncated,
        branch_read_twice,
        tree_twice,
        no_tree,
    )
}
#: applied first whatever order they are drawn in (a jet emptied after its lengths were made to disagree
#: would agree again; NaN has no integer)
_FIRST = ("zero_constituents", "int64_momenta")
#: applied last: they change how the file is written, or empty it
_LAST = ("empty_tree", "as_rntuple", "nested_deeper", "tree_twice", "truncated", "no_tree")


def draw(rng: np.random.Generator) -> Spec:
    spec = Spec(small_jets(rng, int(rng.integers(1, 9))))
    names = list(rng.choice(list(DEFECTS), size=int(rng.integers(1, 4)), replace=False))
    names.sort(key=lambda name: (name not in _FIRST) + (name in _LAST))
    for name in names:
        DEFECTS[name](spec, rng)
        spec.defects.append(name)
    if spec.no_tree or spec.container == "rntuple":
        spec.earlier_cycle = None
    return spec


# --- TopLandscape parquet and HDF5: one ``label`` flag, the same jagged momenta -------------------------


def null_values(spec: Spec, rng: np.random.Generator) -> None:
    name = str(rng.choice([*MOMENTA, "label"]))
    values = spec.columns.get(name)
    if spec.container == "parquet" and values is not None and spec.n_jets:
        entry = int(rng.integers(0, spec.n_jets))
        spec.columns[name] = ak.mask(ak.Array(values), np.arange(spec.n_jets) != entry)
        spec.refusals["null_values"] = (f"column '{name}' has a missing (null) value at entry {entry}",)


def string_label(spec: Spec, rng: np.random.Generator) -> None:
    spec.columns["label"] = np.array([f"top{i}" for i in range(spec.n_jets)], dtype=object)
    spec.refusals["string_label"] = ("has type",)


def tabular_label(name: str) -> Callable[[Spec, np.random.Generator], None]:
    """A ROOT label defect turned onto the one ``label`` flag."""
    defect = DEFECTS[name]

    def apply(spec: Spec, rng: np.random.Generator) -> None:
        spec.columns["label_Tbqq"] = spec.columns.pop("label")
        defect(spec, rng)
        if "label_Tbqq" in spec.columns:
            spec.columns["label"] = spec.columns.pop("label_Tbqq")
        if spec.refusals.pop(name, None) is not None:
            spec.refusals[name] = ("label",)

    apply.__name__ = name
    return apply


#: what TopLandscape's padded HDF5 columns cannot hold (lists, lengths that disagree, nulls), or what its
#: writer here always writes (the flag)
PARQUET_ONLY = ("mismatched_lengths", "flat_momentum", "null_values", "jagged_label", "missing_label")
TABULAR_DEFECTS: dict[str, Callable[[Spec, np.random.Generator], None]] = {
    **{
        name: DEFECTS[name]
        for name in (
            "int64_momenta",
            "mismatched_lengths",
            "empty_tree",
            "zero_constituents",
            "nan_inf_momenta",
            "huge_values",
            "beyond_float32",
            "missing_momentum",
            "flat_momentum",
            "truncated",
        )
    },
    **{name: tabular_label(name) for name in ("float_labels", "nan_labels", "jagged_label", "missing_label")},
    "null_values": null_values,
    "string_label": string_label,
}


def draw_tabular(rng: np.random.Generator) -> Spec:
    columns = small_jets(rng, int(rng.integers(1, 9)))
    columns["label"] = np.asarray(columns.pop("label_Tbqq")).astype(np.int64)
    del columns["label_QCD"]
    spec = Spec(columns, container=str(rng.choice(["parquet", "hdf5"])))
    allowed = [n for n in TABULAR_DEFECTS if spec.container == "parquet" or n not in PARQUET_ONLY]
    names = list(rng.choice(allowed, size=int(rng.integers(1, 3)), replace=False))
    names.sort(key=lambda name: (name not in _FIRST) + (name in _LAST))
    for name in names:
        TABULAR_DEFECTS[name](spec, rng)
        spec.defects.append(name)
    spec.refusals = {
        k: ("missing column",) if words[0] == "missing branch" else words
        for k, words in spec.refusals.items()
    }
    if spec.container == "hdf5" and not spec.n_jets and "string_label" in spec.refusals:
        spec.refusals["string_label"] = ("cannot read rows",)  # pandas reads no empty frame with strings
    return spec


def write_tabular(spec: Spec, path: Path) -> int:
    """TopLandscape parquet (``label``, jagged ``part_*``) or HDF5 (``E_i, PX_i, PY_i, PZ_i`` zero-padded
    to the longest jet, ``is_signal_new``)."""
    columns = _awkward_columns(spec.columns)
    if spec.container == "parquet":
        pq.write_table(ak.to_arrow_table(ak.zip(columns, depth_limit=1), extensionarray=False), path)
    else:
        frame = {}
        longest = max(
            (int(ak.max(ak.num(v), initial=0, mask_identity=False)) for v in columns.values() if v.ndim > 1),
            default=0,
        )
        for out, name in (("E", "part_energy"), ("PX", "part_px"), ("PY", "part_py"), ("PZ", "part_pz")):
            if name in columns:
                width = max(longest, 1)
                padded = ak.to_numpy(ak.fill_none(ak.pad_none(columns[name], width), 0.0)).reshape(-1, width)
                frame |= {f"{out}_{i}": padded[:, i] for i in range(padded.shape[1])}
        frame["is_signal_new"] = spec.columns["label"]
        fmt = "table" if spec.n_jets and len(frame) % 2 else "fixed"  # pandas writes no empty table
        pd.DataFrame(frame).to_hdf(path, key="table", format=fmt)
    if spec.truncate is not None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * spec.truncate)])
    return spec.n_jets


# --- writing ---------------------------------------------------------------------------------------------


def _root_type(values: ak.Array | np.ndarray) -> object:
    if isinstance(values, ak.Array):
        return values.type.content
    return "string" if values.dtype == object else values.dtype


def _awkward_columns(columns: dict[str, ak.Array | np.ndarray]) -> dict[str, ak.Array]:
    """Columns as uproot writes them: strings as awkward strings (typed even when empty)."""
    return {
        k: ak.from_numpy(v.astype(str))
        if isinstance(v, np.ndarray) and v.dtype == object
        else ak.to_packed(v)
        for k, v in columns.items()
    }


def write(spec: Spec, path: Path) -> int:
    """Write ``spec`` to ``path``; the number of jets of the tree ingest should read."""
    with uproot.recreate(path) as f:
        if spec.no_tree == "histogram":
            f[spec.tree] = np.histogram(np.arange(5.0))
        name = "Events" if spec.no_tree == "Events" else spec.tree
        if spec.no_tree != "histogram":
            if spec.container == "rntuple":
                f[name] = _awkward_columns(spec.columns)
            else:
                types = {k: _root_type(v) for k, v in spec.columns.items()}
                columns = _awkward_columns(spec.columns)
                if spec.earlier_cycle is not None:
                    f.mktree(name, types).extend({k: v[: spec.earlier_cycle] for k, v in columns.items()})
                f.mktree(name, types).extend(columns)
    if spec.truncate is not None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * spec.truncate)])
    return spec.n_jets


# --- the check -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (where the platform has SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(
    path: Path, spec: Spec, n_written: int, out: Path, rng: np.random.Generator
) -> tuple[str, str | None]:
    """``("ingested" | "refused", None)`` or ``(outcome, what went wrong)``."""
    outputs = {s: out / f"{s}.arrow" for s in SPLITS}
    settings = IngestSettings.create(
        signal=["label_Tbqq"],
        background=["label_QCD"],
        chunk_size=int(rng.integers(1, 6)),
        branch_map=spec.branch_map,
    )
    try:
        with deadline(DEADLINE):
            summary = ingest_file(path, outputs, settings)
    except IngestError as err:
        message = str(err)
        if not message.startswith(f"{path}: ") or len(err.problem) < 10:
            return "refused", f"message does not name the file and the problem: {message!r}"
        if not spec.refusals and not spec.may_refuse:
            return "refused", f"refused a file that should be ingested: {message!r}"
        named = any(all(word in message for word in words) for words in spec.refusals.values())
        if spec.refusals and not spec.may_refuse and not named:
            return "refused", f"message names none of {spec.refusals}: {message!r}"
        return "refused", None
    except Exception as err:  # the thing this test is for: anything but IngestError
        return "crashed", f"{type(err).__name__}: {err}"
    if spec.refusals:
        return "ingested", f"ingested a file that should be refused for {sorted(spec.refusals)}"
    dropped = sum(summary["dropped"].values())
    if summary["jets_read"] != n_written or summary["jets_read"] != summary["jets_kept"] + dropped:
        counts = f"read {summary['jets_read']}, kept {summary['jets_kept']}, dropped {summary['dropped']}"
        return "ingested", f"jets written {n_written}, {counts}"
    rows = sum(num_rows(outputs[s]) for s in SPLITS)
    if rows != summary["jets_kept"]:
        return "ingested", f"shards hold {rows} jets, summary says {summary['jets_kept']} kept"
    for s in SPLITS:
        shard = read_shard(outputs[s])
        for name in shard.fields:
            values = shard[name]
            flat = ak.to_numpy(ak.flatten(values) if values.ndim > 1 else values)
            if flat.dtype.kind == "f" and not np.isfinite(flat).all():
                return "ingested", f"kept a non-finite {name} in {s}"
    return "ingested", None


def fuzz(
    tmp_path: Path, seed: int, n_files: int, draw_spec: Callable, writer: Callable
) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Draw, write and ingest ``n_files`` files: the outcomes by defect, and what went wrong."""
    rng = np.random.default_rng(seed)
    outcomes: Counter[tuple[str, str]] = Counter()
    failures = []
    for i in range(n_files):
        spec = draw_spec(rng)
        suffix = "root" if spec.container in ("ttree", "rntuple") else spec.container
        path = tmp_path / f"fuzz{seed}_{i}.{suffix}"
        n_written = writer(spec, path)
        outcome, problem = check(path, spec, n_written, tmp_path / f"out{i}", rng)
        for defect in spec.defects:
            outcomes[(defect, outcome)] += 1
        if problem:
            failures.append(f"{path.name} [{', '.join(spec.defects)}]: {problem}")
    return outcomes, failures


def table(outcomes: Counter[tuple[str, str]]) -> str:
    """Outcomes by defect, one line each."""
    kinds = ("ingested", "refused", "crashed")
    return "\n".join(
        f"  {defect:20s} " + "  ".join(f"{kind} {outcomes[(defect, kind)]:3d}" for kind in kinds)
        for defect in sorted({d for d, _ in outcomes})
    )


@pytest.mark.parametrize("seed", range(5))
def test_broken_root_files_are_ingested_and_counted_or_refused_by_name(tmp_path, seed):
    outcomes, failures = fuzz(tmp_path, seed, 50, draw, write)
    assert not failures, "\n".join([f"{len(failures)} of 50 files went wrong:", *failures, table(outcomes)])


def test_broken_parquet_and_hdf5_files_are_ingested_and_counted_or_refused_by_name(tmp_path):
    outcomes, failures = fuzz(tmp_path, 100, 40, draw_tabular, write_tabular)
    assert not failures, "\n".join([f"{len(failures)} of 40 files went wrong:", *failures, table(outcomes)])
