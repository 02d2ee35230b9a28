"""A trained model's inputs, rebuilt from new jets exactly as the build stage built them for training.

:class:`InputSpec` reads what a model's artefact records about its inputs (the build settings: ordering,
``max_length``, PID features, image preprocessing; the fitted standardisation; the feature names) and
refuses an artefact that does not record enough to rebuild them. Its ``build`` methods then turn jets, as
:func:`jettag.ingest.prepare.prepare_chunk` completes them, into the model's inputs through the build
stage's own functions, so a model sees in prediction what it saw in training.

:meth:`InputSpec.describe` says the same in words, for someone who builds the inputs without jettag (the
ONNX feature spec): :data:`FEATURE_DEFINITIONS` is the one table of how every feature, constituent or
high-level, is computed from the input branches, and every export writes its entries from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import awkward as ak
import numpy as np

from jettag.artefact import ArtefactError, TrainedBDT, TrainedTagger
from jettag.features.images import jet_images

# the build stage's own constituent sequences (features, ordering, cut at max_length), so that prediction
# and training can never build them differently
from jettag.features.run import constituent_sequences
from jettag.jetclass import HIGH_LEVEL_FEATURES, ORDERINGS, PID_BRANCHES, PID_FEATURES
from jettag.settings import BuildSettings, ImageSpec
from jettag.standardisation import Standardisation

__all__ = [
    "FEATURE_DEFINITIONS",
    "IMAGE_DEFINITION",
    "ORDERING_DEFINITIONS",
    "InputSpec",
    "feature_definitions",
    "highlevel_features",
]

#: the jet radius R0 of soft drop and N-subjettiness
_JET_R = "R0 = the jet radius (ingest's and predict's jet_r, 0.8 by default)"
#: N-subjettiness as ingest takes or computes it (jettag.substructure.n_subjettiness)
_TAU = (
    "jet_tau1-3 are the file's branches when it has jet_sdmass and jet_tau1-4, else FastJet contrib's "
    f"Nsubjettiness of the constituents (normalised measure, beta = 1, one-pass kt axes, {_JET_R})"
)

#: the pairwise invariants, divided by the jet pT
_INVARIANT = "{} / max(jet_pT, 1e-6)"
#: the distance of two constituents in the jet-relative plane
_DELTA_R = "hypot(deta_i - deta_j, dphi_i - dphi_j wrapped to [-pi, pi))"

#: how each model input feature is computed from the input branches: the constituent features of the
#: sequence taggers (jettag.features.sequences) and the BDT's high-level features (jettag.ingest.prepare and
#: the build stage's highlevel.arrow), all stored as float32
FEATURE_DEFINITIONS = {
    "log_pt": "log(max(hypot(part_px, part_py), 1e-6))",
    "log_e": "log(max(part_energy, 1e-6))",
    "log_pt_rel": "log_pt - log(max(jet_pt, 1e-6))",
    "log_e_rel": "log_e - log(max(jet_energy, 1e-6))",
    "delta_r": "hypot(part_deta, part_dphi)",
    "deta": "part_deta = (part_eta - jet_eta) * sign(jet_eta)",
    "dphi": "part_dphi = part_phi - jet_phi, wrapped to [-pi, pi)",
    **PID_BRANCHES,
    "jet_mass": (
        "invariant mass (GeV) of the sum of the constituents' four-momenta (part_px, part_py, part_pz, "
        "part_energy), summed in float64; a jet_mass branch of the file is not used"
    ),
    "jet_sdmass": (
        "soft-drop mass (GeV): the file's jet_sdmass when it has jet_sdmass and jet_tau1-4, else computed "
        "from the constituents: Cambridge/Aachen reclustering (R = 10) declustered, dropping the softer "
        "branch, until min(pT1, pT2) / (pT1 + pT2) > z_cut * (delta_R12 / R0)^beta, with beta = 0, "
        f"z_cut = 0.1 and {_JET_R}; see jettag.substructure.soft_drop_mass"
    ),
    "tau21": f"jet_tau2 / jet_tau1 in float64, 0 where jet_tau1 <= 0; {_TAU}",
    "tau32": f"jet_tau3 / jet_tau2 in float64, 0 where jet_tau2 <= 0; {_TAU}",
    "jet_nparticles": "number of constituents (entries of part_px); a jet_nparticles branch is not used",
    # the Lorentz invariants of jettag.features.invariants; p_i the constituent's four-momentum
    # (part_energy, part_px, part_py, part_pz), m(.) the invariant mass, computed in float64
    "run_mass": _INVARIANT.format(
        "m(sum of p_j over the constituents up to and including i, in the sequence's order)"
    ),
    "mass_prev": _INVARIANT.format(
        "m(p_i + p_(i-1)), p_(i-1) the constituent before in the sequence; 0 for the first"
    ),
    "kt_prev": _INVARIANT.format(f"min(pT_i, pT_(i-1)) * {_DELTA_R}(i, i-1); 0 for the first"),
    "mass_harder": _INVARIANT.format(
        "m(p_i + p_h), h the constituent of higher pT (ties: earlier in the input) nearest in "
        f"{_DELTA_R}; 0 for the hardest"
    ),
    "kt_harder": _INVARIANT.format(
        f"min(pT_i, pT_h) * {_DELTA_R}(i, h), h as for mass_harder; 0 for the hardest"
    ),
    "mass_fraction": "p_i . P / max(P . P, 1e-6), P the sum of all the jet's constituents (before the cut)",
    "log_e_rest": "log(max(p_i . P / sqrt(max(P . P, 1e-6)), 1e-6)), P as for mass_fraction",
}
#: how each constituent ordering of the sequence taggers sorts a jet's constituents
ORDERING_DEFINITIONS = {
    "pt": "decreasing constituent pT; ties keep the input order",
    "delta_r": "increasing delta_r to the jet axis; ties keep the input order",
    "kt": (
        "depth-first walk of the kt reclustering tree (R = 10) of the pT-ordered constituents, the branch "
        "with the harder leading constituent first (FastJet unique_history_order); see "
        "jettag.features.sequences.order_constituents"
    ),
}
#: how the CNN's jet images are made (jettag.features.images)
IMAGE_DEFINITION = (
    "pixel intensity = summed constituent pT in (part_deta, part_dphi); steps in this order, each only if "
    "switched on: centre on the pT-weighted centroid; rotate the principal axis of the pT-weighted "
    "covariance onto the deta axis (rows); pixelate [-extent/2, extent/2) in size x size pixels, row = deta, "
    "column = dphi; flip rows, then columns, so the half with more pT sits at positive deta and dphi; "
    "normalise to unit sum. See jettag.features.images for the exact rules"
)


def feature_definitions(names: Sequence[str]) -> dict[str, str]:
    """The :data:`FEATURE_DEFINITIONS` entries of ``names``, in their order; raises :class:`ArtefactError`
    for a feature without one, so no export describes a feature it cannot tell how to compute."""
    unknown = [name for name in names if name not in FEATURE_DEFINITIONS]
    if unknown:
        raise ArtefactError(f"no definition of feature(s) {', '.join(unknown)} to write into the spec")
    return {name: FEATURE_DEFINITIONS[name] for name in names}


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
                spec = ImageSpec.from_dict({f.name: image[f.name] for f in fields(ImageSpec)})
            except (KeyError, TypeError, ValueError) as err:
                raise ArtefactError(f"{source}: unusable jet-image settings {image}: {err}") from None
            if artefact.get("image_size") != spec.size:
                raise ArtefactError(
                    f"{source}: the network reads {artefact.get('image_size')} pixels a side, the build "
                    f"settings make {spec.size}"
                )
            return cls("image", (), BuildSettings.create(image=spec))
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
        try:
            settings = BuildSettings.create(
                max_length=max_length,
                ordering=build["ordering"],
                with_pid=with_pid,
                invariants=list(build.get("invariants", [])),
            )
        except ValueError as err:
            raise ArtefactError(f"{source}: unusable build settings: {err}") from None
        return cls("sequence", names, settings, standardisation)

    @property
    def needs_pid(self) -> bool:
        return self.settings is not None and self.kind == "sequence" and self.settings.with_pid

    def sequences(self, jets: ak.Array) -> ak.Array:
        """Standardised features of each jet's constituents (jagged records), ordered and cut."""
        return self.standardisation.apply(constituent_sequences(jets, self.settings))

    def images(self, jets: ak.Array) -> np.ndarray:
        """Jet images ``[n_jets, size, size]`` float32 (pT as intensity, the trained preprocessing)."""
        pt = np.hypot(jets.part_px, jets.part_py)
        return jet_images(jets.part_deta, jets.part_dphi, pt, self.settings.image)

    def highlevel(self, jets: ak.Array) -> np.ndarray:
        return highlevel_features(jets, self.features)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: how to build the inputs by hand (for the ONNX feature spec). Features
        come with their ``definitions`` (:func:`feature_definitions`), the same for every kind of model."""
        if self.kind == "sequence":
            return {
                "features": list(self.features),
                "definitions": feature_definitions(self.features),
                "ordering": self.settings.ordering,
                "ordering_definition": ORDERING_DEFINITIONS[self.settings.ordering],
                "max_length": self.settings.max_length,
                "with_pid": self.settings.with_pid,
                "standardisation": {
                    "mean": self.standardisation.mean.tolist(),
                    "std": self.standardisation.std.tolist(),
                },
                "standardise": "x = (feature - mean) / std, per feature, in float32",
            }
        if self.kind == "image":
            image = self.settings.image
            return {
                "image": {f.name: getattr(image, f.name) for f in fields(ImageSpec)},
                "definition": IMAGE_DEFINITION,
            }
        return {
            "features": list(self.features),
            "definitions": feature_definitions(self.features),
            "standardise": "none: the features as they are, in float32",
        }
