"""A trained model's inputs, rebuilt from new jets exactly as the build stage built them for training.

:class:`InputSpec` reads what a model's artefact records about its inputs (the build settings: ordering,
``max_length``, PID features, image preprocessing; the fitted standardisation; the feature names) and
refuses an artefact that does not record enough to rebuild them. Its ``build`` methods then turn jets, as
:func:`jettag.ingest.prepare.prepare_chunk` completes them, into the model's inputs through the build
stage's own functions, so a model sees in prediction what it saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import awkward as ak
import numpy as np

from jettag.artefact import ArtefactError, TrainedBDT, TrainedTagger
from jettag.build.images import ImageSpec, jet_images

# the build stage's own constituent sequences (features, ordering, cut at max_length), so that prediction
# and training can never build them differently
from jettag.build.run import HIGH_LEVEL_FEATURES, BuildSettings, _sequences
from jettag.build.sequences import ORDERINGS, PID_FEATURES, Standardisation

__all__ = ["InputSpec", "highlevel_features"]


def highlevel_features(jets: ak.Array, names: Sequence[str] = HIGH_LEVEL_FEATURES) -> np.ndarray:
    """The BDT's features ``[n_jets, len(names)]`` (float64) as the build stage writes ``highlevel.arrow``:
    ``tau21 = tau2 / tau1`` and ``tau32 = tau3 / tau2``, 0 where the denominator is 0."""
    tau1, tau2, tau3 = (ak.to_numpy(jets[f"jet_tau{k}"]).astype(np.float64) for k in (1, 2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = {
            "tau21": np.where(tau1 > 0, tau2 / tau1, 0.0),
            "tau32": np.where(tau2 > 0, tau3 / tau2, 0.0),
        }
    columns = []
    for name in names:
        values = derived[name] if name in derived else ak.to_numpy(jets[name])
        # the build stage stores every high-level feature as float32, and the BDT was trained on those
        columns.append(np.asarray(values, dtype=np.float32).astype(np.float64))
    return np.stack(columns, axis=1) if columns else np.empty((len(jets), 0))


@dataclass(frozen=True)
class InputSpec:
    """What a trained model reads and how to build it: ``kind`` is ``"sequence"`` (standardised constituent
    features in ``features`` order), ``"image"`` (jet images) or ``"highlevel"`` (the BDT's features)."""

    kind: str
    features: tuple[str, ...]
    settings: BuildSettings | None = None
    standardisation: Standardisation | None = None

    @classmethod
    def of(cls, model: TrainedTagger | TrainedBDT) -> InputSpec:
        """The inputs of ``model``; raises :class:`ArtefactError` when its artefact cannot tell them."""
        if isinstance(model, TrainedBDT):
            return cls("highlevel", tuple(model.features))
        return cls.from_artefact(model.artefact, str(model.directory / "artefact.json"))

    @classmethod
    def from_artefact(cls, artefact: dict[str, Any], source: str) -> InputSpec:
        kind = artefact.get("data_kind")
        build = artefact.get("build")
        if kind not in ("sequence", "image"):
            raise ArtefactError(f"{source}: unknown data_kind {kind!r} (expected sequence or image)")
        if not isinstance(build, dict):
            raise ArtefactError(
                f"{source}: records no build settings ('build'), so the model's inputs cannot be rebuilt; "
                "train it with the build stage's settings (jettag train does)"
            )
        if kind == "image":
            image = build.get("image")
            if not isinstance(image, dict):
                raise ArtefactError(f"{source}: records no jet-image settings ('build.image')")
            try:
                spec = ImageSpec(**{f.name: image[f.name] for f in fields(ImageSpec)})
            except (KeyError, TypeError, ValueError) as err:
                raise ArtefactError(f"{source}: unusable jet-image settings {image}: {err}") from None
            if artefact.get("image_size") != spec.size:
                raise ArtefactError(
                    f"{source}: the network reads {artefact.get('image_size')} pixels a side, the build "
                    f"settings make {spec.size}"
                )
            return cls("image", (), BuildSettings(image=spec))
        return cls._sequence(artefact, build, source)

    @classmethod
    def _sequence(cls, artefact: dict[str, Any], build: dict[str, Any], source: str) -> InputSpec:
        missing = [key for key in ("ordering", "max_length") if key not in build]
        if missing:
            raise ArtefactError(f"{source}: build settings lack {', '.join(missing)}")
        if build["ordering"] not in ORDERINGS:
            raise ArtefactError(f"{source}: unknown constituent ordering {build['ordering']!r}")
        max_length = build["max_length"]
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ArtefactError(f"{source}: max_length must be a positive integer, got {max_length!r}")
        std = artefact.get("standardisation")
        if not isinstance(std, dict):
            raise ArtefactError(
                f"{source}: records no standardisation, so the inputs cannot be built as in training"
            )
        try:
            standardisation = Standardisation(std["names"], std["mean"], std["std"])
        except (KeyError, TypeError, ValueError) as err:
            raise ArtefactError(f"{source}: unusable standardisation ({type(err).__name__}: {err})") from None
        names = tuple(artefact.get("features") or ())
        if names != tuple(standardisation.names) or len(names) != artefact.get("n_features"):
            raise ArtefactError(
                f"{source}: features {list(names)}, standardisation {standardisation.names} and n_features "
                f"{artefact.get('n_features')} disagree"
            )
        # jettag train records with_pid; where it is absent the feature names tell
        with_pid = bool(build.get("with_pid", any(name in PID_FEATURES for name in names)))
        settings = BuildSettings(max_length=max_length, ordering=build["ordering"], with_pid=with_pid)
        return cls("sequence", names, settings, standardisation)

    @property
    def needs_pid(self) -> bool:
        return self.settings is not None and self.kind == "sequence" and self.settings.with_pid

    def sequences(self, jets: ak.Array) -> ak.Array:
        """Standardised features of each jet's constituents (jagged records), ordered and cut."""
        return self.standardisation.apply(_sequences(jets, self.settings))

    def images(self, jets: ak.Array) -> np.ndarray:
        """Jet images ``[n_jets, size, size]`` float32 (pT as intensity, the trained preprocessing)."""
        pt = np.hypot(jets.part_px, jets.part_py)
        return jet_images(jets.part_deta, jets.part_dphi, pt, self.settings.image)

    def highlevel(self, jets: ak.Array) -> np.ndarray:
        return highlevel_features(jets, self.features)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: how to build the inputs by hand (for the ONNX feature spec)."""
        if self.kind == "sequence":
            return {
                "features": list(self.features),
                "ordering": self.settings.ordering,
                "max_length": self.settings.max_length,
                "with_pid": self.settings.with_pid,
                "standardisation": {
                    "mean": self.standardisation.mean.tolist(),
                    "std": self.standardisation.std.tolist(),
                },
            }
        if self.kind == "image":
            image = self.settings.image
            return {"image": {f.name: getattr(image, f.name) for f in fields(ImageSpec)}}
        return {"features": list(self.features)}
