"""A real one-node Slurm cluster for the tests in this directory, set up by cluster.sh beside this file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_SH = Path(__file__).with_name("cluster.sh")


def cluster(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER_SH), command], capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """Install (Debian packages) and start munged, MariaDB, slurmdbd, slurmctld and slurmd; stop them again
    at the end of the session, unless they ran before it."""
    possible = cluster("can-install")
    if possible.returncode != 0:
        pytest.skip(f"no Slurm cluster on this machine: {possible.stdout.strip() or possible.stderr.strip()}")
    ran_before = cluster("status").returncode == 0
    started = cluster("start")
    assert started.returncode == 0, f"cluster.sh start failed:\n{started.stdout}\n{started.stderr}"
    yield
    if not ran_before:
        stopped = cluster("stop")
        assert stopped.returncode == 0, f"cluster.sh stop failed:\n{stopped.stdout}\n{stopped.stderr}"
