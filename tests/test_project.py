"""The project's own files agree with each other: dependencies, set-up commands, schema location."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_mirrors_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1] in SpecifierSet(pyproject()["project"]["requires-python"])
    assert "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # the dependencies themselves come from pyproject.toml: the one list
    assert pip == ["-e ."]


def test_pins_that_keep_installs_fast_on_cpu_machines():
    deps = pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    assert "pythia8mc==8.317.2" in deps


def commands(block_name: str) -> str:
    """The shell command in README.md's ```bash block that follows the marker comment."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {block_name} -->\s*```bash\n(.+?)\n```", readme, re.DOTALL)
    assert match, f"README.md has no '{block_name}' command block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    assert commands("test-command") in ci


def test_readme_main_job_runs_snakemake_on_the_default_config():
    main_job = commands("main-job")
    assert "snakemake --cores all" in main_job
    assert "pip install" in main_job


def test_readme_cluster_command_uses_the_slurm_profile_the_slurm_test_runs():
    cluster_job = commands("cluster-job")
    profile = re.search(r"--profile (\S+)", cluster_job).group(1)
    assert profile == "workflow/profiles/slurm"
    settings = yaml.safe_load((ROOT / profile / "config.yaml").read_text())
    assert settings["executor"] == "slurm"
    assert settings["retries"] >= 1


def test_workflow_schema_is_the_package_schema():
    linked = (ROOT / "workflow/schemas/config.schema.yaml").resolve()
    assert linked == (ROOT / "jettag/schemas/config.schema.yaml").resolve()
