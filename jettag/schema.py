"""The workflow configuration's JSON schema, and checking a configuration against it.

The schema (``jettag/schemas/config.schema.yaml``, linked from ``workflow/schemas/``) lists every key with
its type, range and default: the one place a default is written. :func:`validate_schema` checks a
configuration, or any part of one, against it and fills in the defaults; every message names the key.
The checks that need more than the schema (files that must exist, labels that must be in them) are the
workflow's, in :func:`jettag.config.validate_config`.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["ConfigError", "coerce", "read_yaml", "schema", "validate_schema"]


class ConfigError(ValueError):
    """A configuration that jettag refuses, with every problem found listed."""


def schema() -> dict[str, Any]:
    """The JSON schema of the workflow configuration."""
    text = resources.files("jettag").joinpath("schemas/config.schema.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


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
        instance: Any = error.instance
        for name in sorted(set(instance) - set(known)):
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


def schema_problems(config: Any) -> tuple[dict[str, Any], list[str]]:
    """``(config with text converted and defaults filled in, problems)`` against the schema."""
    root = schema()
    config = coerce(config, root)
    validator = jsonschema.Draft202012Validator(root)
    problems: list[str] = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_describe(error, root))
    if not problems:
        config = copy.deepcopy(config)
        _fill_defaults(config, root)
    return config, problems


def validate_schema(config: Any, source: str | Path = "config") -> dict[str, Any]:
    """``config`` (all of a configuration or part of it) checked against the schema, as a copy with every
    default filled in; a :class:`ConfigError` lists each problem with its key."""
    if not isinstance(config, dict):
        raise ConfigError(
            f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}"
        )
    checked, problems = schema_problems(config)
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n  - " + "\n  - ".join(problems))
    return checked


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
