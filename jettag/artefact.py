"""Trained network taggers read back from their training directory, safely.

A training run (:func:`jettag.train.train_model`) leaves ``artefact.json`` (the network config, features,
standardisation, build settings, label names, versions) and ``model.pt`` (the best epoch's weights as a
plain state dict) in its directory. :func:`load_tagger` reads both back and checks them:

- ``artefact.json`` must be JSON with ``format`` = :data:`FORMAT` (name and version): anything else, or an
  artefact written by another jettag release series, is refused with the file and the reason;
- ``model.pt`` is read with ``torch.load(..., weights_only=True)``, which never unpickles arbitrary objects,
  and must hold exactly the parameters of the network the config describes.

The BDT baseline is stored differently (``bdt.json``: JSON trees, :func:`jettag.train.bdt.load_bdt`, with
its own ``artefact.json``); :func:`load_bdt_tagger` reads it with the same release-series check, and
:func:`load_trained` reads either kind of training directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from jettag import __version__
from jettag.build.sequences import Standardisation
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.models.config import build_model

__all__ = [
    "FORMAT",
    "ArtefactError",
    "TrainedBDT",
    "TrainedTagger",
    "is_bdt_artefact",
    "load_bdt_tagger",
    "load_tagger",
    "load_trained",
    "release_series",
    "scores_from_logits",
]

#: identifies a network tagger's ``artefact.json``; the version changes whenever the layout does
FORMAT = {"name": "jettag-model", "version": 1}


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
    """A trained network in eval mode with its ``artefact`` (the parsed ``artefact.json``)."""

    network: nn.Module
    artefact: dict[str, Any]
    directory: Path

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

    def scores(self, batch: dict[str, Tensor]) -> np.ndarray:
        """Class probabilities of a batch as numpy (see :func:`scores_from_logits`)."""
        return scores_from_logits(self.logits(batch)).float().cpu().numpy()


@dataclass
class TrainedBDT:
    """The BDT baseline (:class:`jettag.train.bdt.BDTModel`) with its ``artefact`` (``artefact.json``)."""

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


def is_bdt_artefact(artefact: Any) -> bool:
    """Whether a parsed ``artefact.json`` is the BDT's (:func:`jettag.train.bdt.train_bdt` writes it)."""
    return isinstance(artefact, dict) and artefact.get("model") == "bdt" and "file" in artefact


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


def _check_release(path: Path, version: str, what: str) -> None:
    if release_series(version) != release_series(__version__):
        raise ArtefactError(
            f"{path}: written by jettag {version} ({what}); this is jettag {__version__}: retrain, or "
            f"apply it with jettag {version}"
        )


def _read_artefact(path: Path) -> dict[str, Any]:
    artefact = _read_json(path)
    if is_bdt_artefact(artefact):
        raise ArtefactError(
            f"{path}: the BDT baseline (bdt.json), not a network tagger; load it with load_bdt_tagger "
            "(jettag predict and jettag export take both; load_trained reads either)"
        )
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
    missing = [
        key for key in ("model", "data_kind", "n_classes", "label_names", "files") if key not in artefact
    ]
    if missing:
        raise ArtefactError(f"{path}: artefact lacks {', '.join(missing)}")
    return artefact


def load_tagger(path: str | Path, device: str | torch.device = "cpu") -> TrainedTagger:
    """The tagger trained into directory ``path`` (or described by the ``artefact.json`` at ``path``)."""
    artefact_path = _artefact_path(Path(path))
    artefact = _read_artefact(artefact_path)
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

    ``bdt.json`` is plain JSON evaluated in numpy (:class:`jettag.train.bdt.BDTModel`): nothing is unpickled.
    """
    from jettag.train.bdt import BDTModel

    artefact_path = _artefact_path(Path(path))
    artefact = _read_json(artefact_path)
    if not is_bdt_artefact(artefact):
        raise ArtefactError(f"{artefact_path}: not the artefact of a BDT (no model 'bdt' with its 'file')")
    _check_release(artefact_path, str(artefact.get("jettag_version", "unknown")), "a BDT")
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
    if is_bdt_artefact(_read_json(artefact_path)):
        return load_bdt_tagger(artefact_path)
    return load_tagger(artefact_path, device)
