"""The report's numbers: every evaluated run gathered per model, with the spread over seeds.

:func:`collect` reads the evaluate stage's directories (``metrics.json`` + ``scores.parquet`` each) and
returns the content of ``report/metrics.json`` (schema in README.md, "metrics.json"):

- ``models``: per model the median over seeds of ``auc``, ``accuracy`` and ``rejection`` (per signal
  efficiency), each with ``*_spread`` (sample standard deviation over seeds, 0 for one seed) and ``*_error``
  (median over seeds of the bootstrap standard deviation on the test jets); ``n_seeds``, ``n_params``,
  ``train_seconds`` (median), throughputs, and ``seeds``: every run's own numbers;
- ``differences`` (binary taggers scored on the same test jets, with bootstrap resamples): for every
  ordered pair of models ``[a][b]`` the difference of their medians over seeds of AUC and rejection, with
  its paired bootstrap error (:func:`jettag.metrics.paired_differences`);
- ``pt_bins``: AUC and rejection in bins of jet pT (median over seeds), for the pT-dependence figure;
- ``dataset``: the ingest summary (jets per split and class, drops by reason) and the build summaries.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jettag.jetclass import BINARY_LABEL_NAMES, class_name
from jettag.metrics import binary_metrics, one_vs_background, paired_differences, spread

__all__ = ["Run", "class_views", "collect", "load_runs", "pt_edges"]

#: version of the layout of ``report/metrics.json``
SCHEMA_VERSION = 1


@dataclass
class Run:
    """One evaluated training: its ``metrics.json`` and its per-jet ``scores`` table.

    ``names``: how the figures call the signal and the background of a binary table."""

    directory: Path
    metrics: dict[str, Any]
    scores: pd.DataFrame
    names: tuple[str, str] = ("signal", "background")

    @property
    def label_names(self) -> list[str]:
        return list(self.metrics.get("label_names", BINARY_LABEL_NAMES))

    @property
    def multiclass(self) -> bool:
        return "per_class" in self.metrics["test"]

    @property
    def model(self) -> str:
        return self.metrics["model"]

    @property
    def seed(self) -> int:
        return int(self.metrics["seed"])


def load_runs(directories: Sequence[str | Path]) -> dict[str, list[Run]]:
    """The runs of each model (in the order models first appear), seeds in increasing order."""
    runs: dict[str, list[Run]] = {}
    for directory in map(Path, directories):
        metrics_path, scores_path = directory / "metrics.json", directory / "scores.parquet"
        for path in (metrics_path, scores_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file; run the evaluate stage for {directory}")
        run = Run(directory, json.loads(metrics_path.read_text()), pd.read_parquet(scores_path))
        columns = [f"score_{name}" for name in run.label_names] if run.multiclass else ["score"]
        missing = [column for column in columns if column not in run.scores]
        if missing:
            raise ValueError(f"{scores_path}: lacks the column(s) {', '.join(missing)}")
        runs.setdefault(run.model, []).append(run)
    classes = {(run.multiclass, tuple(run.label_names)) for model_runs in runs.values() for run in model_runs}
    if len(classes) > 1:
        raise ValueError(f"the evaluated runs do not share their classes: {sorted(classes)}")
    for name, model_runs in runs.items():
        model_runs.sort(key=lambda run: run.seed)
        seeds = [run.seed for run in model_runs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"model {name!r}: seed(s) evaluated twice: {seeds}")
    return runs


def binary_names(signal: Sequence[str], background: Sequence[str]) -> tuple[str, str]:
    """How the figures call the two classes of a binary tagger, from the configuration's label lists:
    ``("signal (Tbqq)", "background (QCD)")``."""

    return f"signal ({class_name(signal)})", f"background ({class_name(background)})"


def class_views(runs: dict[str, list[Run]]) -> dict[str, dict[str, list[Run]]]:
    """For multi-class runs: per signal class, the runs seen as binary taggers of that class against the
    background: the jets of the two classes, ``label`` 1 for the class, ``score`` = ``s_i / (s_i + s_0)``,
    and ``metrics["test"]`` that class's figures of merit (from the evaluate stage)."""
    some_run = next(iter(runs.values()))[0]
    names = some_run.label_names
    views: dict[str, dict[str, list[Run]]] = {}
    for i, name in enumerate(names[1:], start=1):
        views[name] = {}
        for model, model_runs in runs.items():
            for run in model_runs:
                table = run.scores
                probabilities = table[[f"score_{n}" for n in names]].to_numpy()
                labels, score = one_vs_background(table.label.to_numpy(), probabilities, i)
                keep = table.label.isin((0, i)).to_numpy()
                view = table[keep].drop(columns=[f"score_{n}" for n in names]).reset_index(drop=True)
                view["label"] = labels
                view["score"] = score
                metrics = {**run.metrics, "test": run.metrics["test"]["per_class"][name]}
                vs = run.metrics.get("val_auc_vs_background") or {}
                metrics["val_auc"] = vs.get(name)
                views[name].setdefault(model, []).append(Run(run.directory, metrics, view, (name, names[0])))
    return views


