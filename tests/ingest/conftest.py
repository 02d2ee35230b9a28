"""Helpers for ingest tests: write small ROOT, TopLandscape HDF5 and parquet files from real jets."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot


def write_root(path: Path, columns: dict[str, ak.Array | np.ndarray], tree: str = "tree") -> Path:
    """A TTree with the given branches (jagged ones as ``float[]``/``int[]`` with counters)."""
    with uproot.recreate(path) as f:
        types = {
            k: (v.type.content if isinstance(v, ak.Array) and v.ndim > 1 else np.asarray(v).dtype)
            for k, v in columns.items()
        }
        t = f.mktree(tree, types)
        t.extend(
            {k: (v if isinstance(v, ak.Array) and v.ndim > 1 else np.asarray(v)) for k, v in columns.items()}
        )
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
