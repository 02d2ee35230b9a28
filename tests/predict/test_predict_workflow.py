"""The `predict` section of the configuration and the workflow rule that applies trained taggers to files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jettag.config import ConfigError, validate_config
from jettag.predict.workflow import predict_models, predict_sources, predicted_files
from jettag.settings import EvaluateSettings, IngestSettings, PredictSettings, settings_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("predict", "problem"),
    [
        ({"inputs": ["a.root"], "models": ["xgboost"]}, "'predict.models': 'xgboost' is not a trained model"),
        ({"inputs": ["a.root"], "models": ["gru/seed9"]}, "'gru/seed9' asks for seed 9, which is not"),
        ({"models": ["lstm"]}, "'predict.inputs' is empty"),
        ({"inputs": ["a.root"]}, "'predict.models' is empty"),
        ({"inputs": ["a.root"], "models": ["lstm/seed"]}, "'predict.models.0': 'lstm/seed' does not match"),
    ],
)
def test_predict_section_names_only_trained_taggers(predict, problem):
    with pytest.raises(ConfigError, match=re.escape(problem)):
        validate_config({"train": {"models": ["lstm", "gru", "bdt"], "seeds": [1, 2]}, "predict": predict})


def test_a_valid_predict_section_keeps_its_defaults():
    config = validate_config({"predict": {"inputs": ["/data/*.root"], "models": ["lstm", "bdt/seed3"]}})
    assert config["predict"] == {
        "inputs": ["/data/*.root"],
        "models": ["lstm", "bdt/seed3"],
        "format": "root",
        "chunk_size": 10000,
    }


def test_models_resolve_to_trainings_and_inputs_to_uniquely_named_files(tmp_path):
    config = validate_config(
        {
            "train": {"seeds": [4, 2]},
            "predict": {
                "inputs": [str(tmp_path / "a" / "*.root")],
                "models": ["lstm", "gru/seed2", "lstm/seed4"],
            },
            "ingest": {"tree": "Events", "branch_map": {"part_px": "PF cands px"}},
        }
    )
    assert predict_models(config) == [("lstm", 4), ("gru", 2)]
    with pytest.raises(ValueError, match=r"'predict.inputs': '.*/a/\*.root' matches no file"):
        predict_sources(config)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "jets.root").write_bytes(b"")
    (tmp_path / "a" / "more.root").write_bytes(b"")
    assert predict_sources(config) == {
        "jets": str(tmp_path / "a" / "jets.root"),
        "more": str(tmp_path / "a" / "more.root"),
    }
    assert predicted_files(config, "out") == [
        "out/predict/lstm/seed4/jets.root",
        "out/predict/lstm/seed4/more.root",
        "out/predict/gru/seed2/jets.root",
        "out/predict/gru/seed2/more.root",
    ]
    config["predict"]["inputs"].append(str(tmp_path / "b" / "*.root"))
    with pytest.raises(ValueError, match="share the name 'jets'; rename one"):
        predict_sources(config)
    # what the rule hands `jettag predict --settings`: its section and ingest's reading options
    handed = settings_json(config, PredictSettings, IngestSettings, EvaluateSettings)
    reading = IngestSettings.load(handed)
    assert PredictSettings.load(handed) == PredictSettings.from_config(config)
    assert (reading.tree, dict(reading.branch_map), reading.jet_r) == (
        "Events",
        {"part_px": "PF cands px"},
        0.8,
    )


@pytest.mark.slow
def test_the_predict_target_plans_one_job_per_tagger_and_file(generated, tmp_path):
    """A dry run: every chosen tagger (trained first) on every input file, with the ingest reading options."""
    config = yaml.safe_load((ROOT / "configs/smoke.yaml").read_text())
    config["train"]["model_dir"] = str(ROOT / "configs/models")
    config["ingest"] = {"branch_map": {"part_px": "part_px"}, "tree": "tree"}
    config["predict"] = {
        "inputs": [str(generated["QCD"].parent / "*.root")],
        "models": ["lstm", "bdt/seed1"],
        "format": "parquet",
        "chunk_size": 500,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "predict", "-n", "-p", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = dict(re.findall(r"^(predict_file|train|train_bdt|predict)\s+(\d+)$", output, re.MULTILINE))
    assert jobs == {"predict_file": "4", "train": "1", "train_bdt": "1", "predict": "1"}
    for model in ("lstm", "bdt"):
        for name in ("QCD", "Tbqq"):
            assert f"results/smoke/predict/{model}/seed1/{name}.parquet" in output
    handed_over = re.findall(r"jettag predict .* --settings '(\{.*\})'", output)
    assert len(handed_over) == 4
    for handed in handed_over:
        config = json.loads(handed)
        assert config["predict"]["format"] == "parquet"
        assert config["predict"]["chunk_size"] == 500
        assert config["ingest"]["tree"] == "tree"
        assert config["ingest"]["branch_map"] == {"part_px": "part_px"}