def pt_edges(pt: np.ndarray, edges: Sequence[float] | None, n_bins: int = 5) -> np.ndarray:
    """The given pT bin edges, or ``n_bins`` bins holding equal numbers of jets, rounded to GeV."""
    if edges is not None:
        edges = np.asarray(edges, dtype=np.float64)
        if len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"evaluate.pt_bins must be increasing edges, got {edges.tolist()}")
        return edges
    quantiles = np.quantile(pt, np.linspace(0, 1, n_bins + 1))
    quantiles[1:-1] = np.round(quantiles[1:-1])
    quantiles[0], quantiles[-1] = np.floor(quantiles[0]), np.ceil(quantiles[-1])
    return np.unique(quantiles)


def _median_of(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


def _model_entry(model_runs: list[Run], efficiencies: Sequence[str]) -> dict[str, Any]:
    first = model_runs[0].metrics
    tests = [run.metrics["test"] for run in model_runs]
    auc = spread([t["auc"] for t in tests])
    accuracy = spread([t["accuracy"] for t in tests])
    rejection = {e: spread([t["rejection"][e] for t in tests]) for e in efficiencies}
    errors = [t.get("errors", {}) for t in tests]

    def throughput(key: str) -> float | None:
        return _median_of([run.metrics.get(key) for run in model_runs])

    return {
        "kind": first["kind"],
        "cell": first.get("cell"),
        "n_seeds": len(model_runs),
        "n_params": first["n_params"],
        "auc": auc["median"],
        "auc_spread": auc["spread"],
        "auc_error": _median_of([e.get("auc") for e in errors]),
        "accuracy": accuracy["median"],
        "accuracy_spread": accuracy["spread"],
        "rejection": {e: rejection[e]["median"] for e in efficiencies},
        "rejection_spread": {e: rejection[e]["spread"] for e in efficiencies},
        "rejection_error": {
            e: _median_of([x.get("rejection", {}).get(e) for x in errors]) for e in efficiencies
        },
        "rejection_unbounded": {e: rejection[e]["n_unbounded"] for e in efficiencies},
        "rejection_limit": tests[0]["rejection_limit"],
        "train_seconds": _median_of([run.metrics["train_seconds"] for run in model_runs]),
        "train_jets_per_second": throughput("train_jets_per_second"),
        "inference_jets_per_second": throughput("inference_jets_per_second"),
        "val_auc": _median_of([run.metrics.get("val_auc") for run in model_runs]),
        "seeds": {
            str(run.seed): {
                "auc": t["auc"],
                "accuracy": t["accuracy"],
                "rejection": t["rejection"],
                "train_seconds": run.metrics["train_seconds"],
                "epochs_trained": run.metrics.get("epochs_trained"),
                "val_auc": run.metrics.get("val_auc"),
            }
            for run, t in zip(model_runs, tests, strict=True)
        },
    }


def _pt_dependence(
    runs: dict[str, list[Run]], edges: np.ndarray, efficiency: float
) -> dict[str, dict[str, list[float | None]]]:
    """Per model: median over seeds of AUC and rejection at ``efficiency`` in each pT bin (None where a bin
    lacks signal or background jets, or no background passes)."""
    key = f"{efficiency:g}"
    result = {}
    for name, model_runs in runs.items():
        aucs, rejections = [], []
        for low, high in itertools.pairwise(edges):
            bin_auc, bin_rej = [], []
            for run in model_runs:
                table = run.scores
                last = high == edges[-1]
                inside = (table.jet_pt >= low) & ((table.jet_pt <= high) if last else (table.jet_pt < high))
                labels = table.label[inside].to_numpy()
                if len(np.unique(labels)) < 2:
                    continue
                point = binary_metrics(labels, table.score[inside].to_numpy(), (efficiency,))
                bin_auc.append(point["auc"])
                bin_rej.append(point["rejection"][key])
            aucs.append(_median_of(bin_auc))
            rejections.append(_median_of(bin_rej))
        result[name] = {"auc": aucs, f"rejection_{key}": rejections}
    return result


def _same_jets(runs: dict[str, list[Run]]) -> bool:
    """Whether every run scored the same test jets in the same order (labels and jet pT agree)."""
    first = next(iter(runs.values()))[0].scores
    return all(
        len(run.scores) == len(first)
        and np.array_equal(run.scores.label.to_numpy(), first.label.to_numpy())
        and np.array_equal(run.scores.jet_pt.to_numpy(), first.jet_pt.to_numpy())
        for model_runs in runs.values()
        for run in model_runs
    )


def collect(
    runs: dict[str, list[Run]],
    efficiencies: Sequence[float],
    ingest_summary: dict[str, Any] | None = None,
    build_summaries: dict[str, dict[str, Any]] | None = None,
    pt_bins: Sequence[float] | None = None,
    provenance: dict[str, Any] | None = None,
    views: dict[str, dict[str, list[Run]]] | None = None,
    n_bootstrap: int = 0,
) -> dict[str, Any]:
    """The content of ``report/metrics.json`` for the ``runs`` of :func:`load_runs`; for multi-class runs
    ``views`` are their :func:`class_views` (made here when not given). ``n_bootstrap`` > 0: the paired
    ``differences`` between binary taggers, from that many resamples of the test jets."""
    if not runs:
        raise ValueError("no evaluated runs to report")
    keys = [f"{e:g}" for e in efficiencies]
    some_run = next(iter(runs.values()))[0]
    edges = pt_edges(some_run.scores.jet_pt.to_numpy(), pt_bins)
    reference = 0.5 if 0.5 in efficiencies else efficiencies[-1]
    labels = some_run.scores.label
    conventions = {
        "rejection": "1/eps_B at the signal efficiency eps_S, eps_B interpolated linearly on the ROC; "
        "null where no background jet passes (the rejection is then at least rejection_limit)",
        "median": "over the seeds (independent trainings) of a model",
        "spread": "sample standard deviation over seeds (0 for one seed)",
        "error": "median over seeds of the standard deviation over bootstrap resamples of the test jets",
        "accuracy": "fraction of jets on the right side of score 0.5",
    }
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "split": some_run.metrics.get("split", "test"),
        "signal_efficiencies": list(efficiencies),
        "test_jets": {"signal": int((labels != 0).sum()), "background": int((labels == 0).sum())},
        "label_names": some_run.label_names,
        "conventions": conventions,
    }
    if some_run.multiclass:
        names = some_run.label_names
        views = class_views(runs) if views is None else views
        conventions["classes"] = (
            f"each signal class against the background ({names[0]}) alone: on the jets of the two classes, "
            "with the discriminant s_i / (s_i + s_0) of the softmax scores s; auc of a model is the mean "
            "over the signal classes"
        )
        conventions["accuracy"] = "fraction of jets whose most probable class is the true one"
        result["classes"] = names
        result["test_jets"]["classes"] = {name: int((labels == i).sum()) for i, name in enumerate(names)}
        result["models"] = {
            name: _multiclass_entry(model_runs, {c: views[c][name] for c in views}, keys)
            for name, model_runs in runs.items()
        }
        result["pt_bins"] = {
            "edges": edges.tolist(),
            "signal_efficiency": reference,
            "classes": {c: _pt_dependence(views[c], edges, reference) for c in views},
        }
    else:
        result["models"] = {name: _model_entry(model_runs, keys) for name, model_runs in runs.items()}
        result["pt_bins"] = {
            "edges": edges.tolist(),
            "signal_efficiency": reference,
            "models": _pt_dependence(runs, edges, reference),
        }
        if n_bootstrap and len(runs) > 1 and _same_jets(runs):
            conventions["differences"] = (
                "differences[a][b]: median of a minus median of b; *_error: its standard deviation over "
                "bootstrap resamples of the test jets shared by both taggers (paired)"
            )
            scores = {name: [run.scores.score.to_numpy() for run in group] for name, group in runs.items()}
            result["differences"] = paired_differences(labels.to_numpy(), scores, efficiencies, n_bootstrap)
    return result | {
        "dataset": {"ingest": ingest_summary, "build": build_summaries},
        "provenance": provenance or {},
    }


