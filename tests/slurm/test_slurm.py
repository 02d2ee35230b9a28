"""The smoke workflow on a real one-node Slurm cluster through workflow/profiles/slurm: every job is a Slurm
job, in the partition the profile names, a job that dies is retried, and the trained taggers (and the
report, once there is one) are those of a local run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.smoke import smoke_config

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "workflow" / "profiles"

pytestmark = pytest.mark.slow

#: the job whose process the test kills once, to see the profile's retries at work
KILLED = {"rule": "generate", "process": "QCD", "seed": 1}


class Snakemake:
    """snakemake started in ``workdir`` from this interpreter's environment (with `jettag` on PATH, which
    Slurm jobs inherit), its output going to ``workdir/snakemake.out``."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        env = {**os.environ, "PATH": path, **(env or {})}
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
        self.args = [*command, "--directory", str(workdir), *args]
        self.log = workdir / "snakemake.out"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float) -> subprocess.CompletedProcess:
        """Its exit status and output. Past ``timeout`` it is interrupted as a user would (Ctrl-C: it cancels
        its Slurm jobs), and the test fails."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            pytest.fail(f"{' '.join(self.args)} ran past {timeout} s:\n{self.log.read_text()[-5000:]}")
        return subprocess.CompletedProcess(self.args, self.process.returncode, self.log.read_text(), "")


def this_cluster_profile(tmp_path: Path) -> Path:
    """A profile laid over workflow/profiles/slurm for this cluster, whose one node has a few CPUs and no GPU.

    The account and the CPU partition are set where a user sets them; the training jobs keep their `gpu`
    partition but ask for no GPU, and for the threads and memory of the local run, so that they reproduce its
    numbers. Status checks start after 2 s instead of 40 (the jobs here take seconds)."""
    real = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    train = dict(real["set-resources"]["train"])
    for gpu_only in ("gpu", "gpu_model"):
        train.pop(gpu_only, None)
    layer = {
        "default-resources": {**real["default-resources"], "slurm_account": "root", "slurm_partition": "cpu"},
        "set-resources": {**real["set-resources"], "train": {**train, "mem_mb": 3000}},
        "set-threads": {**real["set-threads"], "train": 1},
        "slurm-init-seconds-before-status-checks": 2,
    }
    directory = tmp_path / "this-cluster"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(layer, sort_keys=False))
    return directory


class KillOnce(threading.Thread):
    """Kills the `jettag generate` process of ``KILLED`` in its first Slurm job, as an out-of-memory kill or a
    crash would: the job fails, and Snakemake must submit it again."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.comment = f"rule_{KILLED['rule']}_wildcards_{KILLED['process']}_{KILLED['seed']}"
        self.job: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for job in self._running_jobs():
                pid = self._generate_process(job)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    self.job = job
                    return
            time.sleep(0.2)

    def _running_jobs(self) -> list[str]:
        squeue = subprocess.run(
            ["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"], capture_output=True, text=True
        )
        rows = (line.split("|", 1) for line in squeue.stdout.splitlines() if "|" in line)
        return [job for job, comment in rows if comment == self.comment]

    @staticmethod
    def _generate_process(job: str) -> int | None:
        pids = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True).stdout
        for pid in (int(line.split()[0]) for line in pids.splitlines()[1:] if line.split()):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            jettag = any(Path(arg).name == "jettag" for arg in argv[:2])
            if jettag and "generate" in argv and argv[argv.index("--process") + 1] == KILLED["process"]:
                return pid
        return None


