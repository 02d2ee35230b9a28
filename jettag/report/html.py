"""``report.html``: one self-contained page (figures embedded) with the table, the figures, the published
numbers beside ours, the dataset counts and the run's provenance."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import yaml

from jettag.report.plots import FIGURES
from jettag.report.published import GROUPS, PUBLISHED, SAMPLE_NOTE, group_of

__all__ = ["write_html"]

_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #444; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
tr.group td { background: #f3f3f3; font-weight: bold; text-align: left; }
"""


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{max(digits - 1, 1)}g}"
    return html.escape(str(value))


def _pm(value: Any, spread: Any, error: Any = None, digits: int = 4) -> str:
    text = _fmt(value, digits)
    if value is not None and spread:
        text += f" ± {_fmt(spread, 2)}"
    if value is not None and error:
        text += f" <span class='note'>(stat. {_fmt(error, 2)})</span>"
    return text


def _table(headers: list[str], rows: list[list[str] | str]) -> str:
    """A table; a row that is a string is a group title across every column."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        f"<tr class='group'><td colspan='{len(headers)}'>{html.escape(row)}</td></tr>"
        if isinstance(row, str)
        else "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _by_group(rows: list[tuple[str, list[str]]]) -> list[list[str] | str]:
    """Rows ``(group, cells)`` in the report's group order (recurrent, image, set and graph, high-level),
    each group under its title; rows keep their order within a group."""
    order = [*GROUPS, "other"]
    out: list[list[str] | str] = []
    for group in order:
        members = [cells for g, cells in rows if g == group]
        if members:
            out += [group, *members]
    return out


def _rejections(m: dict[str, Any], keys: list[str]) -> list[str]:
    cells = []
    for k in keys:
        if m["rejection"][k] is None:
            cells.append(f"&gt; {m['rejection_limit']}")
        else:
            cells.append(_pm(m["rejection"][k], m["rejection_spread"][k], m["rejection_error"][k], 3))
    return cells


def _rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(row name, model entry, figures of merit)``: one row per model, or per model and signal class."""
    if "classes" not in metrics:
        return [(name, m, m) for name, m in metrics["models"].items()]
    background = metrics["classes"][0]
    return [
        (f"{name}: {cls} vs {background}", m, fom)
        for name, m in metrics["models"].items()
        for cls, fom in m["classes"].items()
    ]


def _results_table(metrics: dict[str, Any]) -> str:
    keys = [f"{e:g}" for e in metrics["signal_efficiencies"]]
    headers = ["model", "seeds", "params", "AUC", _accuracy_header(metrics)]
    headers += [f"1/ε<sub>B</sub> at ε<sub>S</sub>={k}" for k in keys]
    headers += ["train time / s", "train jets/s", "inference jets/s"]
    rows = []
    for name, m, fom in _rows(metrics):
        rows.append((group_of(m["kind"]), [
                html.escape(name),
                str(m["n_seeds"]),
                _fmt(m["n_params"]),
                _pm(fom["auc"], fom["auc_spread"], fom["auc_error"]),
                _pm(m["accuracy"], m["accuracy_spread"]),
                *_rejections(fom, keys),
                _fmt(m["train_seconds"], 3),
                _fmt(m["train_jets_per_second"], 3),
                _fmt(m["inference_jets_per_second"], 3),
            ]))  # fmt: skip
    return _table(headers, _by_group(rows))


