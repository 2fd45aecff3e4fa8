"""One local Ray cluster for the cluster tests: this computer's CPUs, two `MusicWorker` replicas on the tiny
checkpoints, and a Studio whose music goes to them (`HEARTSONG_RAY_ADDRESS=local`).

Without Ray (the optional extra) the tests skip, saying so; under CI (`CI=true`) they fail instead, so CI cannot
pass with the cluster layer gone.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import tiny_settings
from tests.tools import missing_extra

REPLICA_TITLE = "ServeReplica:heartsong:MusicWorker"  # what Ray names a worker's process


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        missing_extra("ray[serve]", "./install.sh --ray", "the Ray cluster tests (tests/cluster) are not run")


@pytest.fixture(scope="module")
def cluster_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Studio on a local two-worker Ray cluster, for the whole module; the cluster stops after it."""
    require_ray()
    from app.studio.service import Studio

    settings = tiny_settings(tmp_path_factory.mktemp("data")).model_copy(
        update={"ray_address": "local", "ray_replicas": 2, "threads": 1})
    studio = Studio(settings)
    try:
        yield studio
    finally:
        studio.music.close()


def worker_pids() -> list[int]:
    """The processes of the music workers now running on this computer (Ray titles them after the replica)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if REPLICA_TITLE in command:
            pids.append(int(proc.name))
    return pids


def kill(pid: int) -> None:
    """SIGKILL: the worker dies as if its machine went away, with no chance to say goodbye."""
    os.kill(pid, signal.SIGKILL)


def running_workers() -> int:
    """How many music workers the cluster reports running (Serve's own count)."""
    from ray import serve

    app = serve.status().applications.get("heartsong")
    if app is None or "MusicWorker" not in app.deployments:
        return 0
    return int(app.deployments["MusicWorker"].replica_states.get("RUNNING", 0))
