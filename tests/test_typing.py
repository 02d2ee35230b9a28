"""The typed core (``[tool.mypy] files`` in pyproject.toml: the networks, the figures of merit, the
evaluate stage, the settings and the schema) passes mypy in strict mode, as shipped with ``py.typed``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_says_it_is_typed():
    assert (ROOT / "jettag" / "py.typed").is_file()


def test_the_typed_core_passes_strict_mypy(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
