"""BDT baseline: gradient-boosted trees on the high-level jet features, saved without pickle.

:func:`train_bdt` fits scikit-learn's ``HistGradientBoostingClassifier`` on the ``highlevel.arrow`` shard of
the training split, with early stopping on the given validation split (passed to ``fit`` as
``X_val``/``y_val``, so no ``validation_fraction`` is cut from the training jets), and reports the
validation AUC. The validation split is therefore used for model selection; the test split stays for the
evaluate stage.

The seed changes the training as it does for the networks, whose seed draws the initial weights and the
batch order from the same jets: every split of every tree chooses among 4 of the 5 features
(``max_features`` 0.8), drawn from the seed, and every training jet is used. Without it the seed would act
on nothing (scikit-learn bins the features from every jet up to 200 000 of them, and no validation fraction
is cut), so every seed gave bit-identical trees and the spread over seeds was 0. On the main job's build
(12 000 training jets) the validation AUC over seeds 1-10 is 0.9725 ± 0.0003 against 0.9722 for the
unseeded trees: no weaker. The alternatives were measured the same way and not taken: training each seed on a
subsample of the jets (0.9 of them: 0.9720 ± 0.0004; 0.8: 0.9717 ± 0.0007) throws statistics away, and
presenting the features in a seeded order changes only which of two equally good splits is taken
(± 0.0001). ``max_features=1.0`` gives back the same trees for every seed.

The fitted model is written as plain JSON (``bdt.json``): the trees' nodes as arrays, evaluated again by
:class:`jettag.trees.BDTModel` in numpy. A pickle would run arbitrary code on load and ties the file to one
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

The BDT's model file (``configs/models/bdt.yaml`` when ``train.model_dir`` has one; ``snakemake tune``
writes it as the BDT's ``best.yaml``) holds ``name``, ``kind: bdt`` and classifier arguments that take the
place of :data:`DEFAULT_PARAMS` (:func:`load_bdt_config`).
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from threadpoolctl import threadpool_limits

from jettag.artefact import write_artefact
from jettag.features.run import load_highlevel
from jettag.jetclass import BINARY_LABEL_NAMES, HIGH_LEVEL_FEATURES
from jettag.metrics import one_vs_background
from jettag.schema import ConfigError, read_yaml
from jettag.shards import write_text_atomically
from jettag.trees import FORMAT, NODE_FIELDS

__all__ = [
    "DEFAULT_PARAMS",
    "REFUSED_PARAMS",
    "bdt_arguments",
    "export_trees",
    "fit_bdt",
    "is_bdt_config",
    "load_bdt_config",
    "settable_bdt_arguments",
    "train_bdt",
    "train_bdt_run",
]

#: classifier settings unless overridden through ``train_bdt(**params)``
DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 300,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": True,
    "n_iter_no_change": 10,
    "scoring": "loss",
    # each split chooses among ceil(0.8 * 5) = 4 of the 5 features, drawn from the seed (module docstring)
    "max_features": 0.8,
}
#: set by train_bdt itself (seed; the given val split, never a fraction of train; numerical features only)
REFUSED_PARAMS = ("validation_fraction", "random_state", "categorical_features")


def bdt_arguments() -> dict[str, Any]:
    """The BDT's arguments as jettag trains it: scikit-learn's defaults under jettag's own."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(HistGradientBoostingClassifier).parameters.items()
    }
    return defaults | DEFAULT_PARAMS


def settable_bdt_arguments() -> list[str]:
    """The BDT's arguments a model file or a search may set: all but those jettag sets itself."""
    return sorted(set(bdt_arguments()) - set(REFUSED_PARAMS))


def is_bdt_config(path: str | Path) -> bool:
    """Whether ``path`` is a BDT model file (``kind: bdt``) rather than a network's."""
    raw = read_yaml(path, "model configuration")
    return isinstance(raw, dict) and raw.get("kind") == "bdt"


def load_bdt_config(path: str | Path) -> dict[str, Any]:
    """The classifier arguments of a BDT model file (``name``, ``kind: bdt`` and arguments of
    ``HistGradientBoostingClassifier``), checked by scikit-learn; a :class:`ConfigError` names the file and
    every bad key."""
    raw = read_yaml(path, "model configuration")
    if not isinstance(raw, dict) or raw.get("kind") != "bdt":
        raise ConfigError(f"{path}: a BDT model file is a mapping with kind: bdt")
    arguments = {key: value for key, value in raw.items() if key not in ("name", "kind")}
    known = settable_bdt_arguments()
    problems = [
        f"model config key '{key}' is not an argument of the BDT that can be set (known: {', '.join(known)})"
        for key in arguments
        if key not in known
    ]
    if not problems:
        try:
            HistGradientBoostingClassifier(**(DEFAULT_PARAMS | arguments))._validate_params()
        except (ValueError, TypeError) as err:
            problems.append(str(err))
    if problems:
        raise ConfigError(f"{path}: invalid BDT configuration\n  - " + "\n  - ".join(problems))
    return arguments


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


def _classifier(seed: int, params: dict[str, Any]) -> HistGradientBoostingClassifier:
    refused = [name for name in REFUSED_PARAMS if name in params]
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
    ``HistGradientBoostingClassifier`` argument except those in ``REFUSED_PARAMS``). Returns the metrics,
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
    write_text_atomically(output_dir / "bdt.json", json.dumps(spec, allow_nan=False) + "\n")
    content = {
        "model": "bdt",
        "file": "bdt.json",
        "features": list(features),
        "n_classes": 1 if n_labels == 2 else n_labels,
        "label_names": label_names,
        "params": {**DEFAULT_PARAMS, **params},
        "seed": seed,
        "train_shard": str(train_shard),
        "val_shard": str(val_shard),
        "sklearn_version": sklearn.__version__,
        "metrics": metrics,
    }
    write_artefact(output_dir, "bdt", content)
    return metrics


def train_bdt_run(
    build_dir: str | Path,
    output_dir: str | Path,
    seed: int,
    threads: int = 1,
    model: str | Path | None = None,
) -> dict[str, Any]:
    """The train stage for the BDT and one seed: fit on the build stage's ``build_dir`` (its training and
    validation ``highlevel.arrow``, with the class names of its summary) into ``output_dir``, with the
    arguments of the BDT model file ``model`` (:func:`load_bdt_config`) or jettag's defaults."""
    params = {} if model is None else load_bdt_config(model)
    build = Path(build_dir)
    summary = json.loads((build / "train" / "summary.json").read_text())
    return train_bdt(
        build / "train" / "highlevel.arrow",
        build / "val" / "highlevel.arrow",
        output_dir,
        seed=seed,
        label_names=summary.get("label_names", list(BINARY_LABEL_NAMES)),
        threads=threads,
        **params,
    )
