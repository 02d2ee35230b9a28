"""configs/toplandscape.yaml end to end on small files of the TopLandscape layout: their own split is kept."""

from __future__ import annotations

import json

import awkward as ak
import pytest
import uproot
import yaml

from tests.ingest.conftest import write_toplandscape_hdf5
from tests.workflow.test_workflow import ROOT, snakemake

pytestmark = pytest.mark.slow

#: jets in the train, val and test files
SIZES = {"train": 480, "val": 160, "test": 160}


def test_the_toplandscape_configuration_runs_on_train_val_and_test_files(generated, tmp_path):
    arrays = ak.concatenate([uproot.open(generated[p])["tree"].arrays() for p in ("Tbqq", "QCD")])
    arrays = arrays[ak.num(arrays.part_px) <= 200]
    arrays = arrays[ak.argsort(arrays.jet_phi)]  # top and QCD mixed in every file
    files, start = [], 0
    for split, n in SIZES.items():
        part = arrays[start : start + n]
        start += n
        files.append(
            str(write_toplandscape_hdf5(tmp_path / f"{split}.h5", part, part.label_Tbqq.to_numpy() == 1))
        )
    # the benchmark's own networks are sized for a GPU: a CPU test trains the small PFN and the BDT, briefly
    small = {
        "results": "results/toplandscape",
        "train": {"models": ["pfn", "bdt"], "model_dir": str(ROOT / "configs/models"), "seeds": [1],
                  "max_epochs": 2, "batch_size": 64, "threads": 1, "num_workers": 0},
        "evaluate": {"bootstrap": 20},
    }  # fmt: skip
    override = tmp_path / "small.yaml"
    override.write_text(yaml.safe_dump(small))
    inputs = "inputs=[" + ",".join(files) + "]"
    result = snakemake(
        tmp_path, "--cores", "2", "--configfile", str(ROOT / "configs/toplandscape.yaml"), str(override),
        "--config", inputs,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]

    out = tmp_path / "results/toplandscape"
    ingest = json.loads((out / "ingest/summary.json").read_text())
    assert {s: c["jets"] for s, c in ingest["splits"].items()} == SIZES  # not re-split by hash
    metrics = json.loads((out / "report/metrics.json").read_text())
    assert sum(metrics["test_jets"].values()) == SIZES["test"]
    assert set(metrics["models"]) == {"pfn", "bdt"}
    assert metrics["models"]["bdt"]["auc"] > 0.8
    html = (out / "report/report.html").read_text()
    assert "Compared with published results" in html
    assert "arXiv:2202.03772" in html  # ParticleNet's published numbers beside ours
    assert not (tmp_path / "results/generate").exists()  # nothing generated: the files are the sample
