"""Model configurations (``configs/models/*.yaml``): validate them and build the tagger they describe.

A model file holds ``name``, ``kind`` (``recurrent`` or ``cnn``) and the architecture keys of that kind,
which are the keyword arguments of :class:`RecurrentTagger` or :class:`ImageCNN` under the same names.
The defaults come from those constructors' signatures, so a file and a direct Python call agree. The data
decide the rest: the number of input features, of classes and the image size are arguments of
:func:`build_model`, never config keys.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from jettag.config import ConfigError, read_yaml
from jettag.models.cnn import ImageCNN
from jettag.models.recurrent import ACTIVATIONS, CELLS, NONLINEARITIES, READOUTS, RecurrentTagger

__all__ = ["MODEL_KINDS", "build_model", "load_model_config", "n_parameters", "validate_model_config"]

#: model kinds and the class each builds
_CLASSES: dict[str, type[nn.Module]] = {"recurrent": RecurrentTagger, "cnn": ImageCNN}
MODEL_KINDS = tuple(_CLASSES)

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
}


def _defaults(kind: str) -> dict[str, Any]:
    """Defaults of the keys of ``kind``: its class's constructor defaults (sequences as lists)."""
    parameters = inspect.signature(_CLASSES[kind]).parameters
    return {
        key: list(parameters[key].default)
        if isinstance(parameters[key].default, tuple)
        else parameters[key].default
        for key in _SCHEMAS[kind]
    }


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
    known = ["name", "kind", *schema]
    for key in spec:
        if key not in known:
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


def build_model(
    spec: dict[str, Any], n_features: int, n_classes: int, image_size: int | None = None
) -> nn.Module:
    """The tagger described by ``spec`` (a model config, validated here), for inputs with ``n_features``
    constituent features (recurrent) or images ``image_size`` pixels a side (cnn, where it is required),
    and ``n_classes`` logits (1 for a binary tagger)."""
    name = spec.get("name", "model config") if isinstance(spec, dict) else "model config"
    spec = validate_model_config(spec, source=f"model {name!r}")
    arguments = {key: spec[key] for key in _SCHEMAS[spec["kind"]]}
    if spec["kind"] == "recurrent":
        return RecurrentTagger(n_features=n_features, n_classes=n_classes, **arguments)
    if image_size is None:
        raise ValueError(f"model {name!r} is a cnn: build_model needs the image_size of the jet images")
    return ImageCNN(image_size=image_size, n_classes=n_classes, **arguments)


def n_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (with ``trainable_only``, only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
