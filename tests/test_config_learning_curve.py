"""The learning curve's configuration: its schema section, and the sizes checked against the jets the
configuration generates before any job runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from jettag.config import ConfigError, learning_curve_problems, load_config, validate_config
from jettag.settings import LearningCurveSettings

ROOT = Path(__file__).resolve().parents[1]


def overlaid(base: dict, extra: dict) -> dict:
    """``extra`` laid over ``base`` key by key, as Snakemake lays a --configfile over the Snakefile's."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = overlaid(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


def test_the_defaults_are_five_sizes_from_1k_to_100k_and_two_seeds():
    settings = LearningCurveSettings.create()
    assert settings.sizes == (1000, 3000, 10000, 30000, 100000)
    assert settings.seeds == (1, 2)
    assert settings.min_steps == 500


def test_a_small_size_trains_for_more_epochs_to_take_min_steps():
    from jettag.settings import BuildSettings, TrainSettings

    curve = LearningCurveSettings.create(min_steps=500)
    train = TrainSettings.create(max_epochs=5, batch_size=256, patience=3)
    copied = BuildSettings.create(augment={"copies": 1})
    # 1000 jets and their copies: 8 batches an epoch, so 63 epochs for 500 steps; early stopping waits
    # 63/5 times the 3 epochs
    assert curve.train_at(1000, copied, train) == {"max_epochs": 63, "patience": 38}
    # without copies 4 batches an epoch
    assert curve.train_at(1000, BuildSettings.create(), train) == {"max_epochs": 125, "patience": 75}
    # 30 000 jets and their copies take 235 steps an epoch: the train section is already enough
    assert curve.train_at(30000, copied, train) == {"max_epochs": 5, "patience": 3}
    assert LearningCurveSettings.create(min_steps=0).train_at(1000, copied, train)["max_epochs"] == 5


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"size": [1000]}, "'learning_curve.size' is not known; did you mean 'sizes'?"),
        ({"sizes": [1000, 0]}, "'learning_curve.sizes.1': 0 is less than the minimum of 1"),
        ({"sizes": []}, "'learning_curve.sizes': [] should be non-empty"),
        ({"sizes": [1000, 1000]}, "'learning_curve.sizes': [1000, 1000] has non-unique elements"),
        ({"seeds": [-1]}, "'learning_curve.seeds.0': -1 is less than the minimum of 0"),
    ],
)
def test_a_bad_learning_curve_section_is_refused_by_key(section, expected):
    with pytest.raises(ConfigError) as info:
        validate_config({"learning_curve": section})
    assert expected in str(info.value)


def test_sizes_given_as_text_on_the_command_line_are_numbers():
    # what Snakemake makes of --config learning_curve="{sizes: [1000, 3000], seeds: [1]}"
    config = validate_config({"learning_curve": {"sizes": ["1000", "3000"], "seeds": ["1"]}})
    assert LearningCurveSettings.from_config(config) == LearningCurveSettings.create(
        sizes=[1000, 3000], seeds=[1]
    )


def test_a_size_beyond_the_generated_training_jets_is_named_with_the_numbers():
    """The main job generates 2 x 4 x 2500 jets, 60% of them for training: about 12 000."""
    config = load_config(ROOT / "configs/default.yaml")
    (problem,) = learning_curve_problems(config)
    assert problem.startswith("config key 'learning_curve.sizes': 30000, 100000 training jets asked for")
    assert "about 12000 (2 processes x generate.shards 4 x generate.jets_per_shard 2500" in problem
    assert "x ingest.splits.train 0.6); raise generate.shards or lower the sizes" in problem
    small = validate_config(overlaid(config, {"learning_curve": {"sizes": [1000, 12000]}}))
    assert learning_curve_problems(small) == []


def test_with_inputs_the_sizes_wait_for_the_subset_and_multiclass_is_refused(tmp_path):
    config = validate_config({"learning_curve": {"sizes": [10**9]}})
    config["inputs"] = [str(tmp_path / "*.root")]  # nothing is known of them before ingest
    assert learning_curve_problems(config) == []
    config["multiclass"] = True
    (problem,) = learning_curve_problems(config)
    assert "config key 'multiclass'" in problem


def test_the_shipped_learning_curve_generates_enough_training_jets_for_its_largest_size():
    default = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    extra = yaml.safe_load((ROOT / "configs/learning_curve.yaml").read_text())
    config = validate_config(overlaid(default, extra))
    assert learning_curve_problems(config) == []
    assert config["train"]["models"] == default["train"]["models"]  # every tagger of the main job
    jets = 2 * config["generate"]["shards"] * config["generate"]["jets_per_shard"]
    fraction = config["ingest"]["splits"]["train"]
    # the hash split's count is binomial: its largest size lies more than 10 standard deviations below
    sigma = math.sqrt(jets * fraction * (1 - fraction))
    assert max(config["learning_curve"]["sizes"]) < jets * fraction - 10 * sigma
    assert config["learning_curve"]["sizes"] == [1000, 3000, 10000, 30000, 100000]
    assert len(config["learning_curve"]["seeds"]) == 2
