"""Helpers for ingest tests: write small ROOT, TopLandscape HDF5 and parquet files from real jets."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

MOMENTA = ("part_px", "part_py", "part_pz", "part_energy")


def small_jets(
    rng: np.random.Generator, n_jets: int, counts: np.ndarray | None = None
) -> dict[str, ak.Array | np.ndarray]:
    """Small plausible jets in the JetClass naming: massless constituents (``counts`` per jet, else 1 to 6)
    around a common axis, one-hot ``label_Tbqq`` (int32) or ``label_QCD`` (float32), at times ``jet_pt``."""
    counts = rng.integers(1, 7, n_jets) if counts is None else np.asarray(counts)
    total = int(counts.sum())
    axis = np.repeat(rng.normal(0, 1, (n_jets, 3)) * [60.0, 60.0, 80.0], counts, axis=0)
    p = (axis + rng.normal(0, 5, (total, 3))).astype(np.float32)
    energy = np.sqrt((p.astype(np.float64) ** 2).sum(axis=1)).astype(np.float32)
    columns: dict[str, ak.Array | np.ndarray] = {
        name: ak.unflatten(np.ascontiguousarray(values), counts)
        for name, values in zip(MOMENTA, (p[:, 0], p[:, 1], p[:, 2], energy), strict=True)
    }
    is_top = rng.random(n_jets) < 0.5
    columns["label_Tbqq"] = is_top.astype(np.int32)
    columns["label_QCD"] = (~is_top).astype(np.float32)
    if rng.random() < 0.3:
        columns["jet_pt"] = rng.uniform(100, 500, n_jets).astype(np.float32)
    return columns


def _branch(values: ak.Array | np.ndarray) -> tuple[object, ak.Array | np.ndarray]:
    """The type uproot writes a column as, and the column as it writes it (strings as awkward strings)."""
    if isinstance(values, ak.Array) and values.ndim > 1:
        return values.type.content, values
    if isinstance(values, ak.Array) and values.type.content.parameter("__array__") == "string":
        return "string", values
    values = np.asarray(values)
    if values.dtype.kind in "OU":
        return "string", ak.from_numpy(values.astype(str))
    return values.dtype, values


def write_root(path: Path, columns: dict[str, ak.Array | np.ndarray], tree: str = "tree") -> Path:
    """A TTree with the given branches (jagged ones as ``float[]``/``int[]`` with counters, strings as
    ``char*``)."""
    branches = {k: _branch(v) for k, v in columns.items()}
    with uproot.recreate(path) as f:
        t = f.mktree(tree, {k: kind for k, (kind, _) in branches.items()})
        t.extend({k: values for k, (_, values) in branches.items()})
    return path


def write_rntuple(path: Path, columns: dict[str, ak.Array | np.ndarray], tree: str = "tree") -> Path:
    """An RNTuple with the given fields (jagged ones as ``std::vector``, strings as ``std::string``)."""
    with uproot.recreate(path) as f:
        f[tree] = {k: ak.to_packed(ak.Array(_branch(v)[1])) for k, v in columns.items()}
    return path


def read_jetclass(path: Path) -> dict[str, ak.Array | np.ndarray]:
    arrays = uproot.open(path)["tree"].arrays()
    return {
        k: (arrays[k] if arrays[k].ndim > 1 else arrays[k].to_numpy()) for k in arrays.fields if k != "npart"
    }


def write_toplandscape_hdf5(path: Path, arrays: ak.Array, is_top: np.ndarray, fmt: str = "fixed") -> Path:
    """The original TopLandscape layout: 200 leading constituents, zero-padded, E_i PX_i PY_i PZ_i columns."""
    columns = {}
    padded = {
        c: ak.to_numpy(ak.fill_none(ak.pad_none(arrays[f"part_{b}"], 200, clip=True), 0.0))
        for c, b in (("E", "energy"), ("PX", "px"), ("PY", "py"), ("PZ", "pz"))
    }
    for i in range(200):
        for c in ("E", "PX", "PY", "PZ"):
            columns[f"{c}_{i}"] = padded[c][:, i]
    frame = pd.DataFrame(columns)
    for name in ("truthE", "truthPX", "truthPY", "truthPZ", "ttv"):
        frame[name] = 0.0
    frame["is_signal_new"] = is_top.astype(np.int64)
    frame.to_hdf(path, key="table", format=fmt)
    return path


def write_toplandscape_parquet(path: Path, arrays: ak.Array, is_top: np.ndarray) -> Path:
    """The converted TopLandscape parquet layout (label, jet_*, jagged part_*)."""
    table = {
        "label": is_top.astype(np.int64),
        "jet_pt": arrays.jet_pt,
        "jet_eta": arrays.jet_eta,
        "jet_phi": arrays.jet_phi,
        "jet_energy": arrays.jet_energy,
        "jet_nparticles": arrays.jet_nparticles,
        **{f"part_{b}": arrays[f"part_{b}"] for b in ("px", "py", "pz", "energy", "deta", "dphi")},
    }
    pq.write_table(ak.to_arrow_table(ak.zip(table, depth_limit=1), extensionarray=False), path)
    return path


@pytest.fixture
def outputs(tmp_path: Path) -> dict[str, Path]:
    return {s: tmp_path / "out" / f"{s}.arrow" for s in ("train", "val", "test")}
