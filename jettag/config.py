"""Load and validate the workflow configuration against its JSON schema.

The schema (``jettag/schemas/config.schema.yaml``, linked from ``workflow/schemas/``) lists every key;
validation happens before any rule runs and every message names the offending key.
"""

from __future__ import annotations

import copy
import difflib
import glob
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from jettag.extras import missing_extra
from jettag.jetclass import PROCESS_LABELS, all_branches

__all__ = ["ConfigError", "coerce", "load_config", "read_yaml", "schema", "validate_config"]


class ConfigError(ValueError):
    """A configuration that jettag refuses, with every problem found listed."""


def schema() -> dict[str, Any]:
    """The JSON schema of the workflow configuration."""
    text = resources.files("jettag").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_at(root: dict[str, Any], path: list[Any]) -> dict[str, Any]:
    node = root
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _describe(error: jsonschema.ValidationError, root: dict[str, Any]) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(_schema_at(root, path).get("properties", {}))
        messages = []
        for name in sorted(set(error.instance) - set(known)):
            hint = difflib.get_close_matches(name, known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            messages.append(
                f"config key '{_key([*path, name])}' is not known{suggestion} (known: {', '.join(known)})"
            )
        return messages
    if error.validator == "type" and isinstance(error.instance, str):
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [
            f"config key '{_key(path)}': got the text {error.instance!r}, expected {expected} "
            "(values given on the command line are text, converted where the schema's type is clear)"
        ]
    return [f"config key '{_key(path)}': {error.message}"]


_INTEGER = re.compile(r"^[+-]?\d+$")
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_NULLS = {"null", "~", "none"}


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _from_text(text: str, types: list[str]) -> Any:
    """``text`` as the first of the schema's ``types`` it reads as unambiguously, else ``text`` itself.

    A command-line override of a nested key (``--config train="{max_epochs: 5}"``) reaches the workflow as
    text; so does a YAML ``1e-3`` (YAML 1.1 wants a dot). Integers, then numbers, then booleans, then null
    are tried, in that order, only where the schema allows them: ``"5"`` for ``devices`` (a string or a
    count) is the count 5, as Snakemake reads a top-level ``--config`` value."""
    word = text.strip()
    if "integer" in types and _INTEGER.match(word):
        return int(word)
    if "number" in types:
        try:
            value = float(word)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return int(value) if _INTEGER.match(word) else value
    if "boolean" in types and word.lower() in _BOOLEANS:
        return _BOOLEANS[word.lower()]
    if "null" in types and word.lower() in _NULLS:
        return None
    return text


def coerce(value: Any, node: dict[str, Any]) -> Any:
    """``value`` with its text converted to the types the schema ``node`` asks for, where that is clear
    (:func:`_from_text`); a single text where the schema wants a list becomes a list of one. What cannot
    be converted is left for the schema check to report."""
    types = _types(node)
    if isinstance(value, dict) and "object" in types:
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        return {
            key: coerce(item, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, item in value.items()
        }
    if isinstance(value, list) and "array" in types:
        return [coerce(item, node.get("items", {})) for item in value]
    if isinstance(value, str) and "string" not in types:
        if "array" in types and not value.strip().startswith("["):
            return [coerce(value, node.get("items", {}))]
        return _from_text(value, types)
    if isinstance(value, str) and "string" in types and set(types) & {"integer", "number"}:
        converted = _from_text(value, [t for t in types if t in ("integer", "number")])
        return value if isinstance(converted, str) else converted
    return value


def _fill_defaults(instance: dict[str, Any], node: dict[str, Any]) -> None:
    for name, sub in node.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(name), dict) and sub.get("type") == "object":
            _fill_defaults(instance[name], sub)


def _semantic_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    gen = config["generate"]
    if gen["pt_min"] >= gen["pt_max"]:
        problems.append(
            f"config key 'generate.pt_min': {gen['pt_min']} must be below generate.pt_max ({gen['pt_max']})"
        )
    pthat_min = gen["pthat_min"] if gen["pthat_min"] is not None else 0.9 * gen["pt_min"]
    pthat_max = gen["pthat_max"] if gen["pthat_max"] is not None else 1.1 * gen["pt_max"]
    if pthat_min >= pthat_max:
        problems.append(
            f"config key 'generate.pthat_min': {pthat_min} must be below generate.pthat_max ({pthat_max})"
        )
    if not config["inputs"] and gen["detector"] != "none":
        from jettag.detector import CardError, load_card

        try:
            load_card(gen["detector"])
        except CardError as err:
            problems.append(f"config key 'generate.detector': {err}")
    fractions = config["ingest"]["splits"]
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        problems.append(
            f"config key 'ingest.splits': fractions {fractions} add up to {sum(fractions.values())}, not 1"
        )
    problems += _split_by_file_problems(config)
    lo, hi = config["ingest"]["pt_min"], config["ingest"]["pt_max"]
    if lo is not None and hi is not None and lo >= hi:
        problems.append(f"config key 'ingest.pt_min': {lo} must be below ingest.pt_max ({hi})")
    labels = [*config["signal"], *config["background"]]
    unknown = sorted(set(config["ingest"]["branch_map"]) - set(all_branches()) - set(labels))
    if unknown:
        problems.append(
            f"config key 'ingest.branch_map': {', '.join(unknown)} are neither JetClass branches nor labels "
            "of 'signal' or 'background'"
        )
    problems += _model_problems(config["train"])
    if not config["inputs"]:
        for role in ("signal", "background"):
            for label in config[role]:
                if label not in PROCESS_LABELS.values():
                    problems.append(
                        f"config key '{role}': '{label}' cannot be generated (jettag generates "
                        f"{', '.join(PROCESS_LABELS.values())}); give your files in 'inputs'"
                    )
    else:
        problems += _label_problems(config)
    overlap = sorted(set(config["signal"]) & set(config["background"]))
    if overlap:
        problems.append(
            f"config keys 'signal' and 'background' share {', '.join(overlap)}: a label belongs to one class"
        )
    if config["multiclass"] and len(config["signal"]) < 2:
        problems.append(
            f"config key 'multiclass': true needs at least two labels in 'signal' (got {config['signal']}); "
            "one signal label against the background is the binary tagger: set multiclass: false"
        )
    return problems + _predict_problems(config)


def _label_problems(config: dict[str, Any]) -> list[str]:
    """The labels of ``signal`` and ``background`` are branches of the inputs: checked on the first file of
    each ``inputs`` pattern (a typo shows there, and a run over thousands of files is not held up)."""
    from jettag.ingest.readers import label_problems

    problems = []
    for pattern in config["inputs"]:
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))  # noqa: PTH207
        if matches:
            problem = label_problems(
                matches[0],
                [*config["signal"], *config["background"]],
                config["ingest"]["branch_map"],
                config["ingest"]["tree"],
            )
            if problem:
                problems.append(f"config keys 'signal'/'background': {problem}")
    return problems


