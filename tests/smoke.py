"""The smoke configuration as the workflow tests run it, from a scratch directory."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def smoke_config(tmp_path: Path) -> tuple[dict, Path]:
    """configs/smoke.yaml, with the model files found from the scratch directory: the configuration and
    the path of its copy under ``tmp_path``."""
    smoke = yaml.safe_load((ROOT / "configs/smoke.yaml").read_text())
    smoke["train"]["model_dir"] = str(ROOT / "configs/models")
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(smoke))
    return smoke, path