def _signed(value: Any, error: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    text = f"{value:+.{digits}f}" if abs(value) >= 1 else f"{value:+.4f}"
    return text + (f" <span class='note'>(stat. {_fmt(error, 2)})</span>" if error else "")


def _differences_table(metrics: dict[str, Any]) -> str:
    """Each recurrent tagger against each other tagger, on the same test jets with paired errors."""
    differences = metrics.get("differences")
    models = metrics["models"]
    recurrent = [name for name, m in models.items() if group_of(m["kind"]) == "recurrent"]
    others = [name for name in models if name not in recurrent]
    if not differences or not recurrent or not others:
        return ""
    keys = [f"{e:g}" for e in metrics["signal_efficiencies"]]
    headers = ["tagger − reference", "Δ AUC", *(f"Δ 1/ε<sub>B</sub> at ε<sub>S</sub>={k}" for k in keys)]
    rows: list[list[str] | str] = []
    for a in recurrent:
        for b in others:
            d = differences[a][b]
            rows.append([
                f"{html.escape(a)} − {html.escape(b)}",
                _signed(d["auc"], d["auc_error"]),
                *(_signed(d["rejection"][k], d["rejection_error"][k], 0) for k in keys),
            ])  # fmt: skip
    return (
        "<h3>Differences on the same test jets</h3><p>Medians over seeds, one tagger minus the other; stat. "
        "is the standard deviation of the difference over bootstrap resamples shared by both taggers, "
        "smaller than each tagger's own error where they get the same jets right and wrong. A difference "
        "of more than about two of its errors is told apart by the test jets.</p>" + _table(headers, rows)
    )


def _accuracy_header(metrics: dict[str, Any]) -> str:
    # a multi-class accuracy is that of the most probable class over every class, not of one class's row
    return "accuracy (all classes)" if "classes" in metrics else "accuracy"


def _published_table(metrics: dict[str, Any]) -> str:
    headers = [
        "model",
        "params",
        "AUC",
        _accuracy_header(metrics),
        "1/ε<sub>B</sub> at 0.5",
        "1/ε<sub>B</sub> at 0.3",
        "source",
    ]
    rows = [
        (
            group_of(m["kind"]),
            [
                f"jettag {html.escape(name)} (this run)",
                _fmt(m["n_params"]),
                _pm(fom["auc"], fom["auc_spread"]),
            ]
            + [_pm(m["accuracy"], m["accuracy_spread"])]
            + [_pm(fom["rejection"].get(k), fom["rejection_spread"].get(k), digits=3) for k in ("0.5", "0.3")]
            + ["this report"],
        )
        for name, m, fom in _rows(metrics)
        # the published numbers are top tagging: of a multi-class tagger only its top class compares
        if "classes" not in metrics or fom is m["classes"].get("Tbqq")
    ]
    # each kind's published numbers right after this run's taggers of that kind
    rows += [
        (
            str(p["group"]),
            [html.escape(str(p["model"]))]
            + [_fmt(p[k]) for k in ("params", "auc", "accuracy", "rejection_0.5", "rejection_0.3")]
            + [html.escape(str(p["source"]))],
        )
        for p in PUBLISHED
    ]
    return _table(headers, _by_group(rows))


def _dataset(metrics: dict[str, Any]) -> str:
    ingest = metrics["dataset"].get("ingest") or {}
    parts = []
    if ingest and ingest.get("multiclass"):
        names = ingest["label_names"]
        rows = [
            [split, str(c["jets"]), *(str(c["classes"][n]) for n in names)]
            for split, c in ingest.get("splits", {}).items()
        ]
        parts.append(_table(["split", "jets", *(html.escape(n) for n in names)], rows))
    elif ingest:
        rows = [
            [split, str(c["jets"]), str(c["signal"]), str(c["background"])]
            for split, c in ingest.get("splits", {}).items()
        ]
        background, signal = ingest.get("label_names", ["background", "signal"])
        headers = [f"signal ({signal})", f"background ({background})"]
        if [background, signal] == ["background", "signal"]:
            headers = ["signal", "background"]
        parts.append(_table(["split", "jets", *(html.escape(h) for h in headers)], rows))
    if ingest:
        dropped = ", ".join(f"{k}: {v}" for k, v in ingest.get("dropped", {}).items())
        parts.append(
            f"<p>Read {ingest.get('jets_read')} jets from {ingest.get('files')} file(s), kept "
            f"{ingest.get('jets_kept')}. Dropped by reason: {html.escape(dropped) or 'none'}. "
            f"Files skipped: {len(ingest.get('files_skipped', []))}.</p>"
        )
    for split, summary in (metrics["dataset"].get("build") or {}).items():
        dropped = ", ".join(f"{k}: {v}" for k, v in summary.get("dropped", {}).items())
        parts.append(
            f"<p class='note'>build {split}: {summary.get('jets_in')} jets in, {summary.get('jets_out')} out"
            f" (dropped: {html.escape(dropped) or 'none'}).</p>"
        )
    return "".join(parts)


def _figure(name: str, directory: Path) -> str:
    png = directory / f"{name}.png"
    data = base64.b64encode(png.read_bytes()).decode()
    return (
        f"<figure id='{name}'><img alt='{name}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(FIGURES[name])} (<a href='{name}.pdf'>PDF</a>)</figcaption></figure>"
    )


def write_html(
    metrics: dict[str, Any], figures_dir: Path, output: Path, config: dict[str, Any] | None
) -> None:
    """Write the report page; the PNGs in ``figures_dir`` are embedded, so the page travels alone."""
    provenance = {k: v for k, v in metrics.get("provenance", {}).items() if k != "config"}
    conventions = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in metrics["conventions"].items()
    )
    test = metrics["test_jets"]
    if "classes" in test:
        counts = ", ".join(f"{n} {html.escape(name)}" for name, n in test["classes"].items())
        jets = f"{counts} jets; each signal class is judged against the background ({metrics['classes'][0]})"
    else:
        background, signal = metrics.get("label_names", ["", ""])
        named = [
            f" ({html.escape(name)})" if name not in ("signal", "background", "") else ""
            for name in (signal, background)
        ]
        jets = f"{test['signal']} signal{named[0]} and {test['background']} background{named[1]} jets"
    sections = [
        "<h1>jettag report</h1>",
        f"<p>Test split: {jets}. "
        "Numbers are the median over seeds ± the sample standard deviation over seeds; "
        "stat. is the bootstrap standard deviation on the test jets.</p>",
        "<h2>Taggers</h2>",
        _results_table(metrics),
        _differences_table(metrics),
        f"<ul class='note'>{conventions}</ul>",
        "<h2>Figures</h2>",
        *(_figure(name, figures_dir) for name in FIGURES if (figures_dir / f"{name}.png").is_file()),
        "<h2>Compared with published results</h2>",
        f"<p><b>The samples differ.</b> {html.escape(SAMPLE_NOTE)}</p>",
        _published_table(metrics),
        "<h2>Dataset</h2>",
        _dataset(metrics),
        "<h2>Provenance</h2>",
        f"<pre>{html.escape(json.dumps(provenance, indent=2))}</pre>",
    ]
    if config is not None:
        sections += [
            "<h3>Configuration</h3>",
            f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>",
        ]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>jettag report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )
    output.write_text(page)