def slurm_jobs(run_id: str, since: datetime) -> list[dict[str, str]]:
    """The accounting records (sacct) of the jobs the run with this SLURM run ID submitted."""
    fields = ["JobIDRaw", "Partition", "Account", "State", "Comment", "ElapsedRaw"]
    result = subprocess.run(
        ["sacct", "--allocations", "--parsable2", "--noheader", f"--name={run_id}",
         f"--starttime={since:%Y-%m-%dT%H:%M:%S}", f"--format={','.join(fields)}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines()]


def rule_of(comment: str) -> str:
    """The rule name in the comment the executor gives each job: rule_<rule>[_wildcards_<values>]."""
    return re.sub(r"^rule_", "", comment).split("_wildcards_")[0]


def submitted_jobs(output: str) -> dict[str, int]:
    """Jobs per rule that a run sent to Slurm: its 'Job stats' table, less the rules it ran itself
    (printed as `localrule`, like `all`)."""
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    jobs = {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}
    local = set(re.findall(r"^localrule (\w+):$", output, flags=re.MULTILINE))
    return {rule: count for rule, count in jobs.items() if rule not in local}


def figures(results: Path) -> dict[str, object]:
    """What must not depend on where the jobs ran: each training's best validation metrics (networks on the
    CPU are deterministic per seed), the BDT's validation AUC, and, where the report exists, each model's AUC
    and background rejections in it (its timings and provenance may differ)."""
    found: dict[str, object] = {}
    for path in sorted(results.glob("train/*/seed*/artefact.json")):
        artefact = json.loads(path.read_text())
        model, seed = path.parent.parent.name, path.parent.name
        found[f"{model}/{seed}"] = artefact["metrics"]["val_auc"] if model == "bdt" else artefact["best"]
    report = results / "report" / "metrics.json"
    if report.exists():
        compared = {key: value for key, value in flatten(json.loads(report.read_text())).items()
                    if re.search(r"(^|/)[^/]*(auc|rejection)[^/]*(/|$)", key)}  # fmt: skip
        assert compared, f"{report} has no auc or rejection values to compare"
        found |= {f"report/{key}": value for key, value in compared.items()}
    return found


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    """{'a/b/0': leaf} for every leaf of nested dicts and lists."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    flat: dict[str, object] = {}
    for key, value in items:
        flat |= flatten(value, f"{prefix}/{key}" if prefix else str(key))
    return flat


def test_smoke_workflow_runs_as_slurm_jobs_and_trains_what_a_local_run_trains(slurm_cluster, tmp_path):
    smoke, config = smoke_config(tmp_path)
    real = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert real["executor"] == "slurm"
    assert real["retries"] >= 1
    assert real["set-resources"]["train"]["gpu"] >= 1  # the real profile asks for GPUs, this cluster has none
    local_results, slurm_results = tmp_path / "local" / "results", tmp_path / "slurm" / "results"
    slurm_args = ["--profile", str(PROFILES / "slurm"), "--profile", str(this_cluster_profile(tmp_path))]
    slurm_args += ["--configfile", str(config), "--config", f"results={slurm_results}"]

    # the local run goes on beside the Slurm run: the cluster's jobs leave the cores idle between them
    local = Snakemake(
        tmp_path / "local", "--profile", str(PROFILES / "local"), "--configfile", str(config),
        "--config", f"results={local_results}",
    )  # fmt: skip
    since = datetime.now() - timedelta(minutes=5)
    killer = KillOnce()
    killer.start()
    try:
        run = Snakemake(tmp_path / "slurm", *slurm_args).wait(timeout=1800)
    finally:
        killer.stop.set()
    assert run.returncode == 0, run.stdout[-8000:]
    local_run = local.wait(timeout=900)
    assert local_run.returncode == 0, local_run.stdout[-5000:]

    # every job ran as a Slurm job, in the partition and with the account the profile gave it
    run_id = re.search(r"SLURM run ID: (\S+)", run.stdout).group(1)
    jobs = slurm_jobs(run_id, since)
    completed = [job for job in jobs if job["State"] == "COMPLETED"]
    expected = submitted_jobs(run.stdout)
    assert {"generate", "ingest", "build", "train", "train_bdt"} <= set(expected), expected
    ran = {rule: sum(rule_of(job["Comment"]) == rule for job in completed) for rule in expected}
    assert ran == expected, jobs
    for job in completed:
        assert job["Partition"] == ("gpu" if rule_of(job["Comment"]) == "train" else "cpu"), job
        assert job["Account"] == "root", job

    # the job whose process was killed failed, and was submitted again: nothing else failed
    assert killer.job is not None, "the generate job was never seen running"
    failed = [job for job in jobs if job["State"] != "COMPLETED"]
    assert [(job["JobIDRaw"], job["State"]) for job in failed] == [(killer.job, "FAILED")], jobs
    assert any(job["Comment"] == failed[0]["Comment"] for job in completed)

    slurm_figures, local_figures = figures(slurm_results), figures(local_results)
    assert len(slurm_figures) >= len(smoke["train"]["models"])
    assert slurm_figures == local_figures

    # run again, it finds everything made and submits nothing
    again = Snakemake(tmp_path / "slurm", *slurm_args).wait(timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "Nothing to be done" in again.stdout
    assert "submitted with SLURM jobid" not in again.stdout


def test_an_unreachable_controller_stops_the_run_before_any_job_with_a_clear_message(slurm_cluster, tmp_path):
    """With the Slurm commands installed but no controller where the configuration points, the run stops
    at its start, says that the cluster does not answer, and submits nothing."""
    conf = Path("/etc/slurm/slurm.conf").read_text()
    nowhere = re.sub(r"(?m)^SlurmctldPort=.*\n?", "", conf) + "SlurmctldPort=9\n"
    (tmp_path / "slurm.conf").write_text(nowhere)
    _, config = smoke_config(tmp_path)
    run = Snakemake(
        tmp_path / "run", "--profile", str(PROFILES / "slurm"), "--configfile", str(config),
        "--config", f"results={tmp_path / 'results'}", env={"SLURM_CONF": str(tmp_path / "slurm.conf")},
    ).wait(timeout=300)  # fmt: skip
    assert run.returncode != 0
    unreachable = "the Slurm cluster is unreachable: its controller does not answer"
    assert unreachable in run.stdout, run.stdout[-3000:]
    assert "nothing was submitted" in run.stdout
    assert "submitted with SLURM jobid" not in run.stdout
    assert not (tmp_path / "results" / "generate").exists()