#: the keys of a binary model entry that are figures of merit of one signal class against the background
CLASS_KEYS = (
    "auc",
    "auc_spread",
    "auc_error",
    "rejection",
    "rejection_spread",
    "rejection_error",
    "rejection_unbounded",
    "rejection_limit",
    "val_auc",
)


def _multiclass_entry(
    model_runs: list[Run], class_runs: dict[str, list[Run]], efficiencies: Sequence[str]
) -> dict[str, Any]:
    """A multi-class model: the overall accuracy, the mean one-vs-background AUC, and per class the
    figures of merit of the binary entry (``classes``)."""
    entry = _model_entry(class_runs[next(iter(class_runs))], efficiencies)
    classes = {}
    for name, runs in class_runs.items():
        full = _model_entry(runs, efficiencies)
        classes[name] = {key: full[key] for key in CLASS_KEYS} | {
            "seeds": {seed: {k: v[k] for k in ("auc", "rejection")} for seed, v in full["seeds"].items()}
        }
    accuracy = spread([run.metrics["test"]["accuracy"] for run in model_runs])
    mean_auc = spread(
        [float(np.mean([c["auc"] for c in run.metrics["test"]["per_class"].values()])) for run in model_runs]
    )
    return {
        "kind": entry["kind"],
        "cell": entry["cell"],
        "n_seeds": entry["n_seeds"],
        "n_params": entry["n_params"],
        "auc": mean_auc["median"],
        "auc_spread": mean_auc["spread"],
        "accuracy": accuracy["median"],
        "accuracy_spread": accuracy["spread"],
        **{
            key: entry[key] for key in ("train_seconds", "train_jets_per_second", "inference_jets_per_second")
        },
        "val_auc": _median_of([run.metrics.get("val_auc") for run in model_runs]),
        "classes": classes,
        "seeds": {
            str(run.seed): {
                "auc": float(np.mean([c["auc"] for c in run.metrics["test"]["per_class"].values()])),
                "accuracy": run.metrics["test"]["accuracy"],
                "train_seconds": run.metrics["train_seconds"],
                "epochs_trained": run.metrics.get("epochs_trained"),
                "val_auc": run.metrics.get("val_auc"),
            }
            for run in model_runs
        },
    }
