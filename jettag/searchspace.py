"""The search space of ``jettag tune``, declared in the configuration (``tune.space``) rather than in code.

Each entry sets one key of one section, ``model`` (the model file's keys), ``build`` or ``train`` (the
workflow configuration's sections; a dotted key reaches a nested one, ``image.size``) or ``bdt`` (the
BDT's ``HistGradientBoostingClassifier`` arguments), and draws its value from ``choices``, an
``int: [low, high]`` or a ``float: [low, high]`` range (``log: true`` for a log scale, ``step`` for a grid)::

    - {section: model, key: hidden_size, int: [16, 128], log: true}
    - {section: build, key: invariants, choices: [[], [running_mass]]}
    - {section: train, key: lr, float: [1.0e-4, 1.0e-2], log: true}

:func:`space_problems` finds what is wrong with entries as far as the configuration's schema can tell
(the shape of each entry, a ``build`` or ``train`` key that does not exist or a value the schema refuses);
the keys of a model file and of the BDT are checked against the tagger when its search starts. Every
message names the entry (``tune.space.recurrent[3]``) and the key it sets.

Optuna keeps categorical choices as numbers, text, booleans or null: choices that are lists (a set of
invariant groups, a CNN's channels) are kept in the study as their JSON text and read back here
(:meth:`Param.decode`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import jsonschema

from jettag.schema import ConfigError, schema

__all__ = [
    "SECTIONS",
    "Param",
    "Trial",
    "parse_entries",
    "set_key",
    "space_problems",
]

#: what an entry can set: a model file's key, a configuration section's key, or a BDT argument
SECTIONS = ("model", "build", "train", "bdt")

#: ``train`` keys that say which trainings run, not how one trains: nothing for a search to set
_NOT_TUNABLE = {"train": ("models", "seeds", "model_dir"), "model": ("name", "kind")}


class Trial(Protocol):
    """What a :class:`Param` asks of an Optuna trial (``optuna.trial.Trial``)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


@dataclasses.dataclass(frozen=True)
class Param:
    """One entry of the space: ``section``'s ``key`` (a dotted path) drawn from ``choices`` or from
    ``[low, high]`` (``kind`` ``"int"`` or ``"float"``); ``where`` names the entry in messages."""

    name: str
    section: str
    key: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    where: str = ""

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    @property
    def encoded(self) -> bool:
        """Whether the study keeps the choices as JSON text (some are lists or mappings)."""
        return any(isinstance(choice, list | dict) for choice in self.choices)

    def encode(self, value: Any) -> Any:
        """``value`` as the study keeps it."""
        return json.dumps(value, sort_keys=True) if self.kind == "choices" and self.encoded else value

    def decode(self, value: Any) -> Any:
        """The value the study keeps, as the key takes it."""
        return json.loads(value) if self.kind == "choices" and self.encoded else value

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the space (a baseline trial is enqueued only with such values)."""
        if self.kind == "choices":
            return self.encode(value) in [self.encode(choice) for choice in self.choices]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None:
            return math.isclose((value - self.low) / self.step, round((value - self.low) / self.step))
        return True

    def suggest(self, trial: Trial) -> Any:
        """Draw this entry's value in ``trial``."""
        if self.kind == "choices":
            return self.decode(trial.suggest_categorical(self.name, [self.encode(c) for c in self.choices]))
        if self.kind == "int":
            step = 1 if self.step is None else int(self.step)
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def bounds(self) -> list[Any]:
        """The values whose validity stands for the entry's: every choice, or both ends of the range."""
        if self.kind == "choices":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


