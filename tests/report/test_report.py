"""The report stage on real evaluated runs: metrics.json by its documented schema, figures, report.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jettag.evaluate import evaluate_run
from jettag.report import FIGURES, write_report
from jettag.settings import EvaluateSettings

MODEL_KEYS = {
    "kind", "cell", "n_seeds", "n_params", "auc", "auc_spread", "auc_error", "accuracy", "accuracy_spread",
    "rejection", "rejection_spread", "rejection_error", "rejection_unbounded", "rejection_limit",
    "train_seconds", "train_jets_per_second", "inference_jets_per_second", "val_auc", "seeds",
}  # fmt: skip


@pytest.fixture(scope="module")
def report(trained_runs: dict[str, Path], built: Path, ingested, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    evaluations = []
    for name, run_dir in trained_runs.items():
        evaluations.append(out / "evaluate" / name)
        evaluate_run(run_dir, built, evaluations[-1], EvaluateSettings.create(bootstrap=20))
    metrics = write_report(
        evaluations,
        out / "report",
        ingest_summary=ingested[1],
        build_summaries=[built / split / "summary.json" for split in ("train", "val", "test")],
    )
    return metrics, out


def test_metrics_json_holds_every_model_with_median_and_spread_over_seeds(report) -> None:
    metrics, out = report
    assert json.loads((out / "report" / "metrics.json").read_text()) == metrics
    assert list(metrics["models"]) == ["lstm", "cnn", "bdt"]
    for entry in metrics["models"].values():
        assert set(entry) == MODEL_KEYS
        assert set(entry["rejection"]) == {"0.3", "0.5"}
    lstm = metrics["models"]["lstm"]
    assert lstm["n_seeds"] == 2
    per_seed = [
        json.loads((out / "evaluate" / "lstm" / seed / "metrics.json").read_text())["test"]
        for seed in ("seed1", "seed2")
    ]
    aucs = [m["auc"] for m in per_seed]
    assert lstm["auc"] == pytest.approx(np.median(aucs))
    assert lstm["auc_spread"] == pytest.approx(np.std(aucs, ddof=1))
    assert lstm["seeds"]["2"]["auc"] == aucs[1]
    assert metrics["models"]["bdt"]["n_seeds"] == 1
    assert metrics["models"]["bdt"]["auc_spread"] == 0.0
    assert all(entry["auc"] > 0.75 for entry in metrics["models"].values())


def test_differences_between_taggers_are_paired_on_the_test_jets(report) -> None:
    metrics, out = report
    differences, models = metrics["differences"], metrics["models"]
    assert set(differences) == set(models)
    for a, row in differences.items():
        assert set(row) == set(models) - {a}
        for b, entry in row.items():
            assert entry["auc"] == pytest.approx(models[a]["auc"] - models[b]["auc"])
            assert entry["auc_error"] > 0
            assert differences[b][a]["auc"] == pytest.approx(-entry["auc"])
    page = (out / "report" / "report.html").read_text()
    assert "Differences on the same test jets" in page
    assert "lstm − bdt" in page
    assert "cnn − bdt" not in page


def test_dataset_counts_and_pt_bins_come_with_the_numbers(report, ingested, built) -> None:
    metrics, _ = report
    ingest = json.loads(Path(ingested[1]).read_text())
    assert metrics["dataset"]["ingest"] == ingest
    test = json.loads((built / "test" / "summary.json").read_text())
    assert metrics["test_jets"] == {"signal": test["signal"], "background": test["background"]}
    assert set(metrics["dataset"]["build"]) == {"train", "val", "test"}
    edges = metrics["pt_bins"]["edges"]
    assert len(edges) == 6
    assert edges == sorted(edges)
    assert all(len(v["auc"]) == 5 for v in metrics["pt_bins"]["models"].values())
    assert metrics["provenance"]["packages"]["torch"].startswith("2.")


def test_figures_and_the_html_page(report) -> None:
    metrics, out = report
    page = (out / "report" / "report.html").read_text()
    for name in FIGURES:
        for suffix in (".png", ".pdf"):
            assert (out / "report" / f"{name}{suffix}").stat().st_size > 1000
        assert f"<figure id='{name}'>" in page
    for name in metrics["models"]:
        assert f"jettag {name} (this run)" in page
    assert "The samples differ." in page
    assert "ParticleNet" in page
    assert f"{metrics['models']['bdt']['auc']:.4g}" in page


def test_binary_classes_are_named_after_the_configured_labels() -> None:
    from jettag.report.collect import binary_names

    assert binary_names(["label_Hbb"], ["label_QCD"]) == ("signal (Hbb)", "background (QCD)")
    assert binary_names(["label_Tbqq", "label_Wqq"], ["label_QCD"])[0] == "signal (Tbqq_or_Wqq)"
