"""Interrupted ingest and workflows, with real processes: a `jettag ingest` killed with SIGKILL mid-write
leaves no shard at a final path and its rerun writes the uninterrupted run's shards; a killed Snakemake
run is refused by its stale lock until unlocked, then completes; a second Snakemake run on a directory
another one holds is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import pyarrow as pa
import pytest
import uproot
import yaml

from jettag.features import build_split
from jettag.features import run as build_run
from jettag.settings import BuildSettings
from jettag.shards import ShardWriter, num_rows, partial_path
from tests.smoke import smoke_config
from tests.workflow.test_workflow import snakemake_command as base_command
from tests.workflow.test_workflow import snakemake_env

ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")

#: the shared sample this many times over: 4,000 jets, a few seconds of ingest in chunks of 500
COPIES = 5


@pytest.fixture(scope="module")
def big_input(generated: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JetClass-schema ROOT file of the shared top and QCD jets, repeated :data:`COPIES` times."""
    jets = ak.concatenate([uproot.open(path)["tree"].arrays() for path in generated.values()] * COPIES)
    particles = [name for name in jets.fields if name.startswith("part_")]
    branches = {
        "part": ak.zip({name.removeprefix("part_"): jets[name] for name in particles}),
        **{name: jets[name] for name in jets.fields if name not in particles and name != "npart"},
    }
    path = tmp_path_factory.mktemp("input") / "jets.root"
    with uproot.recreate(path) as file:
        # part_px, ... counted by npart, as in JetClass
        file.mktree(
            "tree",
            {name: array.type for name, array in branches.items()},
            field_name=lambda outer, inner: f"{outer}_{inner}",
            counter_name=lambda counted: f"n{counted}",
        )
        file["tree"].extend(branches)
    return path


