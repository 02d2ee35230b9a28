"""Labels of the user's own and command-line overrides: checked against the files, converted to the schema's
types, and refused with what was given and what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from jettag.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[1]


def write_quark_gluon(path: Path, n: int = 4) -> Path:
    """A tiny ROOT file whose jets carry label_Quark / label_Gluon (bool) and an unrelated flat branch."""
    counts = np.full(n, 3)
    momenta = {k: ak.unflatten(np.ones(3 * n, np.float32), counts) for k in ("px", "py", "pz")}
    quark = np.arange(n) % 2 == 0
    with uproot.recreate(path) as file:
        file["tree"] = {
            "part": ak.zip({**momenta, "energy": ak.unflatten(np.full(3 * n, 2.0, np.float32), counts)}),
            "label_Quark": quark,
            "label_Gluon": ~quark,
            "event_weight": np.ones(n, np.float32),
        }
    return path


def problems(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, source="my.yaml")
    return str(info.value)


def test_labels_of_the_users_own_are_accepted_when_the_files_have_them(tmp_path):
    write_quark_gluon(tmp_path / "qg.root")
    config = validate_config(
        {"inputs": [str(tmp_path / "*.root")], "signal": ["label_Quark"], "background": ["label_Gluon"]}
    )
    assert config["signal"] == ["label_Quark"]


def test_a_label_typo_names_the_file_its_branches_and_the_closest_one(tmp_path):
    path = write_quark_gluon(tmp_path / "qg.root")
    message = problems(
        {"inputs": [str(tmp_path / "*.root")], "signal": ["label_Quak"], "background": ["label_Gluon"]}
    )
    assert str(path) in message
    assert "no label branch label_Quak (did you mean label_Quark?)" in message
    assert "label_Gluon" in message
    assert "event_weight" in message  # the file's other flat branches are listed


def test_toplandscape_files_have_only_the_top_and_qcd_labels(tmp_path):
    (tmp_path / "test.h5").write_bytes(b"")  # the label check needs the file's kind only
    message = problems({"inputs": [str(tmp_path / "test.h5")], "signal": ["label_Quark"]})
    assert "has the labels label_Tbqq, label_QCD only, not label_Quark" in message


def test_nested_overrides_given_as_text_are_converted_to_the_schema_types():
    # what Snakemake makes of --config train="{max_epochs: 5, lr: 3e-4, devices: 2, seeds: [4, 5]}"
    config = validate_config(
        {
            "train": {"max_epochs": "5", "lr": "3e-4", "devices": "2", "seeds": ["4", "5"]},
            "build": {"with_pid": "true", "image": {"size": "16"}},
            "evaluate": {"bootstrap": "0"},
            "ingest": {"pt_min": "null", "pt_max": "700"},
        }
    )
    assert config["train"]["max_epochs"] == 5
    assert config["train"]["lr"] == pytest.approx(3e-4)
    assert config["train"]["devices"] == 2
    assert config["train"]["seeds"] == [4, 5]
    assert config["build"]["with_pid"] is True
    assert config["build"]["image"]["size"] == 16
    assert config["evaluate"]["bootstrap"] == 0
    assert config["ingest"]["pt_min"] is None
    assert config["ingest"]["pt_max"] == 700.0


def test_text_where_a_list_is_expected_is_a_list_of_one():
    assert validate_config({"train": {"seeds": "3"}})["train"]["seeds"] == [3]


def test_an_override_that_cannot_be_converted_says_what_was_given_and_expected():
    message = problems({"train": {"max_epochs": "five", "lr": "fast"}, "build": {"with_pid": "maybe"}})
    assert "'train.max_epochs': got the text 'five', expected integer" in message
    assert "'train.lr': got the text 'fast', expected number" in message
    assert "'build.with_pid': got the text 'maybe', expected boolean" in message
    # a number with a fraction is not an integer: refused, not rounded
    assert "'train.max_epochs': got the text '5.5'" in problems({"train": {"max_epochs": "5.5"}})


def test_snakemake_takes_a_nested_override_from_the_command_line(tmp_path):
    """A dry run of the real workflow with --config train="{...}": converted, and a bad one refused."""

    def dry_run(*config: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
            str(ROOT), "--configfile", str(ROOT / "configs/smoke.yaml"), "--dry-run", "--quiet", "all",
            "--config", f"results={tmp_path / 'results'}", *config,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)

    good = dry_run("train={max_epochs: 3, lr: 5e-4}")
    assert good.returncode == 0, good.stderr
    bad = dry_run("train={max_epochs: three}")
    assert bad.returncode != 0
    assert "'train.max_epochs': got the text 'three', expected integer" in bad.stderr + bad.stdout
