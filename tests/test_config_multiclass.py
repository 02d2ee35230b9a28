"""The `multiclass` key: off by default, and class definitions that make no sense are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from jettag.config import ConfigError, load_config, validate_config
from tests.test_config import check_config

ROOT = Path(__file__).resolve().parents[1]


def problems(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


def test_binary_by_default():
    assert validate_config({})["multiclass"] is False
    for name in ("default", "smoke"):
        assert load_config(ROOT / "configs" / f"{name}.yaml")["multiclass"] is False


def test_multiclass_with_several_signal_labels():
    config = validate_config({"signal": ["label_Tbqq", "label_Wqq"], "multiclass": True})
    assert config["background"] == ["label_QCD"]


def test_multiclass_with_one_signal_label_is_refused():
    message = problems({"signal": ["label_Tbqq"], "multiclass": True})
    assert "config key 'multiclass'" in message
    assert "at least two labels in 'signal'" in message
    assert "multiclass: false" in message


def test_a_label_in_both_lists_is_refused():
    message = problems(
        {"signal": ["label_Tbqq", "label_QCD"], "background": ["label_QCD"], "multiclass": True}
    )
    assert "share label_QCD" in message


def test_multiclass_must_be_a_boolean():
    assert "config key 'multiclass'" in problems({"multiclass": "yes"})


def test_check_config_refuses_one_signal_label_in_multiclass(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("signal: [label_Tbqq]\nmulticlass: true\n")
    result = check_config(bad)
    assert result.returncode == 2
    assert "multiclass" in result.stderr
