"""Trained taggers, written to and read back from their training directory, safely.

Every training directory holds ``artefact.json``, written by :func:`write_artefact` and read by
:func:`read_artefact` whatever the tagger: ``format`` (:data:`FORMAT`, name and layout version),
``kind`` (:data:`KINDS`: ``network`` or ``bdt``), ``jettag_version``, the settings it was trained with
as written, and what the kind needs besides. One check refuses anything else, another layout, or an
artefact of another jettag release series, naming the file and the reason.

- A network (:func:`jettag.train.train_model`): the model config, features, standardisation, build
  settings and label names, and ``model.pt``, the best epoch's weights as a plain state dict, read with
  ``torch.load(..., weights_only=True)`` (nothing unpickled) and checked to hold exactly the parameters of
  the network the config describes (:func:`load_tagger`).
- The BDT (:func:`jettag.train.bdt.train_bdt`): ``bdt.json``, JSON trees evaluated in numpy
  (:class:`jettag.trees.BDTModel`; :func:`load_bdt_tagger`).

:func:`load_trained` reads either kind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from torch import Tensor, nn

from jettag import __version__
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.models.config import build_model
from jettag.shards import write_text_atomically
from jettag.standardisation import Standardisation, pad
from jettag.trees import BDTModel

__all__ = [
    "FORMAT",
    "KINDS",
    "ArtefactError",
    "TrainedBDT",
    "TrainedTagger",
    "load_bdt_tagger",
    "load_tagger",
    "load_trained",
    "read_artefact",
    "release_series",
    "scores_from_logits",
    "write_artefact",
]

#: identifies a tagger's ``artefact.json``; the version changes whenever the layout does
FORMAT = {"name": "jettag-model", "version": 2}
#: the kinds of trained tagger, as ``artefact.json`` names them
KINDS = ("network", "bdt")


class ArtefactError(ValueError):
    """A trained-model artefact that cannot be used: names the file and the problem."""


def release_series(version: str) -> str:
    """``"0.1"`` for ``"0.1.3"``: artefacts are exchanged freely within one release series."""
    return ".".join(version.split(".")[:2])


def scores_from_logits(logits: Tensor) -> Tensor:
    """Class probabilities: ``[batch]`` signal probability for one logit, else ``[batch, n_classes]``."""
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits.squeeze(-1))
    return torch.softmax(logits, dim=-1)


@dataclass
class TrainedTagger:
    """A trained network in eval mode with its ``artefact`` (the parsed ``artefact.json``): the one scorer
    that evaluate, predict and the ONNX export's check apply to jets.

    :meth:`score_sequences` and :meth:`score_images` score built inputs in batches; :meth:`scores` one batch.
    ``forward_seconds`` adds up the time of the forward passes alone (for the inference throughput), the
    first of which, paying for allocations and kernel selection, is run once more and not counted.
    """

    network: nn.Module
    artefact: dict[str, Any]
    directory: Path
    forward_seconds: float = field(default=0.0, init=False)
    _warm: bool = field(default=False, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.artefact["model"]["name"]

    @property
    def data_kind(self) -> str:
        """``"sequence"`` (constituent sequences) or ``"image"`` (jet images)."""
        return self.artefact["data_kind"]

    @property
    def label_names(self) -> list[str]:
        return list(self.artefact["label_names"])

    @torch.no_grad()
    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        """Logits for a batch as the data module collates it (``x``, and ``lengths`` for sequences)."""
        if self.data_kind == "sequence":
            return self.network(batch["x"], batch["lengths"])
        return self.network(batch["x"])

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def scores(self, batch: dict[str, Tensor]) -> np.ndarray:
        """Class probabilities of a batch as numpy (see :func:`scores_from_logits`)."""
        if not self._warm:
            scores_from_logits(self.logits(batch))
            self._warm = True
        began = time.perf_counter()
        result = scores_from_logits(self.logits(batch)).float().cpu().numpy()
        self.forward_seconds += time.perf_counter() - began
        return result

    def score_sequences(self, features: ak.Array, batch_size: int) -> np.ndarray:
        """Scores of jets given as standardised constituent features (jagged records, the fields the model
        was trained on), one row per jet in the order given: in batches of ``batch_size`` jets of similar
        length (a stable sort by length), each padded to its own longest jet, as in training."""
        if len(features) == 0:
            raise ValueError("no jets to score")
        lengths = ak.to_numpy(ak.num(features, axis=1))
        if lengths.min() == 0:
            raise ValueError("a jet without constituents cannot be scored by a sequence tagger")
        order = np.argsort(lengths, kind="stable")
        scores: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            values, _, batch_lengths = pad(features[index], int(lengths[index].max()))
            batch = {
                "x": torch.from_numpy(values).to(self.device),
                "lengths": torch.from_numpy(batch_lengths),
            }
            part = self.scores(batch)
            if scores is None:
                scores = np.empty((len(order), *part.shape[1:]), np.float32)
            scores[index] = part
        assert scores is not None
        return scores

    def score_images(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """Scores of jet images ``[n_jets, size, size]``, one row per jet, in batches of ``batch_size``."""
        parts = []
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size, None], np.float32))
            parts.append(self.scores({"x": x.to(self.device)}))
        if not parts:
            raise ValueError("no jets to score")
        return np.concatenate(parts)


@dataclass
class TrainedBDT:
    """The BDT baseline (:class:`jettag.trees.BDTModel`) with its ``artefact`` (``artefact.json``)."""

    model: Any
    artefact: dict[str, Any]
    directory: Path

    name = "bdt"
    data_kind = "highlevel"

    @property
    def label_names(self) -> list[str]:
        """Class names by label value (a BDT trained before multi-class support is binary)."""
        return list(self.artefact.get("label_names", BINARY_LABEL_NAMES))

    @property
    def features(self) -> list[str]:
        """The high-level features, in the order of the columns of :meth:`scores`' input."""
        return list(self.model.features)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Signal probability per jet of ``features`` ``[n_jets, n_features]``, or for a multi-class BDT
        the class probabilities ``[n_jets, n_classes]``."""
        return self.model.predict_proba(features).astype(np.float32)


def write_artefact(directory: str | Path, kind: str, content: dict[str, Any]) -> Path:
    """Write ``directory/artefact.json``: :data:`FORMAT`, ``kind``, this jettag's version and ``content``,
    whole or not at all (its presence says the training is complete). Returns its path."""
    if kind not in KINDS:
        raise ValueError(f"unknown artefact kind {kind!r}; known: {', '.join(KINDS)}")
    path = Path(directory) / "artefact.json"
    artefact = {"format": FORMAT, "kind": kind, "jettag_version": __version__, **content}
    write_text_atomically(path, json.dumps(artefact, indent=2) + "\n")
    return path


def _artefact_path(path: Path) -> Path:
    return path / "artefact.json" if path.is_dir() else path


def _read_json(path: Path) -> Any:
    if not path.is_file():
        if path.name == "artefact.json" and path.parent.is_dir():
            raise ArtefactError(f"{path.parent}: not a training directory (it has no artefact.json)")
        raise ArtefactError(f"{path}: no such file; expected a training directory or its artefact.json")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtefactError(f"{path}: not a jettag model artefact (not JSON: {err})") from None


def read_artefact(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The parsed ``artefact.json`` at ``path`` (or in the training directory ``path``), checked: the
    format's name and layout version, the jettag release series, a known ``kind`` (``kind`` when given)."""
    path = _artefact_path(Path(path))
    artefact = _read_json(path)
    if not isinstance(artefact, dict) or artefact.get("format", {}) == {}:
        raise ArtefactError(f"{path}: not a jettag model artefact (no 'format' entry)")
    fmt = artefact["format"]
    if not isinstance(fmt, dict) or fmt.get("name") != FORMAT["name"]:
        raise ArtefactError(
            f"{path}: not a jettag model artefact (format {fmt!r}, expected {FORMAT['name']!r})"
        )
    version = str(artefact.get("jettag_version", "unknown"))
    if fmt.get("version") != FORMAT["version"] or release_series(version) != release_series(__version__):
        raise ArtefactError(
            f"{path}: written by jettag {version} (artefact format {fmt.get('version')}); this is jettag "
            f"{__version__} (format {FORMAT['version']}): retrain, or apply it with jettag {version}"
        )
    if artefact.get("kind") not in KINDS:
        raise ArtefactError(f"{path}: unknown kind {artefact.get('kind')!r} (known: {', '.join(KINDS)})")
    if kind is not None and artefact["kind"] != kind:
        hint = (
            "the BDT baseline (bdt.json), not a network tagger; load it with load_bdt_tagger "
            "(jettag predict and jettag export take both; load_trained reads either)"
            if artefact["kind"] == "bdt"
            else f"not the artefact of a {kind} (its kind is {artefact['kind']!r})"
        )
        raise ArtefactError(f"{path}: {hint}")
    needs = (
        ("model", "data_kind", "n_classes", "label_names", "files")
        if artefact["kind"] == "network"
        else ("file", "features", "label_names")
    )
    missing = [key for key in needs if key not in artefact]
    if missing:
        raise ArtefactError(f"{path}: artefact lacks {', '.join(missing)}")
    return artefact


