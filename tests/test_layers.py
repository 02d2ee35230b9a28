"""The package's layering: the stages in their order (``jettag.jetclass.STAGES``, written once), below them
the library every stage shares, above them the workflow's entry points. A module imports its own layer,
the layers below it and the stages before its own, never a later stage: so ``train`` cannot reach into
``evaluate``, and ``jettag.artefact`` (read by train, evaluate, predict and export alike) into none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jettag.jetclass import STAGES

PACKAGE = Path(__file__).resolve().parents[1] / "jettag"

#: the package of each stage where it is not named after the stage (a directory called build/ is one that
#: packaging templates and tools take for generated output)
STAGE_PACKAGES = {stage: "features" if stage == "build" else stage for stage in STAGES}

#: the workflow's entry points, above every stage: they may import anything
TOP = {"cli", "__main__", "config"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every ``jettag`` module ``path`` imports, at module level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name == "jettag" or name.startswith("jettag.")}


def rank(module: str) -> float:
    """Where ``module`` stands: -1 the shared library, 0.. the stages in order, infinity the entry points."""
    first = module.split(".")[1] if "." in module else ""
    if first in TOP:
        return float("inf")
    for i, stage in enumerate(STAGES):
        if first == STAGE_PACKAGES[stage]:
            return float(i)
    return -1.0


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for name in sorted(imported(path)):
            if rank(name) > rank(module):
                found.append(f"{module} imports {name}")
    return found


def test_no_module_imports_a_later_stage_or_an_entry_point():
    assert violations() == []


def test_the_shared_library_and_the_artefact_import_no_stage():
    for module in (
        "jettag.artefact",
        "jettag.metrics",
        "jettag.settings",
        "jettag.jetclass",
        "jettag.schema",
    ):
        path = PACKAGE / (module.split(".", 1)[1].replace(".", "/") + ".py")
        assert rank(module) == -1
        assert all(rank(name) == -1 for name in imported(path)), module


def test_every_stage_has_its_package():
    for stage in STAGES:
        assert (PACKAGE / STAGE_PACKAGES[stage] / "__init__.py").is_file(), stage


@pytest.mark.parametrize(
    ("module", "name", "allowed"),
    [
        ("jettag.train.fit", "jettag.evaluate.scoring", False),
        ("jettag.evaluate.scoring", "jettag.train.data", True),
        ("jettag.artefact", "jettag.features.run", False),
        ("jettag.cli", "jettag.predict.run", True),
    ],
)
def test_the_rule_tells_a_later_stage_from_an_earlier_one(module, name, allowed):
    assert (rank(name) <= rank(module)) is allowed
