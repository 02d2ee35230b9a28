"""Report stage: ``metrics.json``, the figures (PNG and PDF) and ``report.html`` from the evaluated runs.

Its settings: :class:`jettag.settings.EvaluateSettings`, the configuration's ``evaluate`` section (signal
efficiencies, pT bins), handed to the command as ``--settings`` by the workflow's rule (see
:mod:`jettag.settings` for the way from the configuration file to the code)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jettag import __version__
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.report.collect import binary_names, class_views, collect, load_runs
from jettag.report.html import write_html
from jettag.report.plots import (
    FIGURES,
    plot_dataset,
    plot_gradient_reach,
    plot_mass_sculpting,
    plot_pt_dependence,
    plot_roc,
    plot_score_distributions,
    plot_training_curves,
)
from jettag.schema import read_yaml
from jettag.settings import EvaluateSettings

__all__ = ["FIGURES", "detector_provenance", "provenance", "write_report"]

_PACKAGES = (
    "torch",
    "lightning",
    "scikit-learn",
    "numpy",
    "awkward",
    "uproot",
    "fastjet",
    "pythia8mc",
    "snakemake",
    "matplotlib",
    "mplhep",
)


def provenance() -> dict[str, Any]:
    """Versions, machine and time of this report."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "jettag": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "packages": versions,
    }


def detector_provenance(generate_summaries: Sequence[str | Path]) -> list[dict[str, Any]] | None:
    """The detector cards the generated shards went through, each once (None: no generated shards)."""
    if not generate_summaries:
        return None
    cards = {}
    for path in generate_summaries:
        card = json.loads(Path(path).read_text()).get("detector", {"name": "none"})
        entry = {k: card[k] for k in ("name", "path", "sha256") if k in card}
        cards[json.dumps(entry, sort_keys=True)] = entry
    return list(cards.values())


def _json(path: str | Path | None) -> dict[str, Any] | None:
    return None if path is None else json.loads(Path(path).read_text())


def write_report(
    evaluations: Sequence[str | Path],
    output_dir: str | Path,
    settings: EvaluateSettings | None = None,
    ingest_summary: str | Path | None = None,
    build_summaries: Sequence[str | Path] = (),
    config: str | Path | None = None,
    generate_summaries: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Write ``metrics.json``, every figure of :data:`FIGURES` and ``report.html`` into ``output_dir``.

    ``evaluations`` are the evaluate stage's run directories; the training directories (for the training
    curves and the gradient reach) are the ``run_dir`` each evaluation records. ``build_summaries`` are the
    build stage's per-split ``summary.json``; ``config`` the resolved workflow configuration (YAML);
    ``generate_summaries`` the generated shards' JSON, whose detector cards (name, file, SHA-256 of the
    card's contents) go into the provenance.
    Multi-class runs are reported per signal class against the background: the ROC figure has a panel
    per class, the other figures one per model and class, and ``metrics.json`` a ``classes`` entry per
    model. ``settings``: the ``evaluate`` section (the signal
    efficiencies of the rejection, the pT bins); None: the schema's defaults.
    """
    settings = settings or EvaluateSettings.create()
    signal_efficiencies, pt_bins = settings.signal_efficiencies, settings.pt_bins
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(evaluations)
    builds = {}
    for path in map(Path, build_summaries):
        summary = json.loads(path.read_text())
        builds[summary.get("split", path.parent.name)] = summary
    config_data = None if config is None else read_yaml(config, "workflow configuration")
    multiclass = next(iter(runs.values()))[0].multiclass
    configured = config_data.get("multiclass") if isinstance(config_data, dict) else None
    if configured is not None and bool(configured) != multiclass:
        raise ValueError(
            f"{config}: multiclass is {configured}, but the evaluated taggers are "
            f"{'multi-class' if multiclass else 'binary'}: ingest with --multiclass exactly when the "
            "configuration sets multiclass: true"
        )
    # a binary tagger's classes are named after their labels, e.g. signal (Tbqq): as the training recorded
    # them, or for taggers trained before they were, from the configuration's labels
    if not multiclass:
        background, signal = next(iter(runs.values()))[0].label_names
        labelled = (
            isinstance(config_data, dict) and config_data.get("signal") and config_data.get("background")
        )
        if [background, signal] == list(BINARY_LABEL_NAMES) and labelled:
            names = binary_names(config_data["signal"], config_data["background"])
        else:
            names = (f"signal ({signal})", f"background ({background})")
        for model_runs in runs.values():
            for run in model_runs:
                run.names = names
    # a multi-class tagger is shown as one binary tagger per signal class against the background
    classes = class_views(runs) if multiclass else None
    metrics = collect(
        runs,
        list(signal_efficiencies),
        ingest_summary=_json(ingest_summary),
        build_summaries=builds,
        pt_bins=pt_bins,
        provenance=provenance()
        | {"detector": detector_provenance(generate_summaries)}
        | ({"config": config_data} if config_data is not None else {}),
        views=classes,
        n_bootstrap=settings.bootstrap,
    )
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    train_dirs = {
        name: [Path(run.metrics["run_dir"]) for run in model_runs if run.metrics.get("run_dir")]
        for name, model_runs in runs.items()
    }
    reference = 0.5 if 0.5 in signal_efficiencies else signal_efficiencies[-1]
    panels = runs
    if classes:
        panels = {
            f"{model}, {name}": view for name, views in classes.items() for model, view in views.items()
        }
    plot_roc(runs, output_dir / "roc", signal_efficiencies, classes)
    plot_pt_dependence(metrics["pt_bins"], output_dir / "pt_dependence")
    plot_mass_sculpting(panels, output_dir / "mass_sculpting", reference)
    plot_training_curves(train_dirs, output_dir / "training_curves")
    plot_score_distributions(panels, output_dir / "score_distributions")
    plot_gradient_reach(train_dirs, output_dir / "gradient_reach")
    plot_dataset(next(iter(runs.values()))[0], output_dir / "dataset")
    write_html(metrics, output_dir, output_dir / "report.html", config_data)
    return metrics
