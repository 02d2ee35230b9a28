"""The real Snakemake workflow on the smoke configuration, run in a scratch directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import uproot
import yaml

from jettag.report.plots import FIGURES
from jettag.shards import num_rows
from tests.smoke import smoke_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def snakemake_env() -> dict[str, str]:
    """This interpreter's environment, with the `jettag` command on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """This interpreter's snakemake on the project's Snakefile, run in ``workdir``."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
            str(workdir), *args]  # fmt: skip


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake from this interpreter's environment, with the `jettag` command on PATH."""
    return subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        env=snakemake_env(),
        check=False,
        cwd=workdir,
    )


def test_an_mpi_resource_starts_one_training_process_per_task_with_srun(tmp_path):
    """The Slurm profile's DDP resources (README, On a Slurm cluster) put srun in front of `jettag train`,
    with the node, task and CPU counts asked for; the other rules are untouched."""
    _, config = smoke_config(tmp_path)
    ddp = ["train:mpi=srun", "train:nodes=2", "train:tasks_per_node=4", "train:cpus_per_task=5"]
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(config), "--set-resources", *ddp)
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if "jettag " in line]
    trainings = [line for line in commands if "jettag train " in line]
    assert trainings, result.stdout[-3000:]
    launch = "srun --nodes=2 --ntasks-per-node=4 --cpus-per-task=5 jettag train "
    assert all(launch in line for line in trainings), trainings
    assert not any("srun" in line for line in commands if line not in trainings)


def test_lint_finds_nothing_but_the_missing_conda_environments(tmp_path):
    result = snakemake(tmp_path, "--lint", "--configfile", str(smoke_config(tmp_path)[1]))
    # jettag runs from the environment `pip install .` makes (README), not from per-rule conda environments
    output = result.stdout + result.stderr
    lints = [line for line in output.splitlines() if line.strip().startswith("* ")]
    assert lints, output
    assert all("conda environment or container" in line for line in lints), "\n".join(lints)


def test_bad_config_stops_before_any_rule_runs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"generate": {"jets_per_shard": -3, "shard": 2}}))
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "generate.jets_per_shard" in output
    assert "'generate.shard' is not known; did you mean 'shards'?" in output
    assert not (tmp_path / "results").exists()


def check_report(results: Path, smoke: dict, dataset: dict) -> None:
    """The report of a smoke run: every tagger evaluated on the test split, the dataset counts, figures."""
    report = results / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert list(metrics["models"]) == smoke["train"]["models"]
    test = dataset["splits"]["test"]
    assert metrics["test_jets"] == {"signal": test["signal"], "background": test["background"]}
    assert metrics["dataset"]["ingest"] == dataset
    for name, entry in metrics["models"].items():
        evaluation = json.loads((results / "evaluate" / name / "seed1" / "metrics.json").read_text())
        assert entry["auc"] == evaluation["test"]["auc"] > 0.75, name
        assert entry["n_seeds"] == 1
        assert set(entry["rejection"]) == {"0.3", "0.5"}
        assert entry["n_params"] > 0
    assert metrics["provenance"]["config"]["results"] == smoke["results"]
    page = (report / "report.html").read_text()
    assert page.count("<figure id=") == len(FIGURES)
    assert "The samples differ." in page
    for figure in ("roc", "pt_dependence", "mass_sculpting", "training_curves", "score_distributions"):
        assert (report / f"{figure}.pdf").exists()


def test_smoke_workflow_runs_every_stage_and_ends_in_a_report(tmp_path):
    smoke, config = smoke_config(tmp_path)
    result = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    n = smoke["generate"]["jets_per_shard"]
    results = tmp_path / smoke["results"]
    for process in ("Tbqq", "QCD"):
        shard = results / "generate" / f"{process}_seed1.root"
        assert uproot.open(shard)["tree"].num_entries == n
        summary = json.loads(shard.with_suffix(".json").read_text())
        assert summary["counts"]["jets_written"] == n
        assert (results / "logs" / "generate" / f"{process}_seed1.log").exists()
    dataset = json.loads((results / "ingest" / "summary.json").read_text())
    assert dataset["jets_read"] == dataset["jets_kept"] == 2 * n
    for split in ("train", "val", "test"):
        built = json.loads((results / "build" / split / "summary.json").read_text())
        assert built["jets_out"] == dataset["splits"][split]["jets"] > 0
        for output in ("sequences", "images", "highlevel"):
            assert num_rows(results / "build" / split / f"{output}.arrow") == built["jets_out"]
    assert (results / "build" / "standardisation.json").exists()
    for model in smoke["train"]["models"]:
        artefact = json.loads((results / "train" / model / "seed1" / "artefact.json").read_text())
        auc = artefact["metrics"]["val_auc"] if model == "bdt" else artefact["best"]["val/auc"]
        assert auc > 0.75, (model, auc)
    # a batch job gets one plain line an epoch, not a progress bar
    lstm_log = (results / "logs" / "train" / "lstm_seed1.log").read_text()
    assert f"epoch 1/{smoke['train']['max_epochs']}: train/loss" in lstm_log
    check_report(results, smoke, dataset)
    zipped = snakemake(tmp_path, "--configfile", str(config), "--report", str(tmp_path / "report.zip"))
    assert zipped.returncode == 0, zipped.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = "\n".join(archive.namelist())
    for figure in ("roc.png", "mass_sculpting.png", "gradient_reach.png", "report.html"):
        assert figure in names
    again = snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
