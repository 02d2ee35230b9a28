"""The learning curve: test AUC and background rejection against the number of training jets, a power-law
fit of each tagger's (1 - AUC), and the training-set size at which each network passes the BDT.

Input: the evaluate stage's directories of every tagger, size and seed (``metrics.json`` with the
training jets it records, ``train_jets``, and ``scores.parquet``); every tagger must have been evaluated
at the same sizes with the same seeds, on the same test jets. Output (:func:`write_learning_curve`):
``learning_curve.json``, the figure ``learning_curve.png`` / ``.pdf`` and ``report.html``.

Conventions:

- Per size: the median over seeds of the test AUC and of 1/eps_B at eps_S = 0.5 (eps_B interpolated on
  the ROC, :mod:`jettag.metrics`), with the sample standard deviation, minimum and maximum over seeds.
- Fit: ``1 - AUC = a * N^-b + c`` over every training (each seed a point), least squares in
  log(1 - AUC). The floor ``c >= 0`` is what a tagger cannot learn from more jets of these inputs (a BDT on
  five features levels off early; even an ideal tagger keeps the classes' overlap), so without it a
  levelling curve would be extrapolated as if it kept falling. It is fitted where there are at least
  :data:`FLOOR_MIN_SIZES` sizes (two degrees of freedom left); with fewer, ``c = 0``. For each floor on a
  fine grid in [0, 0.99 min(1 - AUC)], ``a`` and ``b >= 0`` follow from a straight line through
  log(1 - AUC - c) against log N; the floor whose curve lies closest to the points in log(1 - AUC) wins.
- Where a network passes the BDT (``passes_bdt``): ``interpolated`` where the median curves cross (the
  network behind at one size and ahead at the next and every larger one: the AUC difference interpolated
  linearly in log N); ``extrapolated`` where the network is still behind at the largest size and the fits
  cross beyond it (the last size at which the fitted network comes ahead of the fitted BDT for good, up to
  :data:`HORIZON` jets); ``never`` where the fitted network is still behind the fitted BDT at
  :data:`HORIZON` jets; ``ahead at every size`` where it is never behind.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jettag.metrics import binary_metrics, spread
from jettag.report import provenance
from jettag.report.html import _CSS, _fmt, _table
from jettag.report.plots import _GROUP_STYLES, _STYLE, _colours, _save
from jettag.report.published import GROUPS, group_of

__all__ = [
    "FLOOR_MIN_SIZES",
    "HORIZON",
    "REFERENCE",
    "SIGNAL_EFFICIENCY",
    "PowerLaw",
    "fit_power_law",
    "learning_curve",
    "load_points",
    "passes_reference",
    "passing_label",
    "plot_learning_curve",
    "write_learning_curve",
]

#: the tagger the networks are measured against
REFERENCE = "bdt"
#: the signal efficiency of the rejection
SIGNAL_EFFICIENCY = 0.5
#: the most training jets an extrapolated crossing is looked for at; beyond it a network "never" passes
HORIZON = 1e10
#: sizes needed to fit the floor c (three parameters, and two degrees of freedom left)
FLOOR_MIN_SIZES = 4
#: version of the layout of ``learning_curve.json``
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """``1 - AUC = a * N^-b + c`` and how well it fits: ``rms`` of the residuals in log(1 - AUC)."""

    a: float
    b: float
    c: float
    #: whether ``c`` was fitted (otherwise it is 0)
    floor: bool
    rms: float
    n_points: int

    def __call__(self, n: np.ndarray | float) -> np.ndarray:
        """The fitted 1 - AUC at ``n`` training jets."""
        return np.asarray(self.a * np.asarray(n, dtype=np.float64) ** -self.b + self.c)

    def auc(self, n: np.ndarray | float) -> np.ndarray:
        return 1.0 - self(n)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _line(log_n: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """``(log a, b)`` of the least-squares line ``z = log a - b log N``, with ``b >= 0`` (a flat line where
    the points rise)."""
    slope, intercept = np.polyfit(log_n, z, 1) if np.ptp(log_n) > 0 else (0.0, float(np.mean(z)))
    if slope > 0:
        return float(np.mean(z)), 0.0
    return float(intercept), float(-slope)


def fit_power_law(
    train_jets: Sequence[float], one_minus_auc: Sequence[float], floor: bool | None = None
) -> PowerLaw:
    """Fit ``1 - AUC = a * N^-b + c`` to the points ``(train_jets, one_minus_auc)`` (see the module).

    ``floor``: fit ``c`` (True), keep ``c = 0`` (False), or None: fit it where the points have at least
    :data:`FLOOR_MIN_SIZES` distinct sizes. Raises ``ValueError`` for fewer than two distinct sizes or a
    value of 1 - AUC outside (0, 1)."""
    n = np.asarray(train_jets, dtype=np.float64)
    y = np.asarray(one_minus_auc, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError(f"{n.shape} sizes for {y.shape} values of 1 - AUC")
    if len(np.unique(n)) < 2:
        raise ValueError(f"a power law needs at least two training-set sizes, got {sorted(set(n.tolist()))}")
    if not (np.all(n > 0) and np.all((y > 0) & (y < 1))):
        raise ValueError("a power law of 1 - AUC needs positive sizes and 0 < 1 - AUC < 1")
    if floor is None:
        floor = len(np.unique(n)) >= FLOOR_MIN_SIZES
    log_n, log_y = np.log(n), np.log(y)

    def at(c: float) -> tuple[float, float, float]:
        log_a, b = _line(log_n, np.log(y - c))
        residual = log_y - np.log(np.exp(log_a) * n**-b + c)
        return float(np.sum(residual**2)), math.exp(log_a), b

    floors = [0.0]
    if floor:
        top = 0.99 * float(y.min())
        coarse = np.linspace(0.0, top, 200)
        best = int(np.argmin([at(c)[0] for c in coarse]))
        lo, hi = coarse[max(best - 1, 0)], coarse[min(best + 1, len(coarse) - 1)]
        floors = [*coarse, *np.linspace(lo, hi, 201)]
    c = min(floors, key=lambda value: at(value)[0])
    ssr, a, b = at(c)
    return PowerLaw(a=a, b=b, c=float(c), floor=bool(floor), rms=math.sqrt(ssr / len(y)), n_points=len(y))


def _fit_crossing(network: PowerLaw, reference: PowerLaw, start: float) -> dict[str, Any]:
    """Where the fitted network comes ahead of the fitted reference for good, from ``start`` jets up to
    :data:`HORIZON`."""
    grid = np.geomspace(start, HORIZON, 2000)
    behind = network(grid) >= reference(grid)
    if behind[-1]:
        return {"train_jets": None, "method": "never"}
    if not behind.any():
        return {"train_jets": float(start), "method": "extrapolated"}
    last = int(np.flatnonzero(behind)[-1])
    lo, hi = math.log(grid[last]), math.log(grid[last + 1])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if network(math.exp(mid)) >= reference(math.exp(mid)):
            lo = mid
        else:
            hi = mid
    return {"train_jets": float(math.exp(hi)), "method": "extrapolated"}


def passes_reference(
    sizes: Sequence[float],
    network_auc: Sequence[float],
    reference_auc: Sequence[float],
    network_fit: PowerLaw | None,
    reference_fit: PowerLaw | None,
) -> dict[str, Any]:
    """The number of training jets at which the network passes the reference, from the median AUC at each
    of ``sizes`` (increasing) and the fits: ``{"train_jets": N or None, "method": ...}`` (see the module)."""
    log_n = np.log(np.asarray(sizes, dtype=np.float64))
    ahead = np.asarray(network_auc, dtype=np.float64) - np.asarray(reference_auc, dtype=np.float64)
    if np.any(np.diff(log_n) <= 0):
        raise ValueError(f"sizes must increase, got {list(sizes)}")
    if np.all(ahead > 0):
        return {"train_jets": None, "method": "ahead at every size"}
    if ahead[-1] > 0:
        # the network is ahead from size k on, and behind at k - 1
        k = int(np.flatnonzero(ahead <= 0)[-1]) + 1
        fraction = -ahead[k - 1] / (ahead[k] - ahead[k - 1])
        return {
            "train_jets": float(math.exp(log_n[k - 1] + fraction * (log_n[k] - log_n[k - 1]))),
            "method": "interpolated",
        }
    if network_fit is None or reference_fit is None:
        return {"train_jets": None, "method": "no fit"}
    return _fit_crossing(network_fit, reference_fit, float(sizes[-1]))


def load_points(evaluations: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One point per evaluated training: model, kind, seed, ``train_jets``, test AUC, 1/eps_B at
    :data:`SIGNAL_EFFICIENCY` (None: no background jet passes) and the test jets' counts."""
    points = []
    for directory in map(Path, evaluations):
        metrics_path, scores_path = directory / "metrics.json", directory / "scores.parquet"
        for path in (metrics_path, scores_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file; run the evaluate stage for {directory}")
        metrics = json.loads(metrics_path.read_text())
        if "per_class" in metrics.get("test", {}):
            raise ValueError(f"{metrics_path}: a multi-class tagger; the learning curve compares binary ones")
        if metrics.get("train_jets") is None:
            raise ValueError(
                f"{metrics_path}: records no train_jets (the jets of the training split); evaluate it again"
            )
        scores = pd.read_parquet(scores_path, columns=["label", "score"])
        point = binary_metrics(scores.label.to_numpy(), scores.score.to_numpy(), (SIGNAL_EFFICIENCY,))
        points.append({
            "model": metrics["model"],
            "kind": metrics["kind"],
            "seed": int(metrics["seed"]),
            "train_jets": int(metrics["train_jets"]),
            "auc": point["auc"],
            "rejection": point["rejection"][f"{SIGNAL_EFFICIENCY:g}"],
            "rejection_limit": point["rejection_limit"],
            "test_jets": {"signal": point["n_signal"], "background": point["n_background"]},
            "directory": str(directory),
        })  # fmt: skip
    return points


def _check_grid(points: list[dict[str, Any]]) -> None:
    """Every tagger at every size with every seed, once, on the same test jets."""
    grid = {(p["train_jets"], p["seed"]) for p in points}
    for model in dict.fromkeys(p["model"] for p in points):
        mine = [(p["train_jets"], p["seed"]) for p in points if p["model"] == model]
        twice = sorted({x for x in mine if mine.count(x) > 1})
        if twice:
            raise ValueError(f"{model}: evaluated twice at (training jets, seed) {twice}")
        missing = sorted(grid - set(mine))
        if missing:
            raise ValueError(f"{model}: no evaluation at (training jets, seed) {missing}, which others have")
    tests = {json.dumps(p["test_jets"], sort_keys=True) for p in points}
    if len(tests) > 1:
        raise ValueError(f"the evaluations scored different test jets: {sorted(tests)}")


def learning_curve(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The content of ``learning_curve.json`` from the :func:`load_points` of every tagger, size and seed."""
    if not points:
        raise ValueError("no evaluated trainings for the learning curve")
    _check_grid(points)
    sizes = sorted({p["train_jets"] for p in points})
    taggers: dict[str, Any] = {}
    for model in dict.fromkeys(p["model"] for p in points):
        mine = sorted((p for p in points if p["model"] == model), key=lambda p: (p["train_jets"], p["seed"]))
        by_size = []
        for n in sizes:
            at = [p for p in mine if p["train_jets"] == n]
            auc, rejection = spread([p["auc"] for p in at]), spread([p["rejection"] for p in at])
            by_size.append({
                "train_jets": n,
                "n_seeds": len(at),
                "auc": auc["median"], "auc_spread": auc["spread"],
                "auc_min": auc["min"], "auc_max": auc["max"],
                "rejection": rejection["median"], "rejection_spread": rejection["spread"],
                "rejection_min": rejection["min"], "rejection_max": rejection["max"],
                "rejection_unbounded": rejection["n_unbounded"],
            })  # fmt: skip
        fit = None
        if len(sizes) >= 2:
            fit = fit_power_law([p["train_jets"] for p in mine], [1.0 - p["auc"] for p in mine])
        taggers[model] = {
            "kind": mine[0]["kind"],
            "group": group_of(mine[0]["kind"]),
            "points": [
                {k: p[k] for k in ("train_jets", "seed", "auc", "rejection", "rejection_limit")} for p in mine
            ],
            "sizes": by_size,
            "fit": None if fit is None else fit.to_dict(),
        }
    if REFERENCE in taggers:
        reference = taggers[REFERENCE]
        reference_fit = None if reference["fit"] is None else PowerLaw(**reference["fit"])
        for name, entry in taggers.items():
            if name == REFERENCE:
                continue
            entry["passes_bdt"] = passes_reference(
                sizes,
                [s["auc"] for s in entry["sizes"]],
                [s["auc"] for s in reference["sizes"]],
                None if entry["fit"] is None else PowerLaw(**entry["fit"]),
                reference_fit,
            )
    seeds = sorted({p["seed"] for p in points})
    return {
        "schema_version": SCHEMA_VERSION,
        "split": "test",
        "test_jets": points[0]["test_jets"],
        "signal_efficiency": SIGNAL_EFFICIENCY,
        "sizes": sizes,
        "seeds": seeds,
        "reference": REFERENCE if REFERENCE in taggers else None,
        "conventions": {
            "median": "over the seeds (independent trainings) at each size; spread: their sample standard "
            "deviation (0 for one seed); min, max: their range",
            "rejection": f"1/eps_B at eps_S = {SIGNAL_EFFICIENCY:g}, eps_B interpolated linearly on the ROC; "
            "null where no background jet passes (the rejection is then at least rejection_limit)",
            "fit": "1 - AUC = a * N^-b + c, least squares in log(1 - AUC) over every training; c >= 0 fitted "
            f"with {FLOOR_MIN_SIZES} or more sizes (floor: true), else c = 0",
            "passes_bdt": "training jets at which the network's median AUC passes the BDT's: interpolated "
            "(linearly in log N) where the measured curves cross; extrapolated from the fits where the "
            "network is still behind at the largest size; never where the fits do not cross below "
            f"{HORIZON:.0e} jets; ahead at every size where the network is never behind",
        },
        "taggers": taggers,
        "provenance": provenance(),
    }


def _count(n: float) -> str:
    """A number of jets, short: 950, 23k, 1.2M."""
    if n < 1e3:
        return f"{n:.0f}"
    if n < 1e6:
        return f"{n / 1e3:.3g}k"
    if n < 1e9:
        return f"{n / 1e6:.3g}M"
    return f"{n:.2g}"


def passing_label(passes: dict[str, Any]) -> str:
    """How the figure and the page say where a network passes the BDT."""
    method, n = passes["method"], passes["train_jets"]
    if method in ("interpolated", "extrapolated"):
        return f"passes BDT at {_count(n)} jets ({method})"
    if method == "never":
        return "never passes BDT (fits do not cross)"
    if method == "ahead at every size":
        return "ahead of BDT at every size"
    return "behind BDT, no fit to extrapolate"


def _ordered(curve: dict[str, Any]) -> list[str]:
    order = [*GROUPS, "other"]
    return sorted(curve["taggers"], key=lambda name: order.index(curve["taggers"][name]["group"]))


def plot_learning_curve(curve: dict[str, Any], output: Path) -> list[Path]:
    """Test AUC (left) and 1/eps_B at eps_S = 0.5 (right) against the training jets, log x: per tagger the
    median over seeds (markers and line) and the range over seeds (band); on the left the fitted power law,
    dotted where extrapolated, and a vertical line where a network passes the BDT."""
    sizes = np.asarray(curve["sizes"], dtype=np.float64)
    names = _ordered(curve)
    colours = _colours(names)
    crossings = [
        e["passes_bdt"]["train_jets"]
        for e in curve["taggers"].values()
        if e.get("passes_bdt", {}).get("train_jets") is not None
    ]
    right_edge = min(max([sizes[-1], *crossings]) * 1.5, sizes[-1] * 1e3)
    with plt.style.context(_STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
        for name in names:
            entry = curve["taggers"][name]
            colour, style = colours[name], _GROUP_STYLES[entry["group"]]
            by_size = entry["sizes"]
            label = name
            if "passes_bdt" in entry:
                label += f": {passing_label(entry['passes_bdt'])}"
            for ax, key in ((left, "auc"), (right, "rejection")):
                median = np.array([np.nan if s[key] is None else s[key] for s in by_size], dtype=float)
                low = np.array([np.nan if s[f"{key}_min"] is None else s[f"{key}_min"] for s in by_size])
                high = np.array([np.nan if s[f"{key}_max"] is None else s[f"{key}_max"] for s in by_size])
                ax.plot(sizes, median, marker="o", color=colour, linestyle=style, label=label)
                if any(s["n_seeds"] > 1 for s in by_size):
                    ax.fill_between(sizes, low, high, color=colour, alpha=0.2, linewidth=0)
            if entry["fit"] is not None:
                fit = PowerLaw(**entry["fit"])
                inside = np.geomspace(sizes[0], sizes[-1], 200)
                beyond = np.geomspace(sizes[-1], right_edge, 100)
                left.plot(inside, fit.auc(inside), color=colour, linewidth=0.9, linestyle="--", alpha=0.8)
                left.plot(beyond, fit.auc(beyond), color=colour, linewidth=0.9, linestyle=":", alpha=0.8)
            passes = entry.get("passes_bdt", {})
            if passes.get("train_jets") is not None:
                left.axvline(passes["train_jets"], color=colour, linewidth=1.0,
                             linestyle="--" if passes["method"] == "interpolated" else ":")  # fmt: skip
        left.plot(
            [], [], color="grey", linestyle="--", linewidth=0.9, label=r"fit $1-\mathrm{AUC} = aN^{-b}+c$"
        )
        left.plot([], [], color="grey", linestyle=":", linewidth=0.9, label="fit, extrapolated")
        left.set_ylabel("Test AUC")
        right.set_ylabel(rf"$1/\varepsilon_B$ at $\varepsilon_S$ = {curve['signal_efficiency']:g}")
        right.set_yscale("log")
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xlim(sizes[0] / 1.5, right_edge if ax is left else sizes[-1] * 1.5)
            ax.set_xlabel("Training jets")
        # below the panels, where it hides no curve
        fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize="x-small")
        return _save(fig, output)


#: the figure's caption on the page
CAPTION = (
    "Test AUC (left) and background rejection 1/eps_B at eps_S = 0.5 (right) against the number of training "
    "jets, log scale: markers and lines the median over seeds, bands the range over seeds, every tagger "
    "trained on nested subsets of one training split and scored on the same test jets. Left: the power "
    "law 1 - AUC = a N^-b + c fitted to each tagger (dashed; dotted where extrapolated) and a vertical line "
    "where a network passes the BDT (dashed: the measured curves cross; dotted: the fits cross beyond the "
    "largest size)."
)


def _page(curve: dict[str, Any], figure: Path) -> str:
    sizes = curve["sizes"]
    names = _ordered(curve)
    auc_rows: list[list[str] | str] = []
    rejection_rows: list[list[str] | str] = []
    for name in names:
        entry = curve["taggers"][name]
        fit = entry["fit"]
        passes = entry.get("passes_bdt")
        cells = [
            _fmt(s["auc"], 4) + (f" ± {_fmt(s['auc_spread'], 2)}" if s["auc_spread"] else "")
            for s in entry["sizes"]
        ]
        fitted = ["–"] * 3
        if fit is not None:
            fitted = [
                _fmt(fit["a"], 3),
                _fmt(fit["b"], 3),
                _fmt(fit["c"], 3) if fit["floor"] else "0 (not fitted)",
            ]
        auc_rows.append(
            [html.escape(name), *cells, *fitted, html.escape(passing_label(passes)) if passes else "–"]
        )
        rejection_rows.append([html.escape(name)] + [
            _fmt(s["rejection"], 3) if s["rejection"] is not None else "unbounded" for s in entry["sizes"]
        ])  # fmt: skip
    data = base64.b64encode(figure.read_bytes()).decode()
    test = curve["test_jets"]
    conventions = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in curve["conventions"].items()
    )
    sections = [
        "<h1>jettag learning curve</h1>",
        f"<p>Every tagger trained on {', '.join(_count(n) for n in sizes)} training jets (nested subsets of "
        f"one training split), seeds {', '.join(map(str, curve['seeds']))}, scored on the same test split of "
        f"{test['signal']} signal and {test['background']} background jets.</p>",
        f"<figure id='learning_curve'><img alt='learning_curve' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(CAPTION)} (<a href='{figure.stem}.pdf'>PDF</a>)</figcaption></figure>",
        "<h2>Test AUC</h2>",
        _table(["tagger", *(f"{_count(n)} jets" for n in sizes), "a", "b", "c", "against the BDT"], auc_rows),
        f"<h2>1/ε<sub>B</sub> at ε<sub>S</sub> = {curve['signal_efficiency']:g}</h2>",
        _table(["tagger", *(f"{_count(n)} jets" for n in sizes)], rejection_rows),
        f"<ul class='note'>{conventions}</ul>",
        "<h2>Provenance</h2>",
        f"<pre>{html.escape(json.dumps(curve['provenance'], indent=2))}</pre>",
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>jettag learning curve</title>"
        f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def write_learning_curve(evaluations: Sequence[str | Path], output_dir: str | Path) -> dict[str, Any]:
    """Write ``learning_curve.json``, ``learning_curve.png`` and ``.pdf`` and ``report.html`` (the figure
    embedded) into ``output_dir`` from the evaluate stage's directories of every tagger, size and seed."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    curve = learning_curve(load_points(evaluations))
    (output_dir / "learning_curve.json").write_text(json.dumps(curve, indent=2) + "\n")
    png, _ = plot_learning_curve(curve, output_dir / "learning_curve")
    (output_dir / "report.html").write_text(_page(curve, png))
    return curve
