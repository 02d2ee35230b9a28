"""The BDT baseline as ONNX: one ONNX-ML ``TreeEnsembleRegressor`` built from its JSON trees (``bdt.json``).

The BDT's graph is one ONNX-ML ``TreeEnsembleRegressor`` (opset :data:`ML_OPSET` of ``ai.onnx.ml``)
summing the trees of ``bdt.json`` onto the baseline into ``logits``, then ``Sigmoid`` and ``(1 - p, p)``, or
``Softmax``. It is built from the JSON trees with skl2onnx's tree-ensemble builder
(``skl2onnx.common.tree_ensemble``), not by rebuilding a ``HistGradientBoostingClassifier`` for skl2onnx's
converter, because that converter, in the pinned skl2onnx 1.20.0:

- fails on the estimator with onnx 1.23 and protobuf 7 (it hands ``missing_go_to_left`` to ONNX as numpy
  bools, which protobuf refuses), and a rebuilt estimator would rest on more scikit-learn internals
  (``TreePredictor``'s node layout and constructor, the loss objects) than ``bdt.json`` does;
- rounds each float64 threshold to the nearest float32 (``adjust_threshold_for_sklearn`` is off for these
  trees), so a float32 input exactly at a threshold rounded up goes left where scikit-learn sends it right.

The builder's own threshold adjustment (``sklearn_threshold``) is not used either: given a Python float it
compares in float32 under NumPy 2's promotion rules and adjusts nothing. :func:`_float32_thresholds` gives
each split the largest float32 at or below its threshold, so that ``x <= t`` in float32 is the JSON trees'
float64 ``x <= t`` for every float32 ``x``, ties included (scikit-learn's thresholds are mostly the training
jets' own float32 values, and midpoints when a feature has fewer than 255 distinct values).
``BRANCH_LEQ`` with ``nodes_missing_value_tracks_true`` = ``missing_left`` sends NaN where the JSON trees
do. ONNX Runtime sums the leaf values in float32 (it takes no double attributes for a float input), so
``logits`` differ from the float64 sums by about 1e-6 and ``scores`` by about 1e-7; every export checks
the scores against :class:`jettag.trees.BDTModel` within :data:`BDT_TOLERANCE` on jets at and one
float32 step above the trees' thresholds, and with NaN features (:func:`bdt_check_inputs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jettag import __version__
from jettag.artefact import ArtefactError, TrainedBDT

if TYPE_CHECKING:
    import onnx

__all__ = ["BDT_TOLERANCE", "ML_OPSET", "bdt_check_inputs", "bdt_onnx", "write_bdt_onnx"]

#: opset of the ONNX-ML domain (``ai.onnx.ml``) of the BDT's ``TreeEnsembleRegressor``
ML_OPSET = 3
#: largest difference of scores between ONNX Runtime and the JSON trees a BDT export accepts (float32 sums)
BDT_TOLERANCE = 1e-5


def _float32_thresholds(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 threshold: ``x <= t`` then holds in float32 exactly when
    it holds in float64, for every float32 ``x``."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    nearest = thresholds.astype(np.float32)
    above = nearest.astype(np.float64) > thresholds
    return np.where(above, np.nextafter(nearest, np.float32(-np.inf)), nearest)


def _tree_ensemble_attributes(bdt: TrainedBDT) -> dict[str, Any]:
    """The ``TreeEnsembleRegressor`` attributes of the JSON trees: tree ``t`` adds to target ``t mod
    n_classes`` (the ``bdt.json`` order), ``x <= threshold`` goes to ``left`` (the true branch)."""
    from skl2onnx.common.tree_ensemble import add_node, get_default_tree_regressor_attribute_pairs

    model = bdt.model
    attributes = get_default_tree_regressor_attribute_pairs()
    for t, tree in enumerate(model.trees):
        thresholds = _float32_thresholds(np.where(tree.is_leaf, 0.0, tree.threshold))
        for node in range(len(tree.is_leaf)):
            leaf = bool(tree.is_leaf[node])
            add_node(
                attributes,
                False,  # a regressor: the raw scores, the link is applied after
                t,
                1.0,  # tree weight: the leaf values already carry the learning rate
                node,
                0 if leaf else int(tree.feature[node]),
                "LEAF" if leaf else "BRANCH_LEQ",
                0.0 if leaf else float(thresholds[node]),
                0 if leaf else int(tree.left[node]),
                0 if leaf else int(tree.right[node]),
                np.array([tree.value[node]]),
                t % model.n_classes,  # the target (class) this tree adds to
                False,  # leaf values are scores, not class counts
                False,  # thresholds are already float32 (see _float32_thresholds)
                dtype=np.float32,
                nodes_missing_value_tracks_true=int(not leaf and tree.missing_left[node]),
            )
    del attributes["nodes_hitrates"]  # optional, and all 1
    for name in ("nodes_values", "target_weights"):
        attributes[name] = np.asarray(attributes[name], dtype=np.float32).tolist()
    return attributes | {
        "n_targets": model.n_classes,
        "aggregate_function": "SUM",
        "post_transform": "NONE",
        "base_values": model.baseline.astype(np.float32).tolist(),
    }


def bdt_onnx(bdt: TrainedBDT, opset: int) -> onnx.ModelProto:
    """The ONNX graph of the BDT baseline: ``x`` ``[batch, n_features]`` float32 to ``logits``
    ``[batch, n_classes]`` (raw scores) and ``scores`` ``[batch, n_labels]`` (see the module docstring), in
    the ONNX ``opset`` (:data:`jettag.predict.export.OPSET`)."""
    from onnx import TensorProto, helper

    model = bdt.model
    n_labels = len(bdt.label_names)
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            ["x"],
            ["logits"],
            domain="ai.onnx.ml",
            name="trees",
            **_tree_ensemble_attributes(bdt),
        )
    ]
    initializers = []
    if model.n_classes == 1:
        initializers.append(helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]))
        nodes += [
            helper.make_node("Sigmoid", ["logits"], ["signal"], name="link"),
            helper.make_node("Sub", ["one", "signal"], ["background"], name="background"),
            helper.make_node("Concat", ["background", "signal"], ["scores"], axis=1, name="columns"),
        ]
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1, name="link"))
    graph = helper.make_graph(
        nodes,
        "bdt",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", len(model.features)])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", model.n_classes]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", n_labels]),
        ],
        initializer=initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="jettag",
        producer_version=__version__,
    )


def bdt_check_inputs(bdt: TrainedBDT, max_splits: int | None = 1000, seed: int = 0) -> np.ndarray:
    """Jets ``[n, n_features]`` float32 at the trees' branch points: for each split (``max_splits`` of them
    drawn at random, or all), a jet at its float32 threshold (which goes left), one float32 step above it
    (right) and one with that feature NaN (the default branch); their other features, and those of 64 more
    jets, drawn from the values the trees split at, so that the jets reach many leaves."""
    model = bdt.model
    n_features = len(model.features)
    splits = [(tree.feature[~tree.is_leaf], tree.threshold[~tree.is_leaf]) for tree in model.trees]
    feature = np.concatenate([f for f, _ in splits]).astype(np.intp)
    at = _float32_thresholds(np.concatenate([t for _, t in splits]))
    rng = np.random.default_rng(seed)
    per_feature = [at[feature == j] for j in range(n_features)]
    if max_splits is not None and len(at) > max_splits:
        chosen = rng.choice(len(at), max_splits, replace=False)
        feature, at = feature[chosen], at[chosen]
    x = np.empty((3 * len(at) + 64, n_features), dtype=np.float32)
    for j, values in enumerate(per_feature):
        x[:, j] = rng.choice(values, len(x)) if len(values) else rng.standard_normal(len(x))
    rows = np.arange(len(at))
    x[rows, feature] = at
    x[len(at) + rows, feature] = np.nextafter(at, np.float32(np.inf))
    x[2 * len(at) + rows, feature] = np.nan
    return x


def _check_bdt_onnx(path: Path, bdt: TrainedBDT) -> float:
    """Largest difference between ONNX Runtime's scores and the JSON trees' (float64) probabilities."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = bdt_check_inputs(bdt)
    (scores,) = session.run(["scores"], {"x": x})
    expected = bdt.model.predict_proba(x.astype(np.float64))
    if expected.ndim == 1:
        expected = np.stack([1.0 - expected, expected], axis=1)
    return float(np.abs(scores - expected).max())


def write_bdt_onnx(bdt: TrainedBDT, path: Path, opset: int) -> float:
    """Write the BDT's ONNX graph to ``path``; return the largest difference from the JSON trees' scores."""
    import onnx

    trees = bdt.directory / str(bdt.artefact.get("file", "bdt.json"))
    try:
        model = bdt_onnx(bdt, opset)
        onnx.checker.check_model(model, full_check=True)
    except (ValueError, TypeError, onnx.checker.ValidationError) as err:
        raise ArtefactError(f"{trees}: cannot be written as ONNX ({type(err).__name__}: {err})") from None
    onnx.save(model, str(path))
    return _check_bdt_onnx(path, bdt)