def set_key(mapping: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``mapping`` with the dotted ``key`` set to ``value`` (missing levels are made)."""
    result = copy.deepcopy(dict(mapping))
    node = result
    *parents, last = key.split(".")
    for part in parents:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, Mapping) else {}
        node = node[part]
    node[last] = copy.deepcopy(value)
    return result


def _entry_problems(entry: Mapping[str, Any], where: str) -> tuple[list[str], Param | None]:
    """What is wrong with one entry's own shape, and the entry as a :class:`Param` when nothing is."""
    section, key = entry.get("section"), entry.get("key")
    label = f"'{where}' ({section}.{key})"
    if section not in SECTIONS:
        return [f"{label}: section must be one of {', '.join(SECTIONS)}, got {section!r}"], None
    if not isinstance(key, str) or not key:
        return [f"'{where}': key must be a non-empty text, got {key!r}"], None
    if key.split(".")[0] in _NOT_TUNABLE.get(section, ()):
        return [f"{label}: {section}.{key} says which trainings run, not how; it cannot be searched"], None
    kinds = [kind for kind in ("choices", "int", "float") if kind in entry]
    if len(kinds) != 1:
        return [
            f"{label}: give exactly one of choices, int: [low, high] or float: [low, high]"
            + (f" (got {', '.join(kinds)})" if kinds else "")
        ], None
    kind = kinds[0]
    log, step = bool(entry.get("log", False)), entry.get("step")
    name = entry.get("name", f"{section}.{key}")
    if kind == "choices":
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            return [f"{label}: choices must be a non-empty list, got {choices!r}"], None
        if log or step is not None:
            return [f"{label}: log and step apply to int and float ranges, not to choices"], None
        texts = [json.dumps(choice, sort_keys=True) for choice in choices]
        if len(set(texts)) != len(texts):
            return [f"{label}: choices {choices!r} repeat a value"], None
        return [], Param(name, section, key, kind, choices=tuple(choices), where=where)
    bounds = entry[kind]
    number = int if kind == "int" else (int, float)
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or any(isinstance(b, bool) or not isinstance(b, number) for b in bounds)
    ):
        return [f"{label}: {kind} must be [low, high] of {kind}s, got {bounds!r}"], None
    low, high = bounds
    problems = []
    if not low < high:
        problems.append(f"{label}: {kind} range [{low}, {high}]: low must be below high")
    if log and low <= 0:
        problems.append(f"{label}: a log scale needs low > 0, got [{low}, {high}]")
    if log and step is not None:
        problems.append(f"{label}: step and log cannot be combined")
    if step is not None and kind == "int" and (isinstance(step, bool) or not isinstance(step, int)):
        problems.append(f"{label}: the step of an int range must be an integer, got {step!r}")
    if problems:
        return problems, None
    return [], Param(name, section, key, kind, low=low, high=high, log=log, step=step, where=where)


def _schema_value_problems(param: Param, root: Mapping[str, Any]) -> list[str]:
    """For ``build`` and ``train`` entries: the key exists in the schema ``root`` and takes every bound of
    the entry (both ends of a range, every choice)."""
    if param.section not in ("build", "train"):
        return []
    label = f"'{param.where}' ({param.section}.{param.key})"
    node: Mapping[str, Any] = root["properties"][param.section]
    for depth, part in enumerate(param.path):
        known = node.get("properties", {})
        if part not in known:
            key = ".".join((param.section, *param.path[: depth + 1]))
            hint = difflib.get_close_matches(part, sorted(known), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            return [
                f"{label}: config key '{key}' is not known{suggestion} (known: {', '.join(sorted(known))})"
            ]
        node = known[part]
    validator = jsonschema.Draft202012Validator(dict(node))
    for value in param.bounds():
        errors = sorted(validator.iter_errors(value), key=lambda error: list(map(str, error.absolute_path)))
        if errors:
            return [f"{label} = {value!r}: {errors[0].message}"]
    return []


def parse_entries(
    entries: Sequence[Mapping[str, Any]], where: str, root: Mapping[str, Any] | None = None
) -> list[Param]:
    """The entries of one space (``where``, e.g. ``tune.space.recurrent``) as parameters, checked against
    the configuration's schema (``root``, read when not given); a :class:`ConfigError` lists every
    problem, each naming its entry and key."""
    root = schema() if root is None else root
    params, problems = [], []
    for i, entry in enumerate(entries):
        found, param = _entry_problems(entry, f"{where}[{i}]")
        problems += found
        if param is not None:
            params.append(param)
            problems += _schema_value_problems(param, root)
    names = [param.name for param in params]
    problems += [f"'{where}': the name {name!r} is given to more than one entry" for name in sorted(
        {name for name in names if names.count(name) > 1})]  # fmt: skip
    keys = [(param.section, param.key) for param in params]
    problems += [f"'{where}': {section}.{key} is set by more than one entry" for section, key in sorted(
        {key for key in keys if keys.count(key) > 1})]  # fmt: skip
    if problems:
        raise ConfigError("invalid search space\n  - " + "\n  - ".join(problems))
    return params


def space_problems(space: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """What is wrong with every space of ``tune.space``, as one message per problem."""
    problems = []
    root = schema()
    for group, entries in space.items():
        try:
            parse_entries(entries, f"tune.space.{group}", root)
        except ConfigError as err:
            problems += [line.strip(" -") for line in str(err).splitlines()[1:]]
    return problems
