"""BDT baseline: gradient-boosted trees on the high-level jet features, saved without pickle.

:func:`train_bdt` fits scikit-learn's ``HistGradientBoostingClassifier`` on the ``highlevel.arrow`` shard of
the training split, with early stopping on the given validation split (passed to ``fit`` as
``X_val``/``y_val``, so no ``validation_fraction`` is cut from the training jets), and reports the
validation AUC. The validation split is therefore used for model selection; the test split stays for the
evaluate stage.

The fitted model is written as plain JSON (``bdt.json``): the trees' nodes as arrays, evaluated again by
:class:`BDTModel` in numpy. A pickle would run arbitrary code on load and ties the file to one
scikit-learn version; the JSON needs neither.

scikit-learn internals relied on (checked by :func:`export_trees`, which raises if they change):

- ``model._predictors``: one list per boosting iteration of ``TreePredictor`` objects, one per tree of the
  iteration (one for binary classification, one per class for several classes);
- ``TreePredictor.nodes``: a structured array with the fields in :data:`NODE_FIELDS`; node 0 is the root,
  a split sends ``x <= num_threshold`` to ``left``, NaN to ``left`` if ``missing_go_to_left`` else
  ``right``, and a leaf's ``value`` is already scaled by the learning rate;
- ``model._baseline_prediction``: the raw score every jet starts from, shape ``(1, n_trees_per_iteration)``;
- the binary log loss: the signal probability is ``expit(baseline + sum of leaf values)``; the multinomial
  loss (several classes): class k's raw score is ``baseline[k]`` plus the leaf values of the k-th tree of
  every iteration, and the probabilities are their softmax.

``bdt.json`` of a binary BDT: ``link`` ``"logistic"``, ``baseline`` a number, ``trees`` one per iteration.
Of a multi-class BDT: ``link`` ``"softmax"``, ``baseline`` one number per class, ``n_classes``, and
``trees`` iteration by iteration, class by class within an iteration (tree t adds to class t mod
n_classes).

Categorical splits (``is_categorical``) are not exported; the high-level features are all numerical.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from threadpoolctl import threadpool_limits

from jettag import __version__
from jettag.build.run import HIGH_LEVEL_FEATURES
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.shards import read_shard

__all__ = [
    "DEFAULT_PARAMS",
    "FORMAT",
    "NODE_FIELDS",
    "BDTModel",
    "export_trees",
    "fit_bdt",
    "load_bdt",
    "load_highlevel",
    "train_bdt",
]

#: identifies ``bdt.json``; the version changes whenever the layout does
FORMAT = {"name": "jettag-bdt", "version": 1}
#: the ``TreePredictor.nodes`` fields the export reads
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")
#: classifier settings unless overridden through ``train_bdt(**params)``
DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 300,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": True,
    "n_iter_no_change": 10,
    "scoring": "loss",
}
#: set by train_bdt itself (seed; the given val split, never a fraction of train; numerical features only)
_REFUSED_PARAMS = ("validation_fraction", "random_state", "categorical_features")


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


def export_trees(model: HistGradientBoostingClassifier, features: Sequence[str]) -> dict[str, Any]:
    """The fitted trees of ``model`` as a JSON-ready dict (the ``bdt.json`` layout)."""
    for name in ("_predictors", "_baseline_prediction", "n_trees_per_iteration_"):
        if not hasattr(model, name):
            raise RuntimeError(
                f"cannot export the BDT: HistGradientBoostingClassifier has no attribute {name} "
                f"in scikit-learn {sklearn.__version__}; jettag.train.bdt relies on it (see its docstring)"
            )
    per_iteration = int(model.n_trees_per_iteration_)
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64)
    if baseline.size != per_iteration:
        raise RuntimeError(
            f"cannot export the BDT: _baseline_prediction has shape {baseline.shape}, expected "
            f"(1, {per_iteration})"
        )
    trees = []
    for i, iteration in enumerate(model._predictors):
        if len(iteration) != per_iteration:
            raise RuntimeError(
                f"cannot export the BDT: iteration {i} holds {len(iteration)} trees, expected {per_iteration}"
            )
        for predictor in iteration:
            trees.append(_export_tree(predictor, len(trees)))
    spec: dict[str, Any] = {"format": FORMAT, "features": list(features)}
    if per_iteration == 1:
        return spec | {"baseline": float(baseline.ravel()[0]), "link": "logistic", "trees": trees}
    return spec | {
        "baseline": baseline.ravel().tolist(),
        "link": "softmax",
        "n_classes": per_iteration,
        "trees": trees,
    }


def _export_tree(predictor: Any, i: int) -> dict[str, Any]:
    nodes = getattr(predictor, "nodes", None)
    names = getattr(getattr(nodes, "dtype", None), "names", None) or ()
    absent = [f for f in (*NODE_FIELDS, "is_categorical") if f not in names]
    if absent:
        raise RuntimeError(
            f"cannot export the BDT: tree {i} nodes lack field(s) {', '.join(absent)} "
            f"in scikit-learn {sklearn.__version__}; jettag.train.bdt relies on them (see its docstring)"
        )
    if nodes["is_categorical"].any():
        raise RuntimeError(f"cannot export the BDT: tree {i} has a categorical split, which is not supported")
    leaf = nodes["is_leaf"].astype(bool)
    return {
        "feature": np.where(leaf, 0, nodes["feature_idx"]).astype(int).tolist(),
        "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).astype(float).tolist(),
        "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
        "left": np.where(leaf, 0, nodes["left"]).astype(int).tolist(),
        "right": np.where(leaf, 0, nodes["right"]).astype(int).tolist(),
        "is_leaf": leaf.tolist(),
        "value": np.where(leaf, nodes["value"], 0.0).astype(float).tolist(),
    }


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


def _classifier(seed: int, params: dict[str, Any]) -> HistGradientBoostingClassifier:
    refused = [name for name in _REFUSED_PARAMS if name in params]
    if refused:
        raise ValueError(
            f"BDT parameter(s) {', '.join(refused)} are set by train_bdt (seed, the given val split, "
            "numerical features only)"
        )
    return HistGradientBoostingClassifier(**{**DEFAULT_PARAMS, **params}, random_state=seed)


def fit_bdt(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int = 0,
    threads: int | None = 1,
    **params: Any,
) -> HistGradientBoostingClassifier:
    """The fitted classifier; with early stopping (the default) it stops on the loss of ``X_val``.

    ``threads`` caps scikit-learn's OpenMP threads (None: all cores): a job given one core that starts
    a thread per core of the machine makes every job beside it wait."""
    model = _classifier(seed, params)
    fit_kwargs: dict[str, Any] = {}
    if model.early_stopping:
        if "X_val" not in inspect.signature(model.fit).parameters:
            raise RuntimeError(
                f"early stopping on the val split needs scikit-learn >= 1.7 (fit(X_val=...)), "
                f"found {sklearn.__version__}; upgrade or pass early_stopping=False"
            )
        fit_kwargs = {"X_val": X_val, "y_val": y_val}
    with threadpool_limits(limits=threads, user_api="openmp"):
        return model.fit(X_train, y_train, **fit_kwargs)


def train_bdt(
    train_shard: str | Path,
    val_shard: str | Path,
    output_dir: str | Path,
    seed: int = 0,
    features: Sequence[str] = HIGH_LEVEL_FEATURES,
    label_names: Sequence[str] = BINARY_LABEL_NAMES,
    threads: int | None = 1,
    **params: Any,
) -> dict[str, Any]:
    """Fit the BDT on ``train_shard``, score it on ``val_shard``, write ``bdt.json`` and ``artefact.json``.

    ``label_names`` name the classes by label value (the build summary's); more than two make a multi-class
    BDT (softmax over one tree per class and iteration). ``params`` override :data:`DEFAULT_PARAMS` (any
    ``HistGradientBoostingClassifier`` argument except those in ``_REFUSED_PARAMS``). Returns the metrics,
    also stored in ``artefact.json``: for several classes ``val_auc_vs_background`` has each signal class
    against the background, on ``s_i / (s_i + s_0)``, and ``val_auc`` is their mean, as for the networks.
    """
    features = tuple(features)
    label_names = list(label_names)
    n_labels = len(label_names)
    X_train, y_train = load_highlevel(train_shard, features, n_labels)
    X_val, y_val = load_highlevel(val_shard, features, n_labels)
    for path, y in ((train_shard, y_train), (val_shard, y_val)):
        if len(np.unique(y)) != n_labels:
            raise ValueError(
                f"{path}: needs jets of every class {label_names}, found labels {np.unique(y).tolist()}"
            )
    start = time.perf_counter()
    model = fit_bdt(X_train, y_train, X_val, y_val, seed, threads, **params)
    train_seconds = time.perf_counter() - start

    spec = export_trees(model, features)
    metrics: dict[str, Any]
    if n_labels == 2:
        probability = model.predict_proba(X_val)[:, 1]
        metrics = {
            "val_auc": float(roc_auc_score(y_val, probability)),
            "val_accuracy": float(accuracy_score(y_val, probability > 0.5)),
        }
    else:
        from jettag.evaluate.metrics import one_vs_background

        probabilities = model.predict_proba(X_val)
        vs_background = {
            name: float(roc_auc_score(*one_vs_background(y_val, probabilities, i)))
            for i, name in enumerate(label_names[1:], start=1)
        }
        metrics = {
            "val_auc": float(np.mean(list(vs_background.values()))),
            "val_accuracy": float(accuracy_score(y_val, probabilities.argmax(axis=1))),
            "val_auc_vs_background": vs_background,
        }
    metrics |= {
        "n_train": len(y_train),
        "n_val": len(y_val),
        "n_iter": int(model.n_iter_),
        "n_params": sum(len(t["is_leaf"]) for t in spec["trees"]),
        "n_leaves": sum(sum(t["is_leaf"]) for t in spec["trees"]),
        "train_seconds": round(train_seconds, 3),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "bdt.json").write_text(json.dumps(spec, allow_nan=False) + "\n")
    artefact = {
        "model": "bdt",
        "file": "bdt.json",
        "features": list(features),
        "n_classes": 1 if n_labels == 2 else n_labels,
        "label_names": label_names,
        "params": {**DEFAULT_PARAMS, **params},
        "seed": seed,
        "train_shard": str(train_shard),
        "val_shard": str(val_shard),
        "jettag_version": __version__,
        "sklearn_version": sklearn.__version__,
        "metrics": metrics,
    }
    (output_dir / "artefact.json").write_text(json.dumps(artefact, indent=2) + "\n")
    return metrics