def ingest_command(source: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jettag",
        "ingest",
        "--input",
        str(source),
        "--output-dir",
        str(out),
        "--summary",
        str(out / "summary.json"),
        "--settings",
        '{"signal": ["label_Tbqq"], "background": ["label_QCD"], "ingest": {"chunk_size": 500}}',
    ]


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 240) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` ends first or it takes too long."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the process ended (rc {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.01)


def table(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def test_an_ingest_killed_mid_write_leaves_no_shard_and_its_rerun_writes_the_same_shards(big_input, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(ingest_command(big_input, reference), check=True, capture_output=True)
    partials = [partial_path(out / f"{split}.arrow") for split in SPLITS]
    process = subprocess.Popen(ingest_command(big_input, out), stderr=subprocess.DEVNULL)
    try:
        # the first record batches are in: the shards are being written
        wait_for(lambda: all(p.exists() and p.stat().st_size > 0 for p in partials), process, "shard written")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert all(path.exists() for path in partials)
    assert not list(out.glob("*.arrow")), "a killed ingest left a shard at its final path"
    assert not (out / "summary.json").exists()

    subprocess.run(ingest_command(big_input, out), check=True, capture_output=True)
    assert not any(path.exists() for path in partials)
    for split in SPLITS:
        assert table(out / f"{split}.arrow").equals(table(reference / f"{split}.arrow")), split
    ours, theirs = (json.loads((d / "summary.json").read_text()) for d in (out, reference))
    assert ours["jets_read"] == theirs["jets_read"] == COPIES * 800


def test_a_build_that_fails_midway_leaves_no_shard_and_no_partial_file(
    ingested, built, tmp_path, monkeypatch
):
    """An error after the first chunks (here the third chunk's) deletes what the writers had begun, and the
    outputs of an earlier build at the same paths: they are not what the failed build was to write."""
    shards, summary = ingested
    out = tmp_path / "train"
    settings = BuildSettings.create(max_length=64, chunk_size=50)
    build_split("train", shards["train"], built / "standardisation.json", settings, out, summary)
    assert (out / "sequences.arrow").exists()
    write_chunk = build_run._write_chunk
    calls = []

    def failing(*args, **kwargs) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        write_chunk(*args, **kwargs)

    monkeypatch.setattr(build_run, "_write_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        build_split("train", shards["train"], built / "standardisation.json", settings, out, summary)
    assert len(calls) == 3
    assert not list(out.iterdir())


def write_then_fail(path: Path) -> None:
    with ShardWriter(path) as writer:
        writer.write(ak.Array({"label": [0]}))
        raise ValueError("broken")


def test_a_shard_appears_at_its_path_only_when_closed(tmp_path):
    path = tmp_path / "jets.arrow"
    with ShardWriter(path) as writer:
        writer.write(ak.Array({"label": [0, 1, 1]}))
        assert not path.exists()
        assert partial_path(path).stat().st_size > 0
    assert num_rows(path) == 3
    assert not partial_path(path).exists()
    with pytest.raises(ValueError, match="broken"):
        write_then_fail(path)
    assert not path.exists()
    assert not partial_path(path).exists()


# -- the workflow ------------------------------------------------------------------------------------------


def snakemake_command(workdir: Path, config: Path, *args: str) -> list[str]:
    # the targets before --configfile, which takes every word after it
    return base_command(workdir, "--cores", "1", *args, "--configfile", str(config))


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, config, *args)
    return subprocess.run(command, capture_output=True, text=True, env=snakemake_env(), cwd=workdir)


def in_background(workdir: Path, config: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own process group, so that a signal reaches it and its jobs as a batch system's
    would."""
    return subprocess.Popen(
        snakemake_command(workdir, config, *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=snakemake_env(),
        cwd=workdir,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture
def workflow(big_input: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The smoke configuration on :func:`big_input` (no generation): the configuration, the directory of
    the ingest outputs of that file, and the target ``summary.json`` among them."""
    smoke, config = smoke_config(tmp_path)
    smoke["inputs"] = [str(big_input)]
    smoke["ingest"] = {**smoke.get("ingest", {}), "chunk_size": 500}
    config.write_text(yaml.safe_dump(smoke))
    ingested = tmp_path / smoke["results"] / "ingest" / big_input.stem
    return config, ingested, ingested / "summary.json"


def relative(target: Path, workdir: Path) -> str:
    """A target as the rules name it: relative to the working directory."""
    return str(target.relative_to(workdir))


def locks(workdir: Path) -> list[Path]:
    return list((workdir / ".snakemake" / "locks").glob("*"))


LOCKED = "Directory cannot be locked"


@pytest.mark.slow
def test_a_killed_workflow_is_refused_until_unlocked_then_reruns_the_killed_job(workflow, tmp_path):
    config, ingested, target = workflow
    first = in_background(tmp_path, config, relative(target, tmp_path))
    try:
        wait_for(lambda: partial_path(ingested / "train.arrow").exists(), first, "ingest under way")
    finally:
        kill_group(first)  # Snakemake and its job at once, as a batch job past its time limit
    assert not list(ingested.glob("*.arrow"))

    # the stale lock stops the plain rerun, and the message says what to do
    again = snakemake(tmp_path, config, relative(target, tmp_path))
    assert again.returncode != 0
    output = again.stdout + again.stderr
    assert "LockException" in output, output[-3000:]
    assert LOCKED in output
    assert "caused by a kill signal or a power loss. It can be removed with the --unlock argument" in output
    unlock = snakemake(tmp_path, config, "--unlock", relative(target, tmp_path))
    assert unlock.returncode == 0, unlock.stderr[-3000:]

    rerun = snakemake(tmp_path, config, relative(target, tmp_path))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(target.read_text())
    assert summary["jets_read"] == COPIES * 800
    assert sum(num_rows(ingested / f"{split}.arrow") for split in SPLITS) == summary["jets_kept"]
    assert not list(ingested.glob(".*.partial"))


@pytest.mark.slow
def test_a_second_workflow_on_a_locked_directory_is_refused(workflow, tmp_path):
    config, _, target = workflow
    first = in_background(tmp_path, config, relative(target, tmp_path))
    try:
        wait_for(lambda: locks(tmp_path), first, "lock")
        # held still, so that it holds the lock however long the second run takes to start
        os.killpg(first.pid, signal.SIGSTOP)
        second = snakemake(tmp_path, config, relative(target, tmp_path))
    finally:
        kill_group(first)
    assert second.returncode != 0
    output = second.stdout + second.stderr
    assert "LockException" in output, output[-3000:]
    assert LOCKED in output
    assert "Please make sure that no other Snakemake process is trying to create the same files" in output
    assert not target.exists()
