"""Scores of a trained model for a chunk of complete jets, one row per jet in the order given."""

from __future__ import annotations

import awkward as ak
import numpy as np
import torch

from jettag.artefact import TrainedBDT, TrainedTagger
from jettag.features.sequences import pad
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

    Sequences are scored in batches of ``batch_size`` jets of similar length, each padded to its own
    longest jet (as in training), and the scores are put back in the jets' order.
    """

    def __init__(self, model: TrainedTagger | TrainedBDT, batch_size: int = 1024) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.spec = InputSpec.of(model)
        self.batch_size = batch_size
        self.label_names = model.label_names
        if isinstance(model, TrainedTagger):
            self.device = next(model.network.parameters()).device

    def __call__(self, jets: ak.Array) -> np.ndarray:
        """Scores ``[len(jets), len(label_names)]`` float32, one column per label."""
        n_labels = len(self.label_names)
        if len(jets) == 0:
            return np.empty((0, n_labels), np.float32)
        if self.spec.kind == "highlevel":
            return class_scores(self.model.scores(self.spec.highlevel(jets)), n_labels)
        if self.spec.kind == "image":
            return class_scores(self._images(self.spec.images(jets)), n_labels)
        return class_scores(self._sequences(self.spec.sequences(jets)), n_labels)

    def _images(self, images: np.ndarray) -> np.ndarray:
        parts = []
        for start in range(0, len(images), self.batch_size):
            x = torch.from_numpy(images[start : start + self.batch_size, None]).to(self.device)
            parts.append(self.model.scores({"x": x}))
        return np.concatenate(parts)

    def _sequences(self, features: ak.Array) -> np.ndarray:
        lengths = ak.to_numpy(ak.num(features, axis=1))
        order = np.argsort(lengths, kind="stable")
        scores: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            values, _, batch_lengths = pad(features[index], int(lengths[index].max()))
            x = torch.from_numpy(values).to(self.device)
            part = self.model.scores({"x": x, "lengths": torch.from_numpy(batch_lengths)})
            if scores is None:
                scores = np.empty((len(order), *part.shape[1:]), np.float32)
            scores[index] = part
        return scores