def _model_problems(train: dict[str, Any]) -> list[str]:
    """Every network of ``train.models`` has its model file, and what its kind needs is installed."""
    problems = []
    for name in train["models"]:
        path = Path(train["model_dir"]) / f"{name}.yaml"
        if name == "bdt":
            continue
        if not path.is_file():
            problems.append(f"config key 'train.models': no model file {path}")
            continue
        try:
            spec = read_yaml(path, "model configuration")
        except ConfigError as err:
            problems.append(f"config key 'train.models': {err}")
            continue
        missing = missing_extra(spec.get("kind")) if isinstance(spec, dict) else None
        if missing is not None:
            problems.append(f"config key 'train.models': '{name}' ({path}): {missing}")
    return problems


def _split_by_file_problems(config: dict[str, Any]) -> list[str]:
    """With ``ingest.split_by: file`` each input file's name must say its split, and each split needs one."""
    if config["ingest"]["split_by"] != "file":
        return []
    if not config["inputs"]:
        return ["config key 'ingest.split_by': file needs `inputs` (generated shards are split by hash)"]
    from jettag.ingest.split import SPLITS, split_of_file

    problems, seen = [], set()
    for pattern in config["inputs"]:
        # the workflow expands `inputs` the same way (absolute globs, which Path.glob does not take)
        for path in sorted(glob.glob(str(Path(pattern).expanduser()))):  # noqa: PTH207
            try:
                seen.add(split_of_file(path))
            except ValueError as err:
                problems.append(f"config key 'ingest.split_by': {err}")
    missing = [s for s in SPLITS if s not in seen]
    if seen and missing:
        problems.append(
            f"config key 'ingest.split_by': file, but no input file's name says {' or '.join(missing)}"
        )
    return problems


def _predict_problems(config: dict[str, Any]) -> list[str]:
    """The taggers ``predict.models`` names must be ones this configuration trains, and a prediction needs
    both files and taggers."""
    predict, train = config["predict"], config["train"]
    problems = []
    for item in predict["models"]:
        name, _, seed = item.partition("/seed")
        if name not in train["models"]:
            problems.append(
                f"config key 'predict.models': '{item}' is not a trained model "
                f"(train.models: {', '.join(train['models'])})"
            )
        elif seed and int(seed) not in train["seeds"]:
            problems.append(
                f"config key 'predict.models': '{item}' asks for seed {int(seed)}, which is not trained "
                f"(train.seeds: {', '.join(map(str, train['seeds']))})"
            )
    if predict["models"] and not predict["inputs"]:
        problems.append("config key 'predict.inputs' is empty: list the files predict.models should score")
    if predict["inputs"] and not predict["models"]:
        problems.append("config key 'predict.models' is empty: name the trained taggers for predict.inputs")
    return problems


def validate_config(config: dict[str, Any], source: str | Path = "config") -> dict[str, Any]:
    """Validate ``config`` and return a copy with every default filled in.

    Raises :class:`ConfigError` listing each problem with the key it concerns.
    """
    if not isinstance(config, dict):
        raise ConfigError(
            f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}"
        )
    root = schema()
    config = coerce(config, root)
    validator = jsonschema.Draft202012Validator(root)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_describe(error, root))
    if not problems:
        config = copy.deepcopy(config)
        _fill_defaults(config, root)
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n  - " + "\n  - ".join(problems))
    return config


def read_yaml(path: str | Path, what: str = "configuration") -> Any:
    """The content of a YAML file (an empty file reads as ``{}``), with a :class:`ConfigError` naming the
    file when it is missing or not YAML."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return raw if raw is not None else {}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML configuration file and validate it."""
    return validate_config(read_yaml(path), source=path)
