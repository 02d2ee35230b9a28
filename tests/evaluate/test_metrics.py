"""Figures of merit by the field's conventions: interpolated rejection, bootstrap errors, seed spreads."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from jettag.metrics import binary_metrics, paired_differences, rejection_at, roc, spread, threshold_at


def gaussian_scores(n: int, separation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([1, 0], n)
    scores = np.concatenate([rng.normal(separation, 1, n), rng.normal(0, 1, n)])
    return labels, 1 / (1 + np.exp(-scores))


def test_rejection_is_interpolated_between_roc_points_not_the_nearest_one() -> None:
    # 4 signal, 4 background: eps_S steps 0.25, 0.5, ...; background passes one by one in between
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    eps_s, eps_b = roc(labels, scores)
    # at eps_S = 0.25 the tightest cut lets no background through; at 0.5 one of four
    assert rejection_at(eps_s, eps_b, 0.25) is None
    assert rejection_at(eps_s, eps_b, 0.5) == pytest.approx(4.0)
    # in between: linear from the best working point at eps_S = 0.25, (0.25, 0), to the one at 0.5,
    # (0.5, 0.25), not the staircase value 0.25 of the nearest point
    assert rejection_at(eps_s, eps_b, 0.375) == pytest.approx(1 / 0.125)
    assert rejection_at(eps_s, eps_b, 0.125) is None  # the hardest signal jet comes before any background


def test_auc_accuracy_and_rejection_of_a_known_separation() -> None:
    labels, scores = gaussian_scores(20000, separation=2.0)
    result = binary_metrics(labels, scores, (0.3, 0.5))
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores))
    # two unit Gaussians 2 sigma apart: AUC = Phi(2 / sqrt 2) = 0.921
    assert result["auc"] == pytest.approx(0.921, abs=0.005)
    # eps_S = 0.5 cuts at the signal median, x > 2: eps_B = 1 - Phi(2) = 0.02275
    assert result["rejection"]["0.5"] == pytest.approx(1 / 0.02275, rel=0.08)
    assert result["rejection"]["0.3"] > result["rejection"]["0.5"]
    # score 0.5 is x = 0: all of the background Gaussian's lower half and Phi(2) of the signal
    assert result["accuracy"] == pytest.approx(0.5 * (0.97725 + 0.5), abs=0.01)
    assert (result["n_signal"], result["n_background"], result["rejection_limit"]) == (20000, 20000, 20000)


def test_bootstrap_errors_shrink_with_the_square_root_of_the_sample() -> None:
    small = binary_metrics(*gaussian_scores(500, 1.5), (0.3, 0.5), n_bootstrap=200)["errors"]
    large = binary_metrics(*gaussian_scores(8000, 1.5), (0.3, 0.5), n_bootstrap=200)["errors"]
    ratio = small["auc"] / large["auc"]
    assert 2.5 < ratio < 6.5  # sqrt(16) = 4
    assert small["rejection"]["0.5"] > large["rejection"]["0.5"] > 0
    # reproducible: the resamples come from a seeded generator
    again = binary_metrics(*gaussian_scores(500, 1.5), (0.3, 0.5), n_bootstrap=200)["errors"]
    assert again == small


def test_paired_differences_cancel_what_two_taggers_share() -> None:
    # two taggers reading the same jets: a common per-jet value (what makes a jet easy or hard) plus a
    # little noise of their own, the second with a slightly smaller separation
    rng = np.random.default_rng(3)
    n = 2000
    labels = np.repeat([1, 0], n)
    common = rng.normal(0, 1, 2 * n) + 1.5 * labels
    a = [common + rng.normal(0, 0.3, 2 * n) for _ in range(3)]  # three seeds
    b = [common - 0.2 * labels + rng.normal(0, 0.3, 2 * n) for _ in range(3)]
    differences = paired_differences(labels, {"a": a, "b": b}, (0.5,), 200)
    ab, ba = differences["a"]["b"], differences["b"]["a"]
    aucs = {name: np.median([roc_auc_score(labels, s) for s in runs]) for name, runs in (("a", a), ("b", b))}
    assert ab["auc"] == pytest.approx(aucs["a"] - aucs["b"])
    assert ab["auc"] > 0
    assert ba["auc"] == pytest.approx(-ab["auc"])
    assert ba["auc_error"] == pytest.approx(ab["auc_error"])
    # each tagger's own bootstrap error, and the error of the difference were the resamples independent
    own = [binary_metrics(labels, runs[0], (0.5,), n_bootstrap=200)["errors"]["auc"] for runs in (a, b)]
    unpaired = float(np.hypot(*own))
    # the shared part cancels: the paired error is a fraction of the unpaired one, small enough that the
    # 0.03 or so between the two is told apart, as it could not be by the taggers' own errors
    assert ab["auc_error"] < 0.5 * unpaired
    assert ab["auc"] > 3 * ab["auc_error"]
    assert ab["rejection"]["0.5"] > 0
    assert ab["rejection_error"]["0.5"] > 0
    # a tagger against a copy of itself: no difference, and no spread of it
    same = paired_differences(labels, {"a": a, "copy": [s.copy() for s in a]}, (0.5,), 50)["a"]["copy"]
    assert same["auc"] == 0
    assert same["auc_error"] == 0
    assert same["rejection"]["0.5"] == 0


def test_paired_differences_refuse_scores_of_other_jets() -> None:
    labels, scores = gaussian_scores(100, 1.0)
    with pytest.raises(ValueError, match="of one length"):
        paired_differences(labels, {"a": [scores], "b": [scores[:-1]]}, (0.5,), 10)


def test_threshold_keeps_the_asked_signal_fraction() -> None:
    labels, scores = gaussian_scores(10000, 1.0)
    cut = threshold_at(labels, scores, 0.5)
    assert np.mean(scores[labels == 1] >= cut) == pytest.approx(0.5, abs=0.001)


def test_spread_over_seeds_counts_unbounded_values_apart() -> None:
    stats = spread([0.90, 0.94, 0.92])
    assert stats["median"] == pytest.approx(0.92)
    assert stats["spread"] == pytest.approx(0.02)
    assert (stats["min"], stats["max"], stats["n_unbounded"]) == (0.90, 0.94, 0)
    assert spread([5.0])["spread"] == 0.0
    partly = spread([None, 10.0, 20.0])
    assert partly["median"] == 15.0
    assert partly["n_unbounded"] == 1
    assert spread([None])["median"] is None


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "both signal"),
        ([1, 0], [0.5, np.nan], "not finite"),
        ([1, 0, 1], [0.5, 0.4], "one length"),
    ],
)
def test_bad_inputs_are_refused(labels, scores, message) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(np.array(labels), np.array(scores), (0.3, 0.5))
