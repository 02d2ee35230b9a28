"""The reference extra: asking for ParticleNet without weaver-core stops at configuration time, and says how
to install it."""

from __future__ import annotations

import logging
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from jettag.cli import main
from jettag.config import ConfigError, load_config
from jettag.extras import EXTRAS, missing_extra
from jettag.models import build_model
from jettag.standardisation import Standardisation

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "pip install -e '.[reference]'"


@pytest.fixture
def without_weaver(monkeypatch: pytest.MonkeyPatch) -> None:
    """weaver-core made unimportable: Python's own way to block a module (None in sys.modules)."""
    for name in [name for name in sys.modules if name == "weaver" or name.startswith("weaver.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "weaver", None)


def reference_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "configs/smoke.yaml").read_text())
    config["train"]["models"] = ["gru", "particlenet", "bdt"]
    config["train"]["model_dir"] = str(ROOT / "configs/models")
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_extra_pins_what_the_message_asks_for():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in EXTRAS.values():
        assert extras[extra.extra] == [extra.requirement]


def test_with_weaver_installed_particlenet_is_accepted(tmp_path):
    assert missing_extra("particlenet") is None
    assert missing_extra("recurrent") is None
    assert "particlenet" in load_config(reference_config(tmp_path))["train"]["models"]


def test_without_weaver_the_configuration_check_stops_with_the_install_command(tmp_path, without_weaver):
    with pytest.raises(ConfigError) as info:
        load_config(reference_config(tmp_path))
    message = str(info.value)
    assert "config key 'train.models': 'particlenet'" in message
    assert "particlenet.yaml" in message
    assert "ParticleNet from weaver-core, which is not installed" in message
    assert INSTALL in message
    assert "gru" not in message  # the other models are fine


def test_without_weaver_check_config_fails_in_one_message(tmp_path, without_weaver, caplog):
    assert main(["check-config", str(reference_config(tmp_path))]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert INSTALL in errors[0]


def test_without_weaver_building_a_particlenet_says_what_to_install(without_weaver):
    spec = {"name": "particlenet", "kind": "particlenet"}
    points = Standardisation(["deta", "dphi"], [0.0, 0.0], [0.2, 0.2])
    with pytest.raises(ValueError, match=r"pip install -e '\.\[reference\]'"):
        build_model(spec, 2, 1, feature_names=["deta", "dphi"], standardisation=points)
