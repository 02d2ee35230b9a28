"""Multi-class figures of merit: each signal class against the background alone, on s_i / (s_i + s_0)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from jettag.metrics import binary_metrics, multiclass_metrics, one_vs_background

NAMES = ["QCD", "Tbqq", "Wqq"]


def softmax_of_gaussians(n: int, means: list[float], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` jets per class; a jet's true-class logit is N(means[c], 1), every other logit N(0, 1)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(means)), n)
    logits = rng.normal(0, 1, (len(labels), len(means)))
    logits[np.arange(len(labels)), labels] += np.asarray(means)[labels]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return labels, exp / exp.sum(axis=1, keepdims=True)


def test_one_vs_background_keeps_the_two_classes_and_the_field_discriminant():
    labels = np.array([0, 1, 2, 0, 2])
    probabilities = np.array(
        [[0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8], [0.5, 0.5, 0.0], [0, 0, 1.0]]
    )
    y, s = one_vs_background(labels, probabilities, 2)
    np.testing.assert_array_equal(y, [0, 1, 0, 1])
    # s_2 / (s_2 + s_0); a jet where both are 0 sits at 0.5
    np.testing.assert_allclose(s, [0.1 / 0.7, 0.8 / 0.9, 0.0, 1.0])
    y, s = one_vs_background(np.array([1]), np.array([[0.0, 0.0, 1.0]]), 1)
    np.testing.assert_allclose(s, [0.5])
    with pytest.raises(ValueError, match="signal class 0"):
        one_vs_background(labels, probabilities, 0)


def test_per_class_auc_of_known_separations():
    # on class i's problem z_i - z_0 is N(m_i, sqrt 2) for class-i jets and N(-m_0, sqrt 2) for QCD jets,
    # and s_i / (s_i + s_0) = sigmoid(z_i - z_0) is monotonic in it: AUC = Phi((m_i + m_0) / 2)
    labels, probabilities = softmax_of_gaussians(20000, [1.0, 1.0, 3.0])
    result = multiclass_metrics(labels, probabilities, NAMES, (0.3, 0.5))
    assert set(result["per_class"]) == {"Tbqq", "Wqq"}
    assert result["per_class"]["Tbqq"]["auc"] == pytest.approx(norm.cdf(1.0), abs=0.005)
    assert result["per_class"]["Wqq"]["auc"] == pytest.approx(norm.cdf(2.0), abs=0.004)
    for name in ("Tbqq", "Wqq"):
        fom = result["per_class"][name]
        # the other signal class takes no part
        assert fom["n_signal"] == fom["n_background"] == 20000
        assert fom == binary_metrics(*one_vs_background(labels, probabilities, NAMES.index(name)), (0.3, 0.5))
    assert result["n_jets"] == dict.fromkeys(NAMES, 20000)
    assert result["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))


def test_shapes_are_checked():
    labels, probabilities = softmax_of_gaussians(10, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="for the classes"):
        multiclass_metrics(labels, probabilities[:, :2], NAMES, (0.5,))


def test_non_finite_probabilities_and_a_missing_class_stop_with_the_reason():
    """A diverged network (NaN scores) must not pass as a coin (AUC 0.5); a class missing from the sample
    is named."""
    labels, probabilities = softmax_of_gaussians(10, [1.0, 2.0, 2.0])
    diverged = probabilities.copy()
    diverged[3] = np.nan
    with pytest.raises(ValueError, match="1 jets have probabilities that are not finite"):
        one_vs_background(labels, diverged, 1)
    with pytest.raises(ValueError, match="not finite"):
        multiclass_metrics(labels, diverged, NAMES, (0.5,))
    no_w = labels != 2
    with pytest.raises(ValueError, match=r"class Wqq \(label 2\) against QCD \(label 0\)"):
        multiclass_metrics(labels[no_w], probabilities[no_w], NAMES, (0.5,))
