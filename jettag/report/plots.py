"""The report's figures, in the field's conventions, with mplhep styling; each saved as PNG and PDF.

Every function takes the runs of :func:`jettag.report.collect.load_runs` (and what else it needs) and
writes ``<output>.png`` and ``<output>.pdf``. Histograms are filled with ``hist`` and drawn with mplhep.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import hist
import matplotlib.pyplot as plt
import mplhep
import numpy as np

from jettag.metrics import efficiency_grid, roc, threshold_at
from jettag.report.collect import Run
from jettag.report.published import GROUPS, group_of

__all__ = [
    "DATASET_PANELS",
    "FIGURES",
    "plot_dataset",
    "plot_gradient_reach",
    "plot_mass_sculpting",
    "plot_pt_dependence",
    "plot_roc",
    "plot_score_distributions",
    "plot_training_curves",
]

#: figure name -> what it shows (the HTML report's captions)
FIGURES = {
    "roc": "Background rejection 1/eps_B against signal efficiency eps_S on the test split: the median over "
    "seeds as a line, the band spans the seeds; taggers grouped by kind, one line style a group (recurrent "
    "solid, image dashed, set and graph dash-dotted, high-level dotted). The grey line is a random tagger "
    "(1/eps_S).",
    "pt_dependence": "AUC and background rejection at the reference signal efficiency in bins of jet pT "
    "(median over seeds; bins of equal jet count unless evaluate.pt_bins sets them).",
    "mass_sculpting": "Background jet mass before and after a cut at eps_S = 0.5 on each tagger's score "
    "(first seed), both normalised to unit area: a tagger that sculpts the mass makes the background "
    "after the cut look like the signal's mass peak.",
    "training_curves": "Training and validation loss per epoch of each network, every seed.",
    "score_distributions": "Score distributions of signal and background test jets (first seed), unit area.",
    "gradient_reach": "How far back the recurrent memory reaches: the norm of the gradient of the state "
    "after each jet's last (softest) constituent with respect to the input at each position of the "
    "pT-ordered sequence, normalised to its largest value, on the same validation jets for every recurrent "
    "cell type (last epoch; median over seeds). The lower a curve at the hard constituents (small "
    "positions), the less of them is left in the memory: vanishing gradients.",
    "dataset": "What the taggers were trained on: per class, the test split's constituent multiplicity, jet "
    "mass, soft-drop mass, tau32 and leading-constituent pT fraction, unit area, with the medians.",
}

_STYLE = mplhep.style.ROOT


def _save(fig: plt.Figure, output: Path) -> list[Path]:
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = [output.with_suffix(".png"), output.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=110 if path.suffix == ".png" else None, bbox_inches="tight")
    plt.close(fig)
    return paths


def _grid(n: int, size: float = 5.5) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * cols, size * rows), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _colours(names: Sequence[str]) -> dict[str, Any]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


#: the ROC figure's line style for each group of taggers (jettag.report.published.GROUPS)
_GROUP_STYLES = {
    "recurrent": "-",
    "image": "--",
    "set and graph": "-.",
    "high-level": (0, (1, 1)),
    "other": "-",
}


def _draw_roc(ax: plt.Axes, runs: dict[str, list[Run]], efficiencies: Sequence[float]) -> None:
    grid = np.linspace(0.02, 1.0, 400)
    colours = _colours(list(runs))
    order = [*GROUPS, "other"]
    grouped = sorted(runs, key=lambda name: order.index(group_of(runs[name][0].metrics.get("kind", ""))))
    for name in grouped:
        model_runs = runs[name]
        group = group_of(model_runs[0].metrics.get("kind", ""))
        with np.errstate(divide="ignore"):
            rejections = np.stack(
                [1.0 / efficiency_grid(*roc(run.scores.label, run.scores.score), grid) for run in model_runs]
            )
        rejections[~np.isfinite(rejections)] = np.nan  # eps_B = 0: unbounded, not drawn
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all seeds unbounded at an eps_S
            median = np.nanmedian(rejections, axis=0)
            low, high = np.nanmin(rejections, axis=0), np.nanmax(rejections, axis=0)
        seeds = f"{len(model_runs)} seed{'s' if len(model_runs) > 1 else ''}"
        ax.plot(
            grid,
            median,
            color=colours[name],
            linestyle=_GROUP_STYLES[group],
            label=f"{name}, {group} ({seeds})",
        )
        if len(model_runs) > 1:
            ax.fill_between(grid, low, high, color=colours[name], alpha=0.25, linewidth=0)
    ax.plot(grid, 1.0 / grid, color="grey", linestyle=":", label="random")
    for eps in efficiencies:
        ax.axvline(eps, color="black", linewidth=0.8, linestyle="--", alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.legend(fontsize="small")


def plot_roc(
    runs: dict[str, list[Run]],
    output: Path,
    efficiencies: Sequence[float],
    classes: dict[str, dict[str, list[Run]]] | None = None,
) -> list[Path]:
    """Rejection against signal efficiency, log scale, a line (median) and a band (seed range) per model;
    for a multi-class tagger (``classes``: :func:`jettag.report.collect.class_views`) one panel per signal
    class against the background."""
    with plt.style.context(_STYLE):
        if not classes:
            fig, ax = plt.subplots(figsize=(8, 6.5))
            _draw_roc(ax, runs, efficiencies)
            return _save(fig, output)
        fig, axes = _grid(len(classes), size=6.5)
        for ax, (name, class_runs) in zip(axes, classes.items(), strict=True):
            _draw_roc(ax, class_runs, efficiencies)
            background = next(iter(class_runs.values()))[0].names[1]
            ax.set_title(f"{name} vs {background}", fontsize="medium")
        return _save(fig, output)


def plot_pt_dependence(pt_bins: dict[str, Any], output: Path) -> list[Path]:
    """AUC and rejection in pT bins (``pt_bins`` as in ``report/metrics.json``); a multi-class report has
    one row of the two panels per signal class."""
    edges = np.asarray(pt_bins["edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * np.diff(edges)
    key = f"rejection_{pt_bins['signal_efficiency']:g}"
    rows = pt_bins["classes"] if "classes" in pt_bins else {None: pt_bins["models"]}
    with plt.style.context(_STYLE):
        fig, axes = plt.subplots(
            len(rows), 2, figsize=(13, 5.5 * len(rows)), squeeze=False, layout="constrained"
        )
        for (title, models), (left, right) in zip(rows.items(), axes, strict=True):
            colours = _colours(list(models))
            for name, values in models.items():
                for ax, column in ((left, "auc"), (right, key)):
                    y = np.array([np.nan if v is None else v for v in values[column]], dtype=float)
                    ax.errorbar(centres, y, xerr=half, fmt="o", color=colours[name], label=name, capsize=0)
            left.set_ylabel("AUC" if title is None else f"AUC, {title} vs background")
            right.set_ylabel(rf"$1/\varepsilon_B$ at $\varepsilon_S$ = {pt_bins['signal_efficiency']:g}")
            right.set_yscale("log")
            for ax in (left, right):
                ax.set_xlim(edges[0], edges[-1])
                ax.set_xlabel(r"Jet $p_T$ [GeV]")
                ax.legend(fontsize="x-small")
                if title is not None:
                    ax.set_title(title, fontsize="small")
        return _save(fig, output)


def plot_mass_sculpting(runs: dict[str, list[Run]], output: Path, efficiency: float = 0.5) -> list[Path]:
    """Per tagger: the background jet mass before and after the cut keeping ``efficiency`` of the signal."""
    with plt.style.context(_STYLE):
        fig, axes = _grid(len(runs))
        for ax, (name, model_runs) in zip(axes, runs.items(), strict=True):
            table = model_runs[0].scores
            cut = threshold_at(table.label, table.score, efficiency)
            background = table[table.label == 0]
            passed = background[background.score >= cut]
            axis = hist.axis.Regular(30, 0, 300, name="mass", label="Jet mass [GeV]")
            before = hist.Hist(axis).fill(background.jet_mass.to_numpy())
            after = hist.Hist(axis).fill(passed.jet_mass.to_numpy())
            text = model_runs[0].names[1].removeprefix("background (").removesuffix(")")
            mplhep.histplot(before, ax=ax, density=True, yerr=False, label=f"{text}, all ({len(background)})")
            if len(passed):
                mplhep.histplot(
                    after, ax=ax, density=True, yerr=False, label=f"{text}, passing ({len(passed)})"
                )
            ax.set_title(rf"{name}: cut at $\varepsilon_S$ = {efficiency:g}", fontsize="small")
            ax.set_xlabel("Jet mass [GeV]")
            ax.set_ylabel("Density")
            ax.legend(fontsize="x-small")
        return _save(fig, output)


def plot_score_distributions(runs: dict[str, list[Run]], output: Path) -> list[Path]:
    """Per tagger: signal and background score histograms (unit area), first seed."""
    with plt.style.context(_STYLE):
        fig, axes = _grid(len(runs))
        for ax, (name, model_runs) in zip(axes, runs.items(), strict=True):
            table = model_runs[0].scores
            axis = hist.axis.Regular(40, 0, 1, name="score", label="Score")
            for label, text in zip((1, 0), model_runs[0].names, strict=True):
                h = hist.Hist(axis).fill(table.score[table.label == label].to_numpy())
                mplhep.histplot(h, ax=ax, density=True, yerr=False, label=text)
            ax.set_yscale("log")
            ax.set_title(name, fontsize="small")
            signal, background = (name.split(" ")[0] for name in model_runs[0].names)
            binary = model_runs[0].names[0].startswith("signal")
            ax.set_xlabel(
                "Signal probability" if binary else f"$s_{{{signal}}}/(s_{{{signal}}} + s_{{{background}}})$"
            )
            ax.set_ylabel("Density")
            ax.legend(fontsize="x-small")
        return _save(fig, output)


def _epoch_losses(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``train/epoch_loss`` and ``val/loss`` per epoch from the run's CSV log (the newest version)."""
    logs = sorted((run_dir / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    curves: dict[str, list[tuple[int, float]]] = {"train/epoch_loss": [], "val/loss": []}
    for path in logs:
        with path.open() as handle:
            for row in csv.DictReader(handle):
                for key, points in curves.items():
                    if row.get(key):
                        points.append((int(row["epoch"]), float(row[key])))
    # a resumed run logs into a new version: keep the latest value of each epoch
    return {key: sorted(dict(points).items()) for key, points in curves.items()}


def plot_training_curves(train_dirs: dict[str, list[Path]], output: Path) -> list[Path]:
    """Per network: training (dashed) and validation (solid) loss per epoch, one colour per seed."""
    networks = {name: dirs for name, dirs in train_dirs.items() if dirs and (dirs[0] / "logs").is_dir()}
    with plt.style.context(_STYLE):
        fig, axes = _grid(max(len(networks), 1))
        if not networks:
            axes[0].text(0.5, 0.5, "no network tagger trained", ha="center", transform=axes[0].transAxes)
        for ax, (name, dirs) in zip(axes, networks.items(), strict=False):
            for i, run_dir in enumerate(dirs):
                curves = _epoch_losses(run_dir)
                colour = f"C{i}"
                for key, style in (("train/epoch_loss", "--"), ("val/loss", "-")):
                    if curves[key]:
                        epochs, losses = zip(*curves[key], strict=True)
                        ax.plot(
                            epochs, losses, style, color=colour, label=f"{run_dir.name} {key.split('/')[0]}"
                        )
            ax.set_title(name, fontsize="small")
            ax.set_xlabel("Epoch")
            ax.set_ylabel("Loss")
            ax.legend(fontsize="xx-small", ncol=2)
        return _save(fig, output)


def gradient_reach_curves(train_dirs: dict[str, list[Path]]) -> dict[str, np.ndarray]:
    """Per recurrent model: the last epoch's input-gradient norm per position, normalised to its largest
    value, median over seeds (cut to the shortest seed's length)."""
    curves = {}
    for name, dirs in train_dirs.items():
        per_seed = []
        for run_dir in dirs:
            path = run_dir / "gradient_reach.json"
            if path.is_file():
                norms = np.asarray(json.loads(path.read_text())["input_gradient_norms"][-1], dtype=float)
                if norms.max() > 0:
                    per_seed.append(norms / norms.max())
        if per_seed:
            length = min(len(n) for n in per_seed)
            curves[name] = np.median(np.stack([n[:length] for n in per_seed]), axis=0)
    return curves


def plot_gradient_reach(train_dirs: dict[str, list[Path]], output: Path) -> list[Path]:
    """Normalised input-gradient norm against constituent position for each recurrent tagger."""
    curves = gradient_reach_curves(train_dirs)
    with plt.style.context(_STYLE):
        fig, ax = plt.subplots(figsize=(8, 6))
        if not curves:
            ax.text(0.5, 0.5, "no recurrent tagger trained", ha="center", transform=ax.transAxes)
        for name, curve in curves.items():
            positions = np.arange(len(curve))
            keep = curve > 0
            ax.plot(positions[keep], curve[keep], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("Constituent position (0 = hardest)")
        ax.set_ylabel(r"$\|\partial h_\mathrm{last} / \partial x_t\|$ (normalised)")
        if curves:
            ax.legend()
        return _save(fig, output)


#: the dataset figure's panels: scores.parquet column -> (axis label, range, bins)
DATASET_PANELS: dict[str, tuple[str, tuple[float, float], int]] = {
    "jet_nparticles": ("Constituents", (0, 150), 50),
    "jet_mass": ("Jet mass [GeV]", (0, 300), 60),
    "jet_sdmass": ("Soft-drop mass [GeV]", (0, 300), 60),
    "tau32": (r"$\tau_{32}$", (0, 1), 50),
    "jet_lead_pt_fraction": (r"Leading constituent $p_T$ / jet $p_T$", (0, 1), 50),
}


def _classes(run: Run) -> list[tuple[int, str]]:
    if run.multiclass:
        return list(enumerate(run.label_names))
    return [(1, run.names[0]), (0, run.names[1])]


def plot_dataset(run: Run, output: Path) -> list[Path]:
    """Per class, unit-area histograms of the jets' multiplicity, mass, soft-drop mass, tau32 and
    leading-constituent pT fraction (the observers of ``run``'s test split; a column an older evaluation
    lacks is left out), with each class's median in the legend."""
    table = run.scores
    panels = [name for name in DATASET_PANELS if name in table.columns]
    with plt.style.context(_STYLE):
        fig, axes = _grid(len(panels))
        for ax, name in zip(axes, panels, strict=True):
            label, (lo, hi), bins = DATASET_PANELS[name]
            axis = hist.axis.Regular(bins, lo, hi, name=name, label=label)
            for value, text in _classes(run):
                values = table[name][table.label == value].to_numpy()
                if len(values) == 0:
                    continue
                h = hist.Hist(axis).fill(values)
                median = np.median(values)
                mplhep.histplot(h, ax=ax, density=True, yerr=False, label=f"{text}\nmedian {median:.3g}")
            ax.set_xlabel(label)
            ax.set_ylabel("Density")
            ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room for the legend above the histograms
            ax.legend(fontsize="x-small", loc="upper right")
        return _save(fig, output)
