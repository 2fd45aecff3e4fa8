"""One local Ray cluster for the cluster tests: this computer's CPUs, two `MusicWorker` replicas on the tiny
checkpoints, and a Studio whose music goes to them (`HEARTSONG_RAY_ADDRESS=local`).

Without Ray (the optional extra) the tests skip, saying so; under CI (`CI=true`) they fail instead, so CI cannot
pass with the cluster layer gone.

The modules share one process, in any order. A `local` studio's `ray.init()` leaves the process in Ray's token
mode for good, so the clusters started by `ray start` that a studio in this process joins speak the process's mode
(head.py): a token-mode process drops a token-less cluster's streamed replies, and its first song hung (found when
test_cluster_gone.py ran after test_cluster_queue.py, on Ray 2.60).
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


def process_table() -> dict[int, tuple[str, int]]:
    """Every process on this computer: its command line and its parent's pid (one gone meanwhile is left out)."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            table[int(proc.name)] = (command, int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return table


def worker_pids(owner: int | None = None) -> list[int]:
    """The processes of the music workers of the cluster `owner` (default: this process) started with
    `local` (Ray's processes are its children; another cluster on the same computer, say another test run's,
    is not counted). Ray titles a worker's process after its replica."""
    table = process_table()
    parents = {pid: parent for pid, (_, parent) in table.items()}
    return sorted(pid for pid, (command, _) in table.items()
                  if REPLICA_TITLE in command and descends_from(pid, owner or os.getpid(), parents))


def descends_from(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    """Whether process `pid` is a descendant of `ancestor` (`parents`: each process's parent)."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        pid = parents.get(pid, 0)
        if pid == ancestor:
            return True
    return False


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
