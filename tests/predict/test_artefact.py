"""Loading trained models: artefacts of other jettag versions, files that are not models, unsafe pickles."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from jettag.artefact import (
    ArtefactError,
    TrainedBDT,
    TrainedTagger,
    load_bdt_tagger,
    load_tagger,
    load_trained,
)
from jettag.cli import main


def copy_model(trained: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained[name], tmp_path / name))


def edit_json(path: Path, **changes: object) -> None:
    content = json.loads(path.read_text())
    content.update(changes)
    path.write_text(json.dumps(content))


class RunsCode:
    """Unpickling this creates a file: the harm a weights-only load must never do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_trained_directories_load_as_networks_and_bdt(trained):
    for name in ("lstm", "gru", "cnn", "pfn", "particlenet"):
        tagger = load_trained(trained[name])
        assert isinstance(tagger, TrainedTagger)
        assert tagger.name == name
        assert not tagger.network.training
    bdt = load_trained(trained["bdt"] / "artefact.json")
    assert isinstance(bdt, TrainedBDT)
    assert bdt.features == ["jet_mass", "jet_sdmass", "tau21", "tau32", "jet_nparticles"]


@pytest.mark.parametrize("name", ["lstm", "bdt"])
def test_an_artefact_of_another_jettag_release_is_refused(name, trained, tmp_path):
    directory = copy_model(trained, name, tmp_path)
    edit_json(directory / "artefact.json", jettag_version="0.0.7")
    with pytest.raises(ArtefactError, match=r"artefact.json: written by jettag 0\.0\.7 .*jettag 0\.1"):
        load_trained(directory)


@pytest.mark.parametrize("name", ["gru", "bdt"])
def test_an_artefact_of_another_layout_is_refused(name, trained, tmp_path):
    directory = copy_model(trained, name, tmp_path)
    edit_json(directory / "artefact.json", format={"name": "jettag-model", "version": 1})
    with pytest.raises(ArtefactError, match=r"artefact format 1\); this is jettag .* \(format 2\)"):
        load_trained(directory)


@pytest.mark.parametrize(("name", "kind"), [("gru", "bdt"), ("bdt", "network"), ("gru", "forest")])
def test_an_artefact_of_another_kind_is_refused(name, kind, trained, tmp_path):
    directory = copy_model(trained, name, tmp_path)
    edit_json(directory / "artefact.json", kind=kind)
    with pytest.raises(ArtefactError, match=r"artefact\.json: (unknown kind 'forest'|artefact lacks)"):
        load_trained(directory)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x01root file?", "not a jettag model artefact \\(not JSON"),
        (b'{"model": "lstm"}', "not a jettag model artefact \\(no 'format' entry\\)"),
        (
            b'{"format": {"name": "something-else", "version": 1}}',
            "not a jettag model artefact \\(format .*expected 'jettag-model'\\)",
        ),
        (b"[1, 2, 3]", "not a jettag model artefact \\(no 'format' entry\\)"),
    ],
)
def test_a_file_that_is_not_a_model_is_refused_by_name(content, problem, tmp_path):
    path = tmp_path / "artefact.json"
    path.write_bytes(content)
    with pytest.raises(ArtefactError, match=f"^{path}: {problem}"):
        load_trained(path)


def test_missing_paths_and_directories_without_artefact_are_refused(tmp_path):
    with pytest.raises(ArtefactError, match=f"^{tmp_path}: not a training directory"):
        load_trained(tmp_path)
    with pytest.raises(ArtefactError, match=f"^{tmp_path / 'absent'}: no such file"):
        load_trained(tmp_path / "absent")


def test_weights_are_loaded_without_unpickling_objects(trained, tmp_path):
    directory = copy_model(trained, "lstm", tmp_path)
    marker = tmp_path / "code-ran"
    state = torch.load(directory / "model.pt", weights_only=True)
    torch.save({**state, "extra": RunsCode(marker)}, directory / "model.pt")
    with pytest.raises(ArtefactError, match=r"model\.pt: not a weights-only state dict"):
        load_tagger(directory)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        ({"a": 1}, "entries a are not tensors"),
        ([torch.zeros(2)], "holds a list, not a state dict"),
        ({"layers.0.weight_ih_l0": torch.zeros(2)}, "does not fit the network of"),
    ],
)
def test_weights_that_do_not_fit_are_refused(weights, problem, trained, tmp_path):
    directory = copy_model(trained, "gru", tmp_path)
    torch.save(weights, directory / "model.pt")
    with pytest.raises(ArtefactError, match=problem):
        load_tagger(directory)


def test_a_bdt_with_damaged_trees_is_refused(trained, tmp_path):
    directory = copy_model(trained, "bdt", tmp_path)
    edit_json(directory / "bdt.json", format={"name": "jettag-bdt", "version": 9})
    with pytest.raises(ArtefactError, match=r"bdt\.json: not a usable BDT .*format"):
        load_bdt_tagger(directory)


def test_the_cli_reports_an_old_model_in_one_line_and_exit_code_2(trained, generated, tmp_path, caplog):
    directory = copy_model(trained, "cnn", tmp_path)
    edit_json(directory / "artefact.json", jettag_version="0.0.7")
    output = tmp_path / "p.root"
    argv = ["predict", "--model", str(directory), "--input", str(generated["QCD"]), "--output", str(output)]
    assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"{directory / 'artefact.json'}: written by jettag 0.0.7")
    assert "\n" not in errors[0]
    assert not output.exists()
