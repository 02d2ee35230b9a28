"""Figures of merit of a binary tagger, by the field's conventions (REFERENCE.md section 3).

- ROC: signal efficiency eps_S (true-positive rate) against background efficiency eps_B (false-positive
  rate) over the test jets, from :func:`sklearn.metrics.roc_curve`; AUC from
  :func:`sklearn.metrics.roc_auc_score`.
- Background rejection ``1/eps_B`` at a fixed eps_S: eps_B is interpolated linearly on the ROC at eps_S
  (never the nearest point). Where no background jet passes the cut (eps_B = 0 at eps_S), the rejection is
  unbounded by the test sample: it is reported as ``None`` with ``limit`` = the number of background jets
  (the rejection is at least that).
- Accuracy: the fraction of jets on the right side of score 0.5.
- Uncertainties: the standard deviation over bootstrap resamples of the test jets (with replacement, the
  signal and background counts resampled together), from a seeded generator so they are reproducible.
- Spread over trainings (seeds): median, sample standard deviation (0 for one seed), min and max.
- Differences between taggers scored on the same test jets: the difference of their medians over seeds,
  with the standard deviation of that difference over bootstrap resamples drawn once for every tagger
  (paired), so what the two share (the same hard and easy jets) cancels: it is smaller than either
  tagger's own error when their scores are correlated.
- Multi-class taggers (class 0 the background, softmax scores ``s``): each signal class i is judged against
  the background alone, as in the JetClass benchmark of arXiv:2202.03772: on the jets of class i and the
  background jets, with the discriminant ``s_i / (s_i + s_0)``, and with every figure of merit above. The
  accuracy of the tagger as a whole is the fraction of jets whose most probable class is the true one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "binary_metrics",
    "bootstrap_errors",
    "efficiency_grid",
    "multiclass_metrics",
    "one_vs_background",
    "paired_differences",
    "rejection_at",
    "roc",
    "spread",
    "threshold_at",
    "validation_auc",
    "validation_aucs",
]


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be 1-d and of one length")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not finite")
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("a ROC needs both signal (label 1) and background (label 0) jets")
    return labels, scores


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(eps_s, eps_b)``: the full ROC (every threshold), eps_S non-decreasing from 0 to 1."""
    labels, scores = _check(labels, scores)
    eps_b, eps_s, _ = roc_curve(labels, scores, drop_intermediate=False)
    return eps_s, eps_b


