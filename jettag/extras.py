"""Optional dependencies: which model kind needs which extra of ``pyproject.toml``, and the message when it
is missing. Torch-free, so the workflow's configuration check can ask without importing the networks."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

__all__ = ["EXTRAS", "Extra", "missing_extra"]


@dataclass(frozen=True)
class Extra:
    """An optional dependency: the module it provides, the pinned requirement (as in ``pyproject.toml``'s
    ``[project.optional-dependencies]``), the extra's name and what it brings."""

    module: str
    requirement: str
    extra: str
    provides: str


#: model kinds that need an optional dependency
EXTRAS: dict[str, Extra] = {
    "particlenet": Extra("weaver", "weaver-core==0.5.3", "reference", "ParticleNet from weaver-core"),
}


def missing_extra(kind: str) -> str | None:
    """Why model ``kind`` cannot be built here, with the install command; None when it can."""
    extra = EXTRAS.get(kind)
    if extra is None:
        return None
    try:
        found = importlib.util.find_spec(extra.module) is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        found = False
    if found:
        return None
    return (
        f"model kind '{kind}' is {extra.provides}, which is not installed: install jettag's "
        f"'{extra.extra}' extra, pip install -e '.[{extra.extra}]' in a jettag checkout "
        f"(or pip install '{extra.requirement}')"
    )
