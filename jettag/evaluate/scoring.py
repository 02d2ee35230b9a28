"""Score a split with one trained tagger and keep the scores with the jets' observers.

:func:`evaluate_run` is the evaluate stage for one model and seed: it scores every jet of the built
``test`` split (any split can be named), writes ``scores.parquet`` (one row per jet, in the build stage's
order: ``label``, ``score`` = signal probability, and the observers ``jet_pt``, ``jet_eta``, ``jet_phi``,
``jet_mass``, ``jet_sdmass``, ``tau21``, ``tau32``, ``jet_nparticles``, ``jet_lead_pt_fraction``), so new
plots need no rerun, and
``metrics.json`` (the figures of merit of :func:`jettag.metrics.binary_metrics` plus the model's
size, training time and throughputs).

A multi-class tagger's ``scores.parquet`` has one ``score_<class>`` column per class (the softmax
probabilities, ``label`` the class index) instead of ``score``, and its ``metrics.json`` ``test`` holds
:func:`jettag.metrics.multiclass_metrics`: the overall accuracy and, per signal class, the binary
figures of merit of that class against the background.

Network taggers are read back with :func:`jettag.artefact.load_tagger`; the BDT with
:func:`jettag.artefact.load_bdt_tagger`. Sequences are scored in batches of similar length (sorted within each
chunk read, scores put back in jet order), so padding costs little.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd
import torch

from jettag import __version__
from jettag.artefact import TrainedTagger, load_bdt_tagger, load_tagger, read_artefact
from jettag.features.run import load_highlevel
from jettag.jetclass import OBSERVERS
from jettag.metrics import binary_metrics, multiclass_metrics
from jettag.settings import EvaluateSettings
from jettag.shards import iterate_shard, read_shard

__all__ = ["evaluate_run", "score_bdt", "score_network"]


def _observers(build_dir: Path, split: str) -> pd.DataFrame:
    path = build_dir / split / "highlevel.arrow"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such shard; run the build stage for the {split} split first")
    jets = read_shard(path)
    missing = [name for name in ("label", *OBSERVERS) if name not in ak.fields(jets)]
    if missing:
        raise ValueError(f"{path}: lacks the column(s) {', '.join(missing)}")
    return pd.DataFrame({name: ak.to_numpy(jets[name]) for name in ("label", *OBSERVERS)})


def score_network(
    tagger: TrainedTagger, build_dir: str | Path, split: str, batch_size: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(scores, labels, network_seconds)`` of every jet of ``split``, in shard order, scored by the
    tagger's own scorer (:meth:`jettag.artefact.TrainedTagger.score_sequences`, ``score_images``), as
    predict scores; the shard is read ``8 * batch_size`` jets at a time for sequences (sorted by length
    within), ``batch_size`` for images.

    ``network_seconds`` counts the forward passes only (not reading or padding), for the inference
    throughput. Multi-class taggers give ``scores`` of shape ``[n_jets, n_classes]``."""
    build_dir = Path(build_dir)
    kind = tagger.data_kind
    path = build_dir / split / ("sequences.arrow" if kind == "sequence" else "images.arrow")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such shard; run the build stage for the {split} split first")
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    seconds_before = tagger.forward_seconds
    if kind == "sequence":
        names = list(tagger.artefact["features"])
        for chunk in iterate_shard(path, 8 * batch_size):
            fields = ak.fields(chunk.features)
            if fields != names:
                raise ValueError(f"{path}: features {fields}, but the model was trained on {names}")
            try:
                scores.append(tagger.score_sequences(chunk.features, batch_size))
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from None
            labels.append(ak.to_numpy(chunk.label).astype(np.int64))
    else:
        size = tagger.artefact["image_size"]
        for chunk in iterate_shard(path, batch_size):
            images = ak.to_numpy(chunk.image).astype(np.float32).reshape(-1, size, size)
            scores.append(tagger.score_images(images, batch_size))
            labels.append(ak.to_numpy(chunk.label).astype(np.int64))
    if not scores:
        raise ValueError(f"{path}: no jets to score")
    return np.concatenate(scores), np.concatenate(labels), tagger.forward_seconds - seconds_before