def _eps_b_at(eps_s: np.ndarray, eps_b: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    """eps_B interpolated linearly at eps_S = ``target`` on the ROC; at an eps_S reached by several ROC
    points (a vertical step), the lowest eps_B is the one that counts (the tightest cut with that eps_S)."""
    unique_s, first = np.unique(eps_s, return_index=True)
    return np.asarray(np.interp(target, unique_s, eps_b[first]))


def rejection_at(eps_s: np.ndarray, eps_b: np.ndarray, target: float) -> float | None:
    """``1/eps_B`` at eps_S = ``target`` (linear interpolation on the ROC); None where eps_B is 0 there."""
    value = float(_eps_b_at(eps_s, eps_b, target))
    return None if value <= 0 else 1.0 / value


def efficiency_grid(eps_s: np.ndarray, eps_b: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """eps_B at each eps_S of ``grid``, interpolated as :func:`rejection_at` does (for bands over seeds)."""
    return _eps_b_at(eps_s, eps_b, grid)


def threshold_at(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The score cut that keeps the fraction ``target`` of the signal jets (``score >= cut``)."""
    labels, scores = _check(labels, scores)
    return float(np.quantile(scores[labels == 1], 1.0 - target, method="higher"))


def _point(labels: np.ndarray, scores: np.ndarray, efficiencies: Sequence[float]) -> dict[str, Any]:
    eps_s, eps_b = roc(labels, scores)
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "accuracy": float(np.mean((scores >= 0.5) == (labels == 1))),
        "rejection": {f"{e:g}": rejection_at(eps_s, eps_b, e) for e in efficiencies},
    }


def bootstrap_errors(
    labels: np.ndarray,
    scores: np.ndarray,
    efficiencies: Sequence[float],
    n_resamples: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Standard deviations over ``n_resamples`` bootstrap resamples of AUC, accuracy and each rejection
    (resamples in which a rejection is unbounded are left out of its spread). None where fewer than two
    resamples give a value."""
    labels, scores = _check(labels, scores)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {"auc": [], "accuracy": []}
    rejections: dict[str, list[float]] = {f"{e:g}": [] for e in efficiencies}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(labels), len(labels))
        if labels[pick].min() == labels[pick].max():
            continue
        point = _point(labels[pick], scores[pick], efficiencies)
        values["auc"].append(point["auc"])
        values["accuracy"].append(point["accuracy"])
        for key, value in point["rejection"].items():
            if value is not None:
                rejections[key].append(value)

    def std(sample: list[float]) -> float | None:
        return float(np.std(sample, ddof=1)) if len(sample) >= 2 else None

    return {
        "auc": std(values["auc"]),
        "accuracy": std(values["accuracy"]),
        "rejection": {key: std(sample) for key, sample in rejections.items()},
        "n_resamples": n_resamples,
    }


def paired_differences(
    labels: np.ndarray,
    scores: dict[str, Sequence[np.ndarray]],
    efficiencies: Sequence[float],
    n_resamples: int,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """For every ordered pair of taggers ``(a, b)`` scored on the same ``labels`` (``scores[name]``: one
    score array per training, i.e. per seed): ``result[a][b]`` = ``{"auc": ..., "auc_error": ...,
    "rejection": {eps: ...}, "rejection_error": {eps: ...}, "n_resamples": ...}``, the difference of the
    medians over seeds (``a`` minus ``b``; a rejection's median over the bounded trainings, as in
    :func:`spread`) and its standard deviation over ``n_resamples`` bootstrap
    resamples of the jets, each resample shared by every tagger and seed. A rejection difference is None
    where either median is unbounded (no bounded training); its error leaves out the resamples where one
    is."""
    labels = np.asarray(labels).astype(np.int64)
    for runs in scores.values():
        for run in runs:
            _check(labels, run)
    keys = [f"{e:g}" for e in efficiencies]

    def medians(pick: np.ndarray | None) -> dict[str, tuple[float, dict[str, float | None]]]:
        """Per tagger: the median AUC over seeds, and per signal efficiency the median rejection."""
        out = {}
        for name, runs in scores.items():
            jets = labels if pick is None else labels[pick]
            points = [_point(jets, run if pick is None else run[pick], efficiencies) for run in runs]
            # as in the report's table (:func:`spread`): a rejection's median over the bounded trainings
            rejections = {key: spread([p["rejection"][key] for p in points])["median"] for key in keys}
            out[name] = (float(np.median([p["auc"] for p in points])), rejections)
        return out

    nominal = medians(None)
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(labels), len(labels))
        if labels[pick].min() == labels[pick].max():
            continue
        resampled.append(medians(pick))

    def std(sample: list[float]) -> float | None:
        return float(np.std(sample, ddof=1)) if len(sample) >= 2 else None

    def difference(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else x - y

    result: dict[str, dict[str, Any]] = {}
    for a in scores:
        for b in scores:
            if a == b:
                continue
            entry: dict[str, Any] = {
                "auc": nominal[a][0] - nominal[b][0],
                "auc_error": std([r[a][0] - r[b][0] for r in resampled]),
                "rejection": {k: difference(nominal[a][1][k], nominal[b][1][k]) for k in keys},
                "rejection_error": {},
                "n_resamples": n_resamples,
            }
            for k in keys:
                sample = [difference(r[a][1][k], r[b][1][k]) for r in resampled]
                entry["rejection_error"][k] = std([v for v in sample if v is not None])
            result.setdefault(a, {})[b] = entry
    return result


def binary_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    efficiencies: Sequence[float],
    n_bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC, accuracy and rejection at each signal efficiency (keys ``f"{eps:g}"``, e.g. ``"0.3"``), with
    ``rejection_limit`` (the number of background jets: an unbounded rejection is at least that), the jet
    counts, and with ``n_bootstrap`` > 0 the bootstrap ``errors``."""
    labels, scores = _check(labels, scores)
    result = _point(labels, scores, efficiencies)
    result["rejection_limit"] = int((labels == 0).sum())
    result["n_signal"] = int((labels == 1).sum())
    result["n_background"] = int((labels == 0).sum())
    if n_bootstrap:
        result["errors"] = bootstrap_errors(labels, scores, efficiencies, n_bootstrap, seed)
    return result


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, sample standard deviation (0 for one value), min, max and the values themselves, over the
    trainings of one model; ``None`` values (an unbounded rejection) are counted in ``n_unbounded`` and left
    out of the statistics."""
    finite = np.array([v for v in values if v is not None], dtype=np.float64)
    stats: dict[str, Any] = {"median": None, "spread": None, "min": None, "max": None}
    if len(finite):
        stats = {
            "median": float(np.median(finite)),
            "spread": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "min": float(finite.min()),
            "max": float(finite.max()),
        }
    return stats | {"values": list(values), "n_unbounded": sum(v is None for v in values)}


def one_vs_background(
    labels: np.ndarray, probabilities: np.ndarray, signal_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, scores)`` of the binary problem "class ``signal_class`` against the background (class 0)":
    the jets of those two classes only, label 1 for the signal class, and the discriminant
    ``s_i / (s_i + s_0)`` (0.5 where both probabilities are 0)."""
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(
            f"probabilities {probabilities.shape} must be [n_jets, n_classes] for {len(labels)} jets"
        )
    if not 0 < signal_class < probabilities.shape[1]:
        raise ValueError(f"signal class {signal_class} outside 1..{probabilities.shape[1] - 1}")
    if not np.isfinite(probabilities).all():
        bad = int((~np.isfinite(probabilities)).any(axis=1).sum())
        raise ValueError(f"{bad} jets have probabilities that are not finite")
    keep = (labels == 0) | (labels == signal_class)
    s_i, s_0 = probabilities[keep, signal_class], probabilities[keep, 0]
    total = s_i + s_0
    score = np.full(len(total), 0.5)
    np.divide(s_i, total, out=score, where=total > 0)
    return (labels[keep] == signal_class).astype(np.int64), score


def multiclass_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    efficiencies: Sequence[float],
    n_bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Figures of merit of a multi-class tagger: ``accuracy`` (most probable class), ``n_jets`` per class,
    and ``per_class``: for each signal class (by name) :func:`binary_metrics` of that class against the
    background (:func:`one_vs_background`)."""
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(labels), len(label_names)):
        raise ValueError(
            f"probabilities {probabilities.shape}, expected ({len(labels)}, {len(label_names)}) "
            f"for the classes {list(label_names)}"
        )
    per_class = {}
    for i, name in enumerate(label_names[1:], start=1):
        try:
            per_class[name] = binary_metrics(
                *one_vs_background(labels, probabilities, i), efficiencies, n_bootstrap, seed
            )
        except ValueError as err:
            raise ValueError(f"class {name} (label {i}) against {label_names[0]} (label 0): {err}") from err
    return {
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
        "n_jets": {name: int((labels == i).sum()) for i, name in enumerate(label_names)},
        "per_class": per_class,
    }


def validation_aucs(labels: np.ndarray, scores: np.ndarray) -> tuple[float, list[float]]:
    """ROC AUC of signal probabilities ``[n]`` (binary, no per-class list); for class probabilities
    ``[n, n_classes]`` the AUC of each signal class against the background (class 0) on
    ``s_i / (s_i + s_0)``, and their mean, as the report computes them on the test split. NaN while a class
    is missing, as in the sanity check's first batches of a small sample."""
    if scores.ndim == 1:
        return (float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else math.nan), []
    per_class = []
    for i in range(1, scores.shape[1]):
        y, s = one_vs_background(labels, scores, i)
        per_class.append(float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else math.nan)
    return float(np.mean(per_class)), per_class


def validation_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The AUC of :func:`validation_aucs`: binary, or the mean over the signal classes."""
    return validation_aucs(labels, scores)[0]
