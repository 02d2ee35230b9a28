"""The learning curve: the power-law fit recovers known curves, the point where a network passes the BDT is
interpolated, extrapolated or never as the curves say, and the JSON, figure and page hold every tagger, size
and seed."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from jettag.cli import main
from jettag.report.learning_curve import (
    HORIZON,
    PowerLaw,
    fit_power_law,
    learning_curve,
    load_points,
    passes_reference,
)

SIZES = [1000, 3000, 10000, 30000]


def law(a: float, b: float, c: float = 0.0) -> PowerLaw:
    return PowerLaw(a=a, b=b, c=c, floor=c > 0, rms=0.0, n_points=0)


# -- the fit -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [(0.8, 0.4), (2.0, 0.25), (0.05, 0.1)])
def test_a_pure_power_law_is_recovered_exactly_from_two_sizes_and_from_five(a, b):
    for sizes in ([1e3, 1e5], [1e3, 3e3, 1e4, 3e4, 1e5]):
        n = np.repeat(sizes, 2)
        fit = fit_power_law(n, a * n**-b)
        assert fit.a == pytest.approx(a, rel=1e-3)
        assert fit.b == pytest.approx(b, rel=1e-3)
        assert fit.c == pytest.approx(0.0, abs=1e-4)
        assert fit.floor is (len(sizes) >= 4)


def test_the_floor_is_fitted_from_four_sizes_on():
    n = np.repeat([1e3, 3e3, 1e4, 3e4, 1e5], 2)
    fit = fit_power_law(n, 0.8 * n**-0.4 + 0.01)
    assert (fit.a, fit.b, fit.c) == pytest.approx((0.8, 0.4, 0.01), rel=1e-3)
    assert fit.rms < 1e-4
    # points scattered by 3% about the curve, twenty times over: no bias in b and c, and every fit at least as
    # close to its points as the true curve
    fits, truths = [], []
    for seed in range(20):
        scatter = np.random.default_rng(seed).normal(0, 0.03, len(n))
        fits.append(fit_power_law(n, (0.8 * n**-0.4 + 0.01) * np.exp(scatter)))
        truths.append(math.sqrt(np.mean(scatter**2)))
    assert np.median([f.b for f in fits]) == pytest.approx(0.4, abs=0.02)
    assert np.median([f.c for f in fits]) == pytest.approx(0.01, abs=0.001)
    assert all(f.rms <= truth for f, truth in zip(fits, truths, strict=True))
    # three sizes leave c at 0: three parameters from three sizes would fit any three points
    three = fit_power_law(n[:6], 0.8 * n[:6] ** -0.4 + 0.01)
    assert not three.floor
    assert three.c == 0.0


def test_a_rising_curve_is_fitted_flat_and_bad_points_are_refused():
    n = np.array([1e3, 1e4, 1e5])
    flat = fit_power_law(n, [0.02, 0.021, 0.022])
    assert flat.b == 0.0
    assert flat(1e9) == pytest.approx(0.021, rel=0.01)
    with pytest.raises(ValueError, match="at least two training-set sizes"):
        fit_power_law([1e3, 1e3], [0.1, 0.11])
    with pytest.raises(ValueError, match="0 < 1 - AUC < 1"):
        fit_power_law([1e3, 1e4], [0.1, 0.0])


# -- where a network passes the BDT ------------------------------------------------------------------------


def test_crossing_curves_are_interpolated_linearly_in_log_n():
    # behind by 0.01 at 10k, ahead by 0.03 at 100k: a quarter of the way in log N
    passes = passes_reference([1e3, 1e4, 1e5], [0.90, 0.95, 0.99], [0.96, 0.96, 0.96], None, None)
    assert passes["method"] == "interpolated"
    assert passes["train_jets"] == pytest.approx(10**4.25)
    # ahead at the smallest size, behind, then ahead for good: the last crossing counts
    again = passes_reference([1e3, 1e4, 1e5], [0.97, 0.95, 0.99], [0.96, 0.96, 0.96], None, None)
    assert again["method"] == "interpolated"
    assert 1e4 < again["train_jets"] < 1e5


def test_curves_that_do_not_cross_are_extrapolated_from_the_fits():
    network, bdt = law(0.5, 0.5), law(0.0, 0.0, 0.02)  # 1 - AUC: 0.5 / sqrt(N) against 0.02: equal at 625
    sizes = [50, 100, 200, 400]
    passes = passes_reference(sizes, network.auc(sizes), bdt.auc(sizes), network, bdt)
    assert passes == {"train_jets": pytest.approx(625, rel=1e-6), "method": "extrapolated"}
    # the same from fits of the points
    n = np.repeat(sizes, 2)
    fitted = passes_reference(
        sizes, network.auc(sizes), bdt.auc(sizes), fit_power_law(n, network(n)), fit_power_law(n, bdt(n))
    )
    assert fitted["method"] == "extrapolated"
    assert fitted["train_jets"] == pytest.approx(625, rel=0.01)


def test_a_network_whose_floor_lies_above_the_bdt_never_passes_and_one_always_ahead_is_said_so():
    network, bdt = law(0.5, 0.5, 0.03), law(0.0, 0.0, 0.02)
    sizes = [1e3, 1e4, 1e5]
    assert passes_reference(sizes, network.auc(sizes), bdt.auc(sizes), network, bdt) == {
        "train_jets": None,
        "method": "never",
    }
    # a crossing beyond the horizon is never too
    slow = law(0.5, 1e-3)
    assert slow(HORIZON) > 0.02
    assert passes_reference(sizes, slow.auc(sizes), bdt.auc(sizes), slow, bdt)["method"] == "never"
    ahead = law(0.01, 0.1)
    assert passes_reference(sizes, ahead.auc(sizes), bdt.auc(sizes), ahead, bdt) == {
        "train_jets": None,
        "method": "ahead at every size",
    }


# -- the JSON, the figure and the page ---------------------------------------------------------------------

#: 1 - AUC of each synthetic tagger against N: the BDT levels off at 0.03; the GRU passes it between 10k and
#: 30k; the PFN's floor (0.02) lies below the BDT's, so the fits cross beyond 30k; the RNN's (0.05) above
TRUTH = {
    "bdt": ("bdt", law(0.05, 0.3, 0.03)),
    "gru": ("recurrent", law(1.6, 0.4)),
    "pfn": ("pfn", law(0.5, 0.25, 0.02)),
    "rnn": ("recurrent", law(0.3, 0.2, 0.05)),
}


def write_evaluation(directory: Path, model: str, kind: str, seed: int, n: int, auc: float) -> None:
    """An evaluate-stage directory whose test scores have the AUC ``auc``: Gaussian scores, unit width, the
    signal's shifted by sqrt(2) Phi^-1(AUC), at evenly spaced quantiles."""
    quantiles = [NormalDist().inv_cdf((i + 0.5) / 3000) for i in range(3000)]
    shift = math.sqrt(2) * NormalDist().inv_cdf(auc)
    scores = np.array([*quantiles, *(q + shift for q in quantiles)])
    table = pd.DataFrame(
        {"label": np.repeat([0, 1], 3000).astype(np.int8), "score": 1 / (1 + np.exp(-scores))}
    )
    directory.mkdir(parents=True)
    table.to_parquet(directory / "scores.parquet", index=False)
    metrics = {"model": model, "kind": kind, "seed": seed, "train_jets": n, "test": {"auc": auc}}
    (directory / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("learning_curve")
    directories = []
    for n in SIZES:
        for model, (kind, truth) in TRUTH.items():
            for seed, offset in ((1, -0.001), (2, 0.001)):
                directories.append(out / f"n{n}" / "evaluate" / model / f"seed{seed}")
                write_evaluation(directories[-1], model, kind, seed, n, float(truth.auc(n)) + offset)
    return directories


@pytest.fixture(scope="module")
def written(evaluations, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("curve")
    assert main(["learning-curve", "--evaluations", *map(str, evaluations), "--output-dir", str(out)]) == 0
    return json.loads((out / "learning_curve.json").read_text()), out


def test_the_json_holds_every_tagger_size_and_seed_with_medians_and_fits(written, evaluations):
    curve, _ = written
    assert curve["sizes"] == SIZES
    assert curve["seeds"] == [1, 2]
    assert curve["reference"] == "bdt"
    assert curve["test_jets"] == {"signal": 3000, "background": 3000}
    assert set(curve["taggers"]) == set(TRUTH)
    for model, (kind, truth) in TRUTH.items():
        entry = curve["taggers"][model]
        assert entry["kind"] == kind
        assert {(p["train_jets"], p["seed"]) for p in entry["points"]} == {
            (n, s) for n in SIZES for s in (1, 2)
        }
        for point in entry["points"]:
            table = pd.read_parquet(
                next(
                    d
                    for d in evaluations
                    if f"n{point['train_jets']}/" in str(d) and f"/{model}/seed{point['seed']}" in str(d)
                )
                / "scores.parquet"
            )
            assert point["auc"] == pytest.approx(roc_auc_score(table.label, table.score))
        for size in entry["sizes"]:
            aucs = [p["auc"] for p in entry["points"] if p["train_jets"] == size["train_jets"]]
            assert size["auc"] == pytest.approx(np.median(aucs))
            assert size["auc_spread"] == pytest.approx(np.std(aucs, ddof=1))
            assert size["auc"] == pytest.approx(float(truth.auc(size["train_jets"])), abs=2e-4)
            assert size["rejection"] > 1
        fit = PowerLaw(**entry["fit"])
        assert fit.floor  # four sizes
        assert fit(np.array(SIZES)) == pytest.approx(truth(np.array(SIZES)), rel=0.05)
    assert "passes_bdt" not in curve["taggers"]["bdt"]


def test_each_network_passes_the_bdt_where_its_curve_says(written):
    taggers = written[0]["taggers"]
    gru = taggers["gru"]["passes_bdt"]
    assert gru["method"] == "interpolated"
    assert 10000 < gru["train_jets"] < 30000
    pfn = taggers["pfn"]["passes_bdt"]
    assert pfn["method"] == "extrapolated"
    # where the true curves cross (0.5 N^-0.25 + 0.02 = 0.05 N^-0.3 + 0.03): a few million jets
    truth = passes_reference(
        SIZES, TRUTH["pfn"][1].auc(SIZES), TRUTH["bdt"][1].auc(SIZES), TRUTH["pfn"][1], TRUTH["bdt"][1]
    )
    assert 1e6 < truth["train_jets"] < 1e7
    assert TRUTH["pfn"][1](truth["train_jets"]) == pytest.approx(
        TRUTH["bdt"][1](truth["train_jets"]), rel=1e-6
    )
    assert truth["train_jets"] / 3 < pfn["train_jets"] < truth["train_jets"] * 3
    assert taggers["rnn"]["passes_bdt"] == {"train_jets": None, "method": "never"}


def test_the_figure_and_the_page_show_the_curve_and_the_crossings(written):
    _, out = written
    png = out / "learning_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "learning_curve.pdf").read_bytes()[:5] == b"%PDF-"
    page = (out / "report.html").read_text()
    assert "<figure id='learning_curve'>" in page
    assert base64.b64encode(png.read_bytes()).decode() in page
    assert "passes BDT at" in page
    assert "(interpolated)" in page
    assert "(extrapolated)" in page
    assert "never passes BDT" in page
    for n in ("1k jets", "3k jets", "10k jets", "30k jets"):
        assert n in page


def test_a_missing_evaluation_other_classes_or_no_train_jets_are_refused(evaluations, tmp_path):
    points = load_points(evaluations)
    with pytest.raises(ValueError, match=r"gru: no evaluation at \(training jets, seed\) \[\(3000, 2\)\]"):
        learning_curve([p for p in points if (p["model"], p["train_jets"], p["seed"]) != ("gru", 3000, 2)])
    with pytest.raises(ValueError, match="evaluated twice"):
        learning_curve([*points, points[0]])
    directory = tmp_path / "old"
    write_evaluation(directory, "gru", "recurrent", 1, 1000, 0.9)
    metrics = json.loads((directory / "metrics.json").read_text())
    (directory / "metrics.json").write_text(
        json.dumps({k: v for k, v in metrics.items() if k != "train_jets"})
    )
    with pytest.raises(ValueError, match="records no train_jets"):
        load_points([directory])
    (directory / "metrics.json").write_text(json.dumps({**metrics, "test": {"per_class": {}}}))
    with pytest.raises(ValueError, match="a multi-class tagger"):
        load_points([directory])
