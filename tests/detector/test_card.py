"""Detector cards are checked data: every bad card stops with the file and the key named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from jettag.config import ConfigError, validate_config
from jettag.detector import BUILTIN_CARDS, CardError, card_path, load_card
from jettag.generate import generate_shard
from jettag.settings import GenerateSettings

ATLAS = yaml.safe_load(card_path("atlas").read_text())


def write(tmp_path: Path, content: dict, name: str = "card.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content))
    return path


def broken(change) -> dict:
    content = copy.deepcopy(ATLAS)
    change(content)
    return content


def test_builtin_cards_load_and_configs_detectors_holds_them():
    for name in BUILTIN_CARDS:
        card = load_card(name)
        assert card.name == name
        shipped = Path(__file__).parents[2] / "configs" / "detectors" / f"{name}.yaml"
        assert shipped.read_text() == card_path(name).read_text()


def test_the_hash_follows_the_physics_not_the_comments(tmp_path):
    same = write(tmp_path, ATLAS, "same.yaml")
    same.write_text("# a comment of mine\n" + same.read_text())
    assert load_card(same).sha256 == load_card("atlas").sha256
    other = broken(lambda c: c["calorimeters"]["hcal"].update(energy_min=1.5))
    assert load_card(write(tmp_path, other, "other.yaml")).sha256 != load_card("atlas").sha256


def _drop_muon_table(c):
    del c["tracking"]["efficiency"]["muon"]


def _gap(c):
    c["tracking"]["efficiency"]["charged_hadron"][1]["pt"] = [2.0, float("inf")]  # (1, 2] uncovered


def _overlap(c):
    c["tracking"]["efficiency"]["electron"][0]["abs_eta"] = [0.0, 1.6]


def _negative_resolution(c):
    c["calorimeters"]["ecal"]["resolution"][0]["b"] = -0.1


def _tower_gap(c):
    c["calorimeters"]["hcal"]["towers"][1]["eta_edges"] = [2.55, 2.6, 3.3]


def _tower_step(c):
    c["calorimeters"]["hcal"]["towers"][0]["eta_step"] = 0.3


def _resolution_short_of_towers(c):
    c["calorimeters"]["hcal"]["resolution"][-1]["abs_eta"] = [3.2, 4.0]


def _fractions_above_one(c):
    c["energy_fractions"]["particles"][2]["hcal"] = 0.8


def _unknown_key(c):
    c["solenoid"]["radius_m"] = 1.0


def _resolution_short_of_efficiency(c):
    c["tracking"]["momentum_resolution"]["muon"][2]["abs_eta"] = [1.5, 2.0]


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (_drop_muon_table, "tracking.efficiency", "'muon' is a required property"),
        (_gap, "tracking.efficiency.charged_hadron", "gap"),
        (_overlap, "tracking.efficiency.electron[3]", "overlaps row 0"),
        (_negative_resolution, "calorimeters.ecal.resolution[0].b", "less than the minimum of 0"),
        (_tower_gap, "calorimeters.hcal.towers[1]", "a gap"),
        (_tower_step, "calorimeters.hcal.towers[0]", "not a whole number of eta_step"),
        (_resolution_short_of_towers, "calorimeters.hcal.resolution", "the towers reach 4.9"),
        (_fractions_above_one, "energy_fractions.particles[2]", "above 1"),
        (_unknown_key, "solenoid", "'radius_m' was unexpected"),
        (
            _resolution_short_of_efficiency,
            "tracking.momentum_resolution.muon",
            "less than tracking.efficiency.muon",
        ),
    ],
)
def test_a_bad_card_is_refused_with_file_key_and_problem(tmp_path, change, key, problem):
    path = write(tmp_path, broken(change))
    with pytest.raises(CardError) as err:
        load_card(path)
    message = str(err.value)
    assert str(path) in message
    assert key in message
    assert problem in message


def test_a_missing_card_and_bad_yaml_are_refused(tmp_path):
    with pytest.raises(CardError, match="no such file, and not a built-in card"):
        load_card(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("solenoid: [1, 2\n")
    with pytest.raises(CardError, match=f"{bad}: not valid YAML"):
        load_card(bad)


def test_the_configuration_check_stops_on_a_bad_card_before_anything_runs(tmp_path):
    path = write(tmp_path, broken(_gap))
    with pytest.raises(ConfigError) as err:
        validate_config({"generate": {"detector": str(path)}})
    assert "generate.detector" in str(err.value)
    assert str(path) in str(err.value)
    validate_config({"generate": {"detector": "none"}})
    validate_config({"generate": {"detector": "cms"}})


def test_generation_refuses_a_bad_card(tmp_path):
    path = write(tmp_path, broken(_overlap))
    settings = GenerateSettings.create(jets_per_shard=1, detector=str(path))
    with pytest.raises(CardError, match=r"tracking\.efficiency\.electron"):
        generate_shard("QCD", 1, settings, tmp_path / "out.root")
