"""Model configurations (``configs/models/*.yaml``): validate them and build the tagger they describe.

A model file holds ``name``, ``kind`` and the architecture keys of that kind, which are the keyword
arguments of its class under the same names: :class:`RecurrentTagger` (``recurrent``), :class:`ImageCNN`
(``cnn``), :class:`ParticleFlowNetwork` (``pfn``) and :class:`ParticleCloudTagger` (``particlenet``,
weaver-core's ParticleNet, from the ``reference`` extra). The defaults come from those constructors'
signatures, so a file and a direct Python call agree. The data decide the rest: the number of input
features, of classes, the image size, and for ParticleNet which features are its points and their
standardisation are arguments of :func:`build_model`, never config keys.

A model file may also hold ``train``: the tagger's own values of the keys of the configuration's ``train``
section that shape one network's optimisation (:data:`MODEL_TRAIN_KEYS`: learning rate, weight decay,
batch size, schedule, gradient clipping), which take the place of the configuration's for this tagger
alone (:meth:`jettag.settings.TrainSettings.for_model`); ``snakemake tune`` writes them into the
``best.yaml`` of a search that chose them.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from torch import nn

from jettag.models.cnn import ImageCNN
from jettag.models.particlenet import POINT_FEATURES, ParticleCloudTagger
from jettag.models.pfn import ParticleFlowNetwork
from jettag.models.recurrent import ACTIVATIONS, CELLS, NONLINEARITIES, READOUTS, RecurrentTagger
from jettag.schema import ConfigError, read_yaml, schema_problems

if TYPE_CHECKING:
    from jettag.standardisation import Standardisation

__all__ = [
    "MODEL_KINDS",
    "MODEL_TRAIN_KEYS",
    "build_model",
    "load_model_config",
    "n_parameters",
    "validate_model_config",
]

#: model kinds and the class each builds
_CLASSES: dict[str, type[nn.Module]] = {
    "recurrent": RecurrentTagger,
    "cnn": ImageCNN,
    "pfn": ParticleFlowNetwork,
    "particlenet": ParticleCloudTagger,
}
MODEL_KINDS = tuple(_CLASSES)
#: keys of the ``train`` section a model file may set for its tagger alone
MODEL_TRAIN_KEYS = ("lr", "weight_decay", "batch_size", "schedule", "gradient_clip_val")

#: a check returns what is wrong with a value, or None
_Check = Callable[[Any], str | None]


def _string(choices: tuple[str, ...]) -> _Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _integer(minimum: int) -> _Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return None
        return f"must be an integer >= {minimum}, got {value!r}"

    return check


def _fraction(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value < 1.0:
        return None
    return f"must be a number in [0, 1), got {value!r}"


def _sizes(non_empty: bool) -> _Check:
    def check(value: Any) -> str | None:
        if (
            isinstance(value, list)
            and (value or not non_empty)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            return None
        what = "a non-empty list" if non_empty else "a list (possibly empty)"
        return f"must be {what} of integers >= 1, got {value!r}"

    return check


def _edge_convs(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(block, list)
            and len(block) == 2
            and _integer(1)(block[0]) is None
            and _sizes(non_empty=True)(block[1]) is None
            for block in value
        )
    ):
        return None
    return f"must be a non-empty list of [k, [channels, ...]] (integers >= 1), got {value!r}"


def _dense_layers(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(layer, list)
            and len(layer) == 2
            and _integer(1)(layer[0]) is None
            and _fraction(layer[1]) is None
            for layer in value
        )
    ):
        return None
    return f"must be a non-empty list of [size, dropout] (size >= 1, dropout in [0, 1)), got {value!r}"


#: the architecture keys of each kind; each is a keyword argument of the kind's class
_SCHEMAS: dict[str, dict[str, _Check]] = {
    "recurrent": {
        "cell": _string(CELLS),
        "nonlinearity": _string(NONLINEARITIES),
        "identity_init": _flag,
        "embed_dim": _integer(0),
        "hidden_size": _integer(1),
        "num_layers": _integer(1),
        "residual": _flag,
        "bidirectional": _flag,
        "dropout": _fraction,
        "readout": _string(READOUTS),
        "reverse": _flag,
        "head_sizes": _sizes(non_empty=False),
        "activation": _string(tuple(ACTIVATIONS)),
    },
    "cnn": {
        "channels": _sizes(non_empty=True),
        "kernel_size": _integer(1),
        "batch_norm": _flag,
        "head_sizes": _sizes(non_empty=False),
        "dropout": _fraction,
    },
    "pfn": {
        "phi_sizes": _sizes(non_empty=True),
        "f_sizes": _sizes(non_empty=False),
        "activation": _string(tuple(ACTIVATIONS)),
        "dropout": _fraction,
    },
    "particlenet": {
        "conv_params": _edge_convs,
        "fc_params": _dense_layers,
        "use_fusion": _flag,
        "use_fts_bn": _flag,
        "use_counts": _flag,
    },
}


def _plain(value: Any) -> Any:
    """A constructor default as it reads in YAML: tuples (also nested) as lists."""
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


def _defaults(kind: str) -> dict[str, Any]:
    """Defaults of the keys of ``kind``: its class's constructor defaults (sequences as lists)."""
    parameters = inspect.signature(_CLASSES[kind]).parameters
    return {key: _plain(parameters[key].default) for key in _SCHEMAS[kind]}


