"""One settings object per stage: each field a key of the schema, each default written in the schema alone,
what a stage records read back into the same object, and names the schema and the code share kept equal."""

from __future__ import annotations

import dataclasses
import json

import pytest

from jettag.cli import main
from jettag.jetclass import ORDERINGS, SCHEDULES, SPLITS
from jettag.schema import ConfigError, schema
from jettag.settings import (
    STAGE_SETTINGS,
    BuildSettings,
    ImageSpec,
    IngestSettings,
    Settings,
    TrainSettings,
    load_stage_config,
    settings_json,
)

ALL = [*STAGE_SETTINGS.values(), ImageSpec]


def schema_section(cls: type[Settings]) -> dict:
    root = schema()["properties"]
    if cls is ImageSpec:
        return root["build"]["properties"]["image"]
    return root[cls.SECTION]


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_the_fields_are_the_schema_keys_and_none_has_a_default_of_its_own(cls):
    fields = dataclasses.fields(cls)
    keys = [*cls.TOP_LEVEL, *schema_section(cls)["properties"]]
    assert sorted(field.name for field in fields) == sorted(keys)
    assert all(field.default is dataclasses.MISSING for field in fields)
    assert all(field.default_factory is dataclasses.MISSING for field in fields)


def default(node: dict):
    """A key's default as the schema writes it: an object's (``build.image``, ``tune.space``) with the
    defaults of its keys filled in."""
    value = node["default"]
    if isinstance(value, dict):
        filled = {key: default(sub) for key, sub in node.get("properties", {}).items() if "default" in sub}
        value = filled | value
    return value


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_the_settings_of_an_empty_configuration_are_the_schema_defaults(cls):
    root = schema()["properties"]
    expected = {key: root[key]["default"] for key in cls.TOP_LEVEL}
    for key, node in schema_section(cls)["properties"].items():
        expected[key] = default(node)
    assert cls.create().to_dict() == expected


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_settings_written_as_json_read_back_equal(cls):
    settings = cls.create()
    assert cls.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_a_value_of_the_wrong_type_or_an_unknown_key_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"'train\.max_epochs': got the text 'five'"):
        TrainSettings.create(max_epochs="five")
    with pytest.raises(ConfigError, match=r"'build\.lenght' is not known"):
        BuildSettings.create(lenght=3)
    with pytest.raises(ConfigError, match="TrainSettings: missing lr"):
        TrainSettings.from_dict({k: v for k, v in TrainSettings.create().to_dict().items() if k != "lr"})
    with pytest.raises(ConfigError, match=r"'ingest\.splits': fractions .* add up to 1\.09+9, not 1"):
        IngestSettings.create(splits={"train": 0.7, "val": 0.2, "test": 0.2})


def test_settings_come_from_json_text_or_a_file(tmp_path):
    text = '{"train": {"max_epochs": 3}, "build": {"ordering": "kt"}}'
    assert TrainSettings.load(text).max_epochs == 3
    (tmp_path / "s.yaml").write_text("build: {ordering: kt, image: {size: 9}}\n")
    build = BuildSettings.load(tmp_path / "s.yaml")
    assert (build.ordering, build.image.size, build.max_length) == ("kt", 9, 128)
    with pytest.raises(ConfigError, match="--settings: not valid JSON"):
        load_stage_config("{max_epochs: 3")


def test_what_a_rule_hands_its_command_is_its_sections():
    config = load_stage_config({"signal": ["label_Wqq"], "ingest": {"chunk_size": 7}})
    handed = json.loads(settings_json(config, IngestSettings))
    assert set(handed) == {"signal", "background", "multiclass", "ingest"}
    assert IngestSettings.load(json.dumps(handed)) == IngestSettings.from_config(config)


def test_a_stage_command_names_a_bad_settings_key_in_one_line(tmp_path, caplog):
    argv = ["ingest", "--input", str(tmp_path / "x.root"), "--output-dir", str(tmp_path)]
    assert main([*argv, "--settings", '{"ingest": {"chunk_sise": 5}}']) == 2
    assert "config key 'ingest.chunk_sise' is not known; did you mean 'chunk_size'?" in caplog.text


def test_the_schema_uses_the_names_the_code_defines():
    root = schema()["properties"]
    assert tuple(root["build"]["properties"]["ordering"]["enum"]) == ORDERINGS
    assert tuple(root["train"]["properties"]["schedule"]["enum"]) == SCHEDULES
    assert tuple(root["ingest"]["properties"]["splits"]["required"]) == SPLITS


def test_a_training_records_its_settings_as_written(trained_runs):
    artefact = json.loads((trained_runs["lstm/seed1"] / "artefact.json").read_text())
    settings = TrainSettings.from_dict(artefact["settings"])
    assert (settings.max_epochs, settings.lr, settings.accelerator, settings.batch_size) == (
        4,
        1e-2,
        "cpu",
        32,
    )
    assert artefact["kind"] == "network"