def score_bdt(run_dir: str | Path, build_dir: str | Path, split: str = "test") -> tuple[np.ndarray, float]:
    """``(probabilities, seconds)`` of the BDT trained into ``run_dir`` on the ``split`` jets: the signal
    probability per jet, or for a multi-class BDT the class probabilities ``[n_jets, n_classes]``."""
    bdt = load_bdt_tagger(run_dir)
    X, _ = load_highlevel(Path(build_dir) / split / "highlevel.arrow", bdt.features, len(bdt.label_names))
    began = time.perf_counter()
    scores = bdt.model.predict_proba(X)
    return scores, time.perf_counter() - began


def _training_facts(run_dir: Path, build_dir: Path) -> dict[str, Any]:
    """Name, kind, parameter count, training time and training throughput from the run's artefact, and the
    jets of the training split (``train_jets``, from the build summary beside the scored split)."""
    artefact = read_artefact(run_dir)
    train_summary = build_dir / "train" / "summary.json"
    n_train = json.loads(train_summary.read_text())["jets_out"] if train_summary.is_file() else None
    if artefact["kind"] == "bdt":
        metrics = artefact["metrics"]
        return {
            "model": "bdt",
            "kind": "bdt",
            "seed": artefact["seed"],
            "n_params": metrics["n_params"],
            "train_seconds": metrics["train_seconds"],
            "epochs_trained": metrics["n_iter"],
            "val_auc": metrics["val_auc"],
            "val_auc_vs_background": metrics.get("val_auc_vs_background"),
            "train_jets": n_train,
            "train_jets_per_second": None,
            "label_names": artefact["label_names"],
        }
    seconds = artefact["train_seconds"]
    epochs = artefact["epochs_trained"]
    return {
        "model": artefact["model"]["name"],
        "kind": artefact["model"]["kind"],
        "cell": artefact["model"].get("cell"),
        "seed": artefact["seed"],
        "n_params": artefact["n_parameters"],
        "train_seconds": seconds,
        "epochs_trained": epochs,
        "val_auc": artefact["best"]["val/auc"],
        "val_auc_vs_background": artefact["best"].get("val/auc_vs_background"),
        "train_jets": n_train,
        "train_jets_per_second": (n_train * epochs / seconds) if n_train and seconds else None,
    }


def evaluate_run(
    run_dir: str | Path,
    build_dir: str | Path,
    output_dir: str | Path,
    settings: EvaluateSettings | None = None,
    split: str = "test",
    threads: int | None = None,
) -> dict[str, Any]:
    """Score ``split`` with the tagger trained into ``run_dir``; write ``scores.parquet`` and
    ``metrics.json`` into ``output_dir``; return the metrics. ``settings``: the ``evaluate`` section
    (signal efficiencies of the rejection, bootstrap resamples, jets scored at a time); None: the
    schema's defaults."""
    settings = settings or EvaluateSettings.create()
    signal_efficiencies, bootstrap = settings.signal_efficiencies, settings.bootstrap
    run_dir, build_dir, output_dir = Path(run_dir), Path(build_dir), Path(output_dir)
    if threads:
        torch.set_num_threads(threads)
    facts = _training_facts(run_dir, build_dir)
    table = _observers(build_dir, split)
    if facts["kind"] == "bdt":
        scores, seconds = score_bdt(run_dir, build_dir, split)
        label_names = facts.pop("label_names")
    else:
        tagger = load_tagger(run_dir)
        scores, labels, seconds = score_network(tagger, build_dir, split, settings.batch_size)
        label_names = tagger.label_names
        if len(labels) != len(table) or not np.array_equal(labels, table["label"].to_numpy()):
            raise ValueError(
                f"{build_dir / split}: the jets of the {tagger.data_kind} shard and of highlevel.arrow differ"
                " (rebuild the split)"
            )
    if scores.ndim == 1:
        table.insert(1, "score", scores.astype(np.float32))
        metrics = binary_metrics(
            table["label"].to_numpy(), scores, signal_efficiencies, bootstrap, facts["seed"]
        )
    else:
        # multi-class: each signal class against the background, with s_i / (s_i + s_0)
        for j, name in enumerate(label_names):
            table.insert(1 + j, f"score_{name}", scores[:, j].astype(np.float32))
        metrics = multiclass_metrics(
            table["label"].to_numpy(), scores, label_names, signal_efficiencies, bootstrap, facts["seed"]
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(output_dir / "scores.parquet", index=False)
    result = {
        **facts,
        "run_dir": str(run_dir),
        "split": split,
        "label_names": label_names,
        "test": metrics,
        "inference_jets_per_second": len(table) / seconds if seconds > 0 else None,
        "settings": settings.to_dict(),
        "jettag_version": __version__,
    }
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