def load_tagger(path: str | Path, device: str | torch.device = "cpu") -> TrainedTagger:
    """The tagger trained into directory ``path`` (or described by the ``artefact.json`` at ``path``)."""
    artefact_path = _artefact_path(Path(path))
    artefact = read_artefact(artefact_path, "network")
    directory = artefact_path.parent
    weights = directory / artefact["files"].get("state_dict", "model.pt")
    std = artefact.get("standardisation")
    try:
        network = build_model(
            artefact["model"],
            artefact.get("n_features") or 0,
            artefact["n_classes"],
            artefact.get("image_size"),
            feature_names=artefact.get("features"),
            standardisation=None if std is None else Standardisation(std["names"], std["mean"], std["std"]),
        )
    except ValueError as err:
        raise ArtefactError(f"{artefact_path}: the network config cannot be built: {err}") from None
    if not weights.is_file():
        raise ArtefactError(f"{weights}: no such file; the weights of {artefact_path} are missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike
        raise ArtefactError(
            f"{weights}: not a weights-only state dict ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(state, dict):
        raise ArtefactError(f"{weights}: holds a {type(state).__name__}, not a state dict")
    not_tensors = sorted(str(key) for key, value in state.items() if not isinstance(value, Tensor))
    if not_tensors:
        raise ArtefactError(f"{weights}: entries {', '.join(not_tensors[:5])} are not tensors")
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ArtefactError(f"{weights}: does not fit the network of {artefact_path}: {err}") from None
    network.to(device).eval()
    return TrainedTagger(network, artefact, directory)


def load_bdt_tagger(path: str | Path) -> TrainedBDT:
    """The BDT baseline trained into directory ``path`` (or described by the ``artefact.json`` at ``path``).

    ``bdt.json`` is plain JSON evaluated in numpy (:class:`jettag.trees.BDTModel`): nothing is unpickled.
    """
    artefact_path = _artefact_path(Path(path))
    artefact = read_artefact(artefact_path, "bdt")
    trees = artefact_path.parent / str(artefact["file"])
    spec = _read_json(trees)
    try:
        model = BDTModel(spec, str(trees)) if isinstance(spec, dict) else None
    except (KeyError, TypeError, ValueError) as err:
        raise ArtefactError(f"{trees}: not a usable BDT ({type(err).__name__}: {err})") from None
    if model is None:
        raise ArtefactError(f"{trees}: not a BDT (holds a {type(spec).__name__}, not a JSON object)")
    names = artefact.get("label_names", list(BINARY_LABEL_NAMES))
    if len(names) != (2 if model.n_classes == 1 else model.n_classes):
        raise ArtefactError(
            f"{trees}: {model.n_classes} class output(s), but {artefact_path} names the classes {names}"
        )
    if list(model.features) != list(artefact.get("features", model.features)):
        raise ArtefactError(
            f"{trees}: features {list(model.features)} differ from those of {artefact_path} "
            f"({artefact['features']})"
        )
    return TrainedBDT(model, artefact, artefact_path.parent)


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> TrainedTagger | TrainedBDT:
    """Whatever was trained into directory ``path``: a network tagger or the BDT baseline."""
    artefact_path = _artefact_path(Path(path))
    if read_artefact(artefact_path)["kind"] == "bdt":
        return load_bdt_tagger(artefact_path)
    return load_tagger(artefact_path, device)
