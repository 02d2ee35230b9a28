"""The workflow configuration: defaults, and bad configs refused with the offending key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jettag.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default", "smoke"])
def test_shipped_configs_are_valid(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config["signal"] == ["label_Tbqq"]
    assert config["background"] == ["label_QCD"]
    assert config["inputs"] == []


def test_smoke_config_is_a_tiny_version_of_the_default():
    default, smoke = load_config(ROOT / "configs/default.yaml"), load_config(ROOT / "configs/smoke.yaml")
    assert set(default) == set(smoke)
    n_default = default["generate"]["shards"] * default["generate"]["jets_per_shard"]
    n_smoke = smoke["generate"]["shards"] * smoke["generate"]["jets_per_shard"]
    assert n_smoke * 10 <= n_default


def test_empty_config_gets_every_default():
    config = validate_config({})
    assert config["results"] == "results"
    assert config["generate"]["pt_min"] == 550.0
    assert config["generate"]["jet_r"] == 0.8


def problems(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, source="my.yaml")
    return str(info.value)


def test_unknown_top_level_key_is_named_with_a_suggestion():
    message = problems({"resluts": "out"})
    assert "my.yaml" in message
    assert "'resluts' is not known" in message
    assert "did you mean 'results'" in message


def test_unknown_nested_key_is_named_with_its_section():
    assert "'generate.jets_per_shards' is not known" in problems({"generate": {"jets_per_shards": 10}})


def test_negative_jet_count_is_refused():
    message = problems({"generate": {"jets_per_shard": -5}})
    assert "'generate.jets_per_shard'" in message
    assert "minimum" in message


def test_wrong_type_is_refused():
    assert "'generate.shards'" in problems({"generate": {"shards": "four"}})


def test_upside_down_pt_window_is_refused():
    message = problems({"generate": {"pt_min": 700, "pt_max": 600}})
    assert "'generate.pt_min'" in message
    assert "below generate.pt_max" in message


def test_label_that_cannot_be_generated_is_refused_without_inputs():
    message = problems({"signal": ["label_Hbb"]})
    assert "'signal'" in message
    assert "label_Hbb" in message
    assert "cannot be generated" in message
    # with input files of its own, a user may tag any class its files label
    assert validate_config({"signal": ["label_Hbb"], "inputs": ["data/*.root"]})["signal"] == ["label_Hbb"]


def test_not_a_label_and_overlapping_classes_are_refused():
    assert "'label_Top' cannot be generated" in problems({"signal": ["label_Top"]})
    assert "share label_QCD" in problems({"signal": ["label_QCD"]})
    assert "'signal.0'" in problems({"signal": ["label-Top"]})


def test_every_problem_is_listed_at_once():
    message = problems({"generate": {"jets_per_shard": 0, "shards": 0}})
    assert "generate.jets_per_shard" in message
    assert "generate.shards" in message


def check_config(path: Path) -> subprocess.CompletedProcess:
    """`jettag check-config path`, as a user runs it."""
    command = [sys.executable, "-m", "jettag", "check-config", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_cli_check_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"generate": {"pt_min": 600, "pt_max": 500}}))
    result = check_config(bad)
    assert result.returncode == 2
    assert "generate.pt_min" in result.stderr
    assert str(bad) in result.stderr


def test_missing_and_malformed_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("generate: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
