"""`snakemake learning_curve`: planned through the Slurm profile on the shipped configuration, stopped before
any job for a size the configuration cannot give, and run end to end on the shared sample (two sizes, one
seed, the BDT and a tiny RNN)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from jettag.shards import read_shard
from tests.smoke import smoke_config
from tests.workflow.test_workflow import ROOT, snakemake

SIZES = [200, 400]


def dry_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The jobs `snakemake learning_curve` would run from the repository, writing nothing under it."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(ROOT),
        "--dry-run", "learning_curve", *args, "--config", f"results={tmp_path / 'results'}",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)


def test_the_shipped_learning_curve_is_planned_through_the_slurm_profile_with_gpu_trainings(tmp_path):
    profile = ROOT / "workflow/profiles/slurm"
    planned = dry_run(
        tmp_path, "--profile", str(profile), "--configfile", str(ROOT / "configs/learning_curve.yaml"),
        "--printshellcmds",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr[-3000:]
    counts = dict(re.findall(r"^(learning_curve\w*|generate)\s+(\d+)$", planned.stdout, re.MULTILINE))
    # 5 networks and the BDT, 5 sizes, 2 seeds; 2 processes x 26 shards
    assert counts == {
        "generate": "52", "learning_curve_subset": "5", "learning_curve_standardisation": "5",
        "learning_curve_build": "15", "learning_curve_train": "50", "learning_curve_train_bdt": "10",
        "learning_curve_evaluate": "60", "learning_curve_report": "1", "learning_curve": "1",
    }  # fmt: skip
    jobs = planned.stdout.split("\nrule ")
    trainings = [job for job in jobs if job.startswith("learning_curve_train:")]
    assert len(trainings) == 50
    # the profile's resources of the main job's trainings
    assert all("slurm_partition=gpu" in job and "gpu=1" in job and "runtime=240" in job for job in trainings)
    # every size takes at least learning_curve.min_steps (500) optimizer steps: 1000 jets and their
    # augmented copies make 8 batches of 256, so 63 epochs; from 30 000 jets on, the main job's 5
    # and early stopping waits as many steps as the main job's 3 epochs
    pattern = r"n(\d+)/train/\w+/seed\d.*?\"max_epochs\":(\d+),.*?\"patience\":(\d+)"
    epochs: dict[int, set[tuple[int, int]]] = {}
    for size, value, patience in re.findall(pattern, planned.stdout):
        epochs.setdefault(int(size), set()).add((int(value), int(patience)))
    assert epochs == {1000: {(63, 38)}, 3000: {(21, 13)}, 10000: {(7, 5)}, 30000: {(5, 3)}, 100000: {(5, 3)}}


def test_a_size_beyond_the_generated_training_jets_stops_before_any_job(tmp_path):
    refused = dry_run(tmp_path)  # the main job's 12 000 training jets, the default sizes up to 100 000
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "invalid configuration for the learning curve" in output
    assert "config key 'learning_curve.sizes': 30000, 100000 training jets asked for" in output
    assert not (tmp_path / "results").exists()


def tiny_rnn(directory: Path) -> Path:
    """configs/models/rnn.yaml at a quarter of its width."""
    spec = yaml.safe_load((ROOT / "configs/models/rnn.yaml").read_text())
    spec |= {"embed_dim": 8, "hidden_size": 16, "head_sizes": [16]}
    directory.mkdir()
    (directory / "rnn.yaml").write_text(yaml.safe_dump(spec))
    return directory


@pytest.mark.slow
def test_the_learning_curve_trains_every_tagger_at_every_size_and_reports_the_curve(generated, tmp_path):
    smoke, _ = smoke_config(tmp_path)
    config = {
        **smoke,
        "inputs": [str(generated["Tbqq"]), str(generated["QCD"])],  # 800 jets, about 480 for training
        "train": {**smoke["train"], "models": ["rnn", "bdt"], "model_dir": str(tiny_rnn(tmp_path / "models")),
                  "max_epochs": 3},
        "evaluate": {"bootstrap": 0},
        # 200 jets (the smoke configuration makes no copies) are 7 batches of 32: 60 steps take 9 epochs,
        # not the 3 of max_epochs, and early stopping waits 15 instead of 5
        "learning_curve": {"sizes": SIZES, "seeds": [1], "min_steps": 60},
    }  # fmt: skip
    path = tmp_path / "learning_curve.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "learning_curve", "--cores", "2", "--configfile", str(path))
    assert result.returncode == 0, result.stderr[-4000:]

    out = tmp_path / config["results"]  # the learning curve writes into its results directory
    curve = json.loads((out / "learning_curve.json").read_text())
    assert curve["sizes"] == SIZES
    assert set(curve["taggers"]) == {"rnn", "bdt"}
    for entry in curve["taggers"].values():
        assert sorted((p["train_jets"], p["seed"]) for p in entry["points"]) == [(200, 1), (400, 1)]
        assert entry["fit"] is not None
        assert all(p["auc"] > 0.6 for p in entry["points"])
    assert curve["taggers"]["rnn"]["passes_bdt"]["method"] in {
        "interpolated", "extrapolated", "never", "ahead at every size"
    }  # fmt: skip
    for n in SIZES:
        subset = json.loads((out / f"n{n}" / "ingest" / "summary.json").read_text())["subset"]
        assert subset["jets_out"] == n
    epochs = json.loads((out / "n200" / "train" / "rnn" / "seed1" / "artefact.json").read_text())["settings"]
    assert (epochs["max_epochs"], epochs["patience"]) == (9, 15)
    # the same test jets at every size
    tests = [read_shard(out / f"n{n}" / "build" / "test" / "highlevel.arrow") for n in SIZES]
    np.testing.assert_array_equal(tests[0].jet_pt, tests[1].jet_pt)
    page = (out / "report.html").read_text()
    assert "<figure id='learning_curve'><img alt='learning_curve' src='data:image/png;base64," in page
    assert (out / "learning_curve.pdf").exists()

    # and in Snakemake's own report, with its caption
    zipped = snakemake(
        tmp_path, "learning_curve", "--configfile", str(path), "--report", str(tmp_path / "lc.zip")
    )
    assert zipped.returncode == 0, zipped.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "lc.zip") as archive:
        assert any(name.endswith("learning_curve.png") for name in archive.namelist())
