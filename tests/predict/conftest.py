"""Tiny taggers trained once per session on the shared sample, and small ROOT files written from its jets."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from jettag.train import JetDataModule
from jettag.train.bdt import train_bdt
from tests.training import fit

#: small versions of configs/models: the tests check agreement between code paths, not tagging power
TINY = {
    "lstm": {"name": "lstm", "kind": "recurrent", "cell": "lstm", "embed_dim": 8, "hidden_size": 12,
             "num_layers": 2, "readout": "mean", "head_sizes": [8], "dropout": 0.1},
    "gru": {"name": "gru", "kind": "recurrent", "cell": "gru", "embed_dim": 8, "hidden_size": 12,
            "num_layers": 1, "readout": "last", "head_sizes": [8]},
    "cnn": {"name": "cnn", "kind": "cnn", "channels": [4, 8], "head_sizes": [8], "dropout": 0.1},
    "pfn": {"name": "pfn", "kind": "pfn", "phi_sizes": [12, 12], "f_sizes": [8], "dropout": 0.1},
    "particlenet": {"name": "particlenet", "kind": "particlenet", "conv_params": [[5, [8, 8]], [5, [12, 12]]],
                    "fc_params": [[12, 0.1]]},
}  # fmt: skip


def train_tiny(name: str, built: Path, out: Path) -> Path:
    """Train ``TINY[name]`` for eight epochs on the built sample as `jettag train` does, artefact included."""
    kind = "image" if TINY[name]["kind"] == "cnn" else "sequence"
    shard = "images.arrow" if kind == "image" else "sequences.arrow"
    summary = json.loads((built / "train" / "summary.json").read_text())
    data = JetDataModule.create(
        kind, built / "train" / shard, built / "val" / shard, batch_size=64, seed=1, eval_batch_size=256
    )
    with warnings.catch_warnings():
        # Lightning 2.6 still constructs torch's LeafSpec, which torch 2.13 deprecates; nothing of jettag's
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
        fit(
            TINY[name],
            data,
            out,
            seed=1,
            max_epochs=8,
            accelerator="cpu",
            devices=1,
            lr=1e-2,
            log_every_n_steps=1,
            standardisation=built / "standardisation.json",
            build_info={**summary["settings"], "features": summary["features"]},
        )
    return out


@pytest.fixture(scope="session")
def trained(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training directories of a tiny LSTM, GRU, CNN, PFN and ParticleNet and of the BDT, keyed by model
    name."""
    out = tmp_path_factory.mktemp("trained")
    directories = {name: train_tiny(name, built, out / name) for name in TINY}
    train_bdt(built / "train" / "highlevel.arrow", built / "val" / "highlevel.arrow", out / "bdt", seed=1)
    directories["bdt"] = out / "bdt"
    return directories


def read_tree(path: Path, tree: str = "tree") -> dict[str, ak.Array | np.ndarray]:
    """Every branch of a JetClass file but uproot's counters: jagged ones as awkward, flat ones as numpy."""
    arrays = uproot.open(path)[tree].arrays()
    return {
        name: arrays[name] if arrays[name].ndim > 1 else arrays[name].to_numpy()
        for name in arrays.fields
        if name.startswith(("part_", "jet_", "label_"))
    }


def write_tree(path: Path, columns: dict[str, ak.Array | np.ndarray], tree: str = "tree") -> Path:
    """A TTree with the given branches, jagged ones as ``float[]``/``int[]`` with their counters."""
    with uproot.recreate(path) as file:
        jagged = {name: isinstance(v, ak.Array) and v.ndim > 1 for name, v in columns.items()}
        types = {name: v.type.content if jagged[name] else np.asarray(v).dtype for name, v in columns.items()}
        file.mktree(tree, types).extend(
            {name: v if jagged[name] else np.asarray(v) for name, v in columns.items()}
        )
    return path


def take(columns: dict[str, ak.Array | np.ndarray], index: np.ndarray) -> dict[str, ak.Array | np.ndarray]:
    """The jets ``index`` of every column (an index may repeat, and -1 gives a jet with no constituents)."""
    out = {}
    for name, values in columns.items():
        picked = values[np.maximum(index, 0)]
        if isinstance(values, ak.Array) and values.ndim > 1:
            counts = np.where(index < 0, 0, ak.to_numpy(ak.num(picked, axis=1)))
            picked = ak.unflatten(ak.flatten(picked[index >= 0], axis=1), counts)
        out[name] = picked
    return out
