"""Scores of a trained model for a chunk of complete jets, one row per jet in the order given."""

from __future__ import annotations

import awkward as ak
import numpy as np

from jettag.artefact import TrainedBDT, TrainedTagger
from jettag.predict.features import InputSpec

__all__ = ["Scorer", "class_scores"]


def class_scores(scores: np.ndarray, n_labels: int) -> np.ndarray:
    """``[n_jets, n_labels]`` float32 from a model's scores: a binary tagger's signal probability ``p``
    becomes the columns ``(1 - p, p)`` (background, signal), class probabilities stay as they are."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim == 1:
        return np.stack([1.0 - scores, scores], axis=1).astype(np.float32)
    if scores.shape[1] != n_labels:
        raise ValueError(f"the model gives {scores.shape[1]} class scores for {n_labels} labels")
    return scores


class Scorer:
    """Applies ``model`` (a network tagger or the BDT) to jets completed by ingest's ``prepare_chunk``.

    Networks score through :meth:`jettag.artefact.TrainedTagger.score_sequences` and ``score_images``, as
    evaluate does; the BDT through its trees.
    """

    def __init__(self, model: TrainedTagger | TrainedBDT, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.spec = InputSpec.of(model)
        self.batch_size = batch_size
        self.label_names = model.label_names

    def __call__(self, jets: ak.Array) -> np.ndarray:
        """Scores ``[len(jets), len(label_names)]`` float32, one column per label."""
        n_labels = len(self.label_names)
        if len(jets) == 0:
            return np.empty((0, n_labels), np.float32)
        if self.spec.kind == "highlevel":
            return class_scores(self.model.scores(self.spec.highlevel(jets)), n_labels)
        assert isinstance(self.model, TrainedTagger)
        if self.spec.kind == "image":
            return class_scores(self.model.score_images(self.spec.images(jets), self.batch_size), n_labels)
        return class_scores(self.model.score_sequences(self.spec.sequences(jets), self.batch_size), n_labels)