def _problems(spec: dict[str, Any]) -> list[str]:
    problems = []
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"model config key 'name' must be a non-empty string, got {name!r}")
    kind = spec.get("kind")
    if kind not in _SCHEMAS:
        problems.append(f"model config key 'kind' must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
        return problems
    schema = _SCHEMAS[kind]
    known = ["name", "kind", *schema, "train"]
    for key in spec:
        if key == "train":
            problems.extend(_train_problems(spec[key]))
        elif key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(
                f"model config key '{key}' is not known for kind '{kind}'{suggestion} "
                f"(known: {', '.join(known)})"
            )
        elif key in schema and (problem := schema[key](spec[key])) is not None:
            problems.append(f"model config key '{key}' {problem}")
    if kind == "recurrent" and not problems:
        cell = spec.get("cell", _defaults(kind)["cell"])
        if spec.get("identity_init") and cell != "rnn":
            problems.append(f"model config key 'identity_init' applies to cell 'rnn' only, not to {cell!r}")
        if spec.get("nonlinearity", "tanh") != "tanh" and cell != "rnn":
            problems.append(f"model config key 'nonlinearity' applies to cell 'rnn' only, not to {cell!r}")
    return problems


def _train_problems(train: Any) -> list[str]:
    """What is wrong with a model file's ``train`` mapping: keys outside :data:`MODEL_TRAIN_KEYS`, values
    the configuration schema refuses."""
    if not isinstance(train, dict):
        return [f"model config key 'train' must be a mapping of train keys, got {train!r}"]
    problems = [
        f"model config key 'train.{key}' cannot be set per model (the keys a model file may set: "
        f"{', '.join(MODEL_TRAIN_KEYS)}; the others belong to the configuration's train section)"
        for key in train
        if key not in MODEL_TRAIN_KEYS
    ]
    if not problems:
        _, refused = schema_problems({"train": dict(train)})
        problems = [f"model config key 'train': {problem}" for problem in refused]
    return problems


def validate_model_config(spec: dict[str, Any], source: str | Path = "model config") -> dict[str, Any]:
    """Check ``spec`` and return a copy with every default filled in.

    Raises :class:`jettag.config.ConfigError` (a ``ValueError``) naming ``source`` and listing each problem
    with its key; an unknown key comes with the closest known one.
    """
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{source}: a model configuration must be a mapping of keys, got {type(spec).__name__}"
        )
    problems = _problems(spec)
    if problems:
        raise ConfigError(f"{source}: invalid model configuration\n  - " + "\n  - ".join(problems))
    return _defaults(spec["kind"]) | spec


def load_model_config(path: str | Path) -> dict[str, Any]:
    """Read a model YAML file and validate it (see :func:`validate_model_config`)."""
    return validate_model_config(read_yaml(path, "model configuration"), source=path)


class _Points(TypedDict):
    """ParticleNet's point columns of ``x`` and their standardisation (mean, standard deviation)."""

    point_index: list[int]
    point_mean: list[float]
    point_std: list[float]


def _points(
    name: str, feature_names: Sequence[str] | None, standardisation: Standardisation | None
) -> _Points:
    """ParticleNet's point columns and their standardisation, from the data's features."""
    if feature_names is None or standardisation is None:
        raise ValueError(
            f"model {name!r} is a particlenet: build_model needs the feature names and the standardisation "
            f"of the build stage, to take its points ({', '.join(POINT_FEATURES)}) in physical units"
        )
    features, fitted = list(feature_names), list(standardisation.names)
    missing = [point for point in POINT_FEATURES if point not in features or point not in fitted]
    if missing:
        raise ValueError(
            f"model {name!r} is a particlenet: its points need the features {', '.join(missing)}, which the "
            f"inputs lack (features: {features}; standardised: {fitted})"
        )
    return {
        "point_index": [features.index(point) for point in POINT_FEATURES],
        "point_mean": [float(standardisation.mean[fitted.index(point)]) for point in POINT_FEATURES],
        "point_std": [float(standardisation.std[fitted.index(point)]) for point in POINT_FEATURES],
    }


def build_model(
    spec: dict[str, Any],
    n_features: int,
    n_classes: int,
    image_size: int | None = None,
    feature_names: Sequence[str] | None = None,
    standardisation: Standardisation | None = None,
) -> nn.Module:
    """The tagger described by ``spec`` (a model config, validated here), for inputs with ``n_features``
    constituent features (recurrent, pfn, particlenet) or images ``image_size`` pixels a side (cnn, where
    it is required), and ``n_classes`` logits (1 for a binary tagger). A particlenet also needs the
    ``feature_names`` in column order and the build stage's ``standardisation``, from which it takes its
    points (:data:`jettag.models.particlenet.POINT_FEATURES` in physical units)."""
    name = spec.get("name", "model config") if isinstance(spec, dict) else "model config"
    spec = validate_model_config(spec, source=f"model {name!r}")
    kind = spec["kind"]
    arguments = {key: spec[key] for key in _SCHEMAS[kind]}
    if kind == "recurrent":
        return RecurrentTagger(n_features=n_features, n_classes=n_classes, **arguments)
    if kind == "pfn":
        return ParticleFlowNetwork(n_features=n_features, n_classes=n_classes, **arguments)
    if kind == "particlenet":
        points = _points(name, feature_names, standardisation)
        return ParticleCloudTagger(n_features=n_features, n_classes=n_classes, **arguments, **points)
    if image_size is None:
        raise ValueError(f"model {name!r} is a cnn: build_model needs the image_size of the jet images")
    return ImageCNN(image_size=image_size, n_classes=n_classes, **arguments)


def n_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (with ``trainable_only``, only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
