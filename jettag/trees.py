"""The BDT baseline's trees, read back from their JSON (``bdt.json``) and evaluated in numpy.

:mod:`jettag.train.bdt` writes the file (its docstring gives the layout and the scikit-learn internals it
is taken from); :class:`BDTModel` reads it back node by node, refusing anything out of shape, and scores
jets without scikit-learn and without unpickling anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "NODE_FIELDS", "BDTModel", "load_bdt"]

#: identifies ``bdt.json``; the version changes whenever the layout does
FORMAT = {"name": "jettag-bdt", "version": 1}
#: the ``TreePredictor.nodes`` fields the export reads
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


@dataclass(frozen=True)
class _Tree:
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    depth: int


#: the JSON type of each node array of a tree in ``bdt.json``
_NODE_TYPES = {
    "feature": int,
    "threshold": float,
    "missing_left": bool,
    "left": int,
    "right": int,
    "is_leaf": bool,
    "value": float,
}
_DTYPES = {int: np.intp, float: np.float64, bool: np.bool_}


def _node_array(spec: dict[str, Any], name: str, where: str) -> np.ndarray:
    """``spec[name]`` as an array, refused unless it is a JSON list of the node type (numbers for floats;
    bools are not numbers here, so a damaged file cannot turn ``true`` into a feature index)."""
    values = spec.get(name) if isinstance(spec, dict) else None
    kind = _NODE_TYPES[name]
    allowed = (int, float) if kind is float else (kind,)
    if not isinstance(values, list) or not all(
        isinstance(v, allowed) and (kind is bool or not isinstance(v, bool)) for v in values
    ):
        raise ValueError(f"{where}: '{name}' must be a list of {kind.__name__}s")
    return np.asarray(values, dtype=_DTYPES[kind])


def _tree(spec: dict[str, Any], n_features: int, where: str) -> _Tree:
    arrays = {name: _node_array(spec, name, where) for name in _NODE_TYPES}
    n = len(arrays["is_leaf"])
    if n == 0 or any(len(a) != n for a in arrays.values()):
        raise ValueError(f"{where}: node arrays are empty or of different lengths")
    split = ~arrays["is_leaf"]
    children = np.concatenate([arrays["left"][split], arrays["right"][split]])
    features = arrays["feature"][split]
    if ((children <= 0) | (children >= n)).any() or ((features < 0) | (features >= n_features)).any():
        raise ValueError(f"{where}: a split points outside the tree or the feature list")
    if not np.isfinite(arrays["threshold"][split]).all() or not np.isfinite(arrays["value"]).all():
        raise ValueError(f"{where}: a threshold or leaf value is not finite")
    # depth = longest root-to-leaf path; children always come after their parent in sklearn's node order,
    # but do not rely on it: walk level by level
    depth, level = 0, np.array([0])
    while True:
        level = level[split[level]]
        if len(level) == 0:
            break
        level = np.concatenate([arrays["left"][level], arrays["right"][level]])
        depth += 1
        if depth > n:
            raise ValueError(f"{where}: the nodes do not form a tree")
    return _Tree(**arrays, depth=depth)


class BDTModel:
    """The exported trees, evaluated in numpy: vectorised over jets, looping over trees and depth."""

    def __init__(self, spec: dict[str, Any], source: str = "bdt.json") -> None:
        if spec.get("format") != FORMAT:
            raise ValueError(f"{source}: format {spec.get('format')!r}, expected {FORMAT}")
        link = spec.get("link")
        if link not in ("logistic", "softmax"):
            raise ValueError(f"{source}: link {link!r}, expected 'logistic' or 'softmax'")
        features = spec.get("features")
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            raise ValueError(f"{source}: 'features' must be a non-empty list of names, got {features!r}")
        self.features: tuple[str, ...] = tuple(features)
        #: 1 for a binary BDT (one raw score: the log-odds of signal), else the number of classes
        self.n_classes = 1 if link == "logistic" else int(spec["n_classes"])
        self.baseline = np.asarray(spec["baseline"], dtype=np.float64).reshape(-1)
        if not np.isfinite(self.baseline).all():
            raise ValueError(f"{source}: baseline {spec['baseline']} is not finite")
        if len(self.baseline) != self.n_classes or (link == "softmax" and self.n_classes < 3):
            raise ValueError(
                f"{source}: {len(self.baseline)} baseline value(s) for link {link} with "
                f"n_classes {self.n_classes}"
            )
        if not isinstance(spec.get("trees"), list) or not spec["trees"]:
            raise ValueError(f"{source}: 'trees' must be a non-empty list")
        self.trees = [
            _tree(t, len(self.features), f"{source}: tree {i}") for i, t in enumerate(spec["trees"])
        ]
        if len(self.trees) % self.n_classes:
            raise ValueError(
                f"{source}: {len(self.trees)} trees is not a multiple of {self.n_classes} classes"
            )

    @property
    def n_nodes(self) -> int:
        return sum(len(t.is_leaf) for t in self.trees)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Raw scores per jet: ``[n_jets]`` log-odds of signal (binary), else ``[n_jets, n_classes]``
        (softmax logits); ``X`` has one column per feature, in ``features`` order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(
                f"expected X of shape (n_jets, {len(self.features)}) for {self.features}, got {X.shape}"
            )
        rows = np.arange(len(X))
        score = np.tile(self.baseline, (len(X), 1))
        for t, tree in enumerate(self.trees):
            node = np.zeros(len(X), dtype=np.intp)
            for _ in range(tree.depth):
                x = X[rows, tree.feature[node]]
                go_left = np.where(np.isnan(x), tree.missing_left[node], x <= tree.threshold[node])
                child = np.where(go_left, tree.left[node], tree.right[node])
                node = np.where(tree.is_leaf[node], node, child)
            score[:, t % self.n_classes] += tree.value[node]
        return score[:, 0] if self.n_classes == 1 else score

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Signal probability per jet (binary), else class probabilities ``[n_jets, n_classes]``."""
        raw = self.decision_function(X)
        if self.n_classes == 1:
            return 1.0 / (1.0 + np.exp(-raw))
        raw = raw - raw.max(axis=1, keepdims=True)
        exp = np.exp(raw)
        return exp / exp.sum(axis=1, keepdims=True)


def load_bdt(output_dir: str | Path) -> BDTModel:
    """The model that :func:`train_bdt` wrote to ``output_dir/bdt.json``."""
    path = Path(output_dir) / "bdt.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no BDT model here; train_bdt writes it")
    return BDTModel(json.loads(path.read_text()), str(path))
