"""A one-machine Ray cluster started by `ray start --head` in a folder of its own, for the tests that need a
cluster apart from their studio (one they kill, one they join through Ray Client), and its processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import process_table, require_ray

RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]  # `.venv/bin/ray`'s first line may name another folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    """A one-machine Ray cluster (2 CPUs, its Ray Client server on `client_port`), killed and started again.
    `auth`: Ray's token authentication ("token", Ray 2.60's default, or "disabled")."""

    def __init__(self, auth: str = "token") -> None:
        self.port = free_port()
        self.client_port = free_port()
        # Short: Ray's sockets live in it, and a Unix socket's path is at most 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="hs-ray-", dir="/tmp"))
        self.env = {**os.environ, "RAY_AUTH_MODE": auth}

    def start(self) -> None:
        subprocess.run([*RAY_CLI, "start", "--head", f"--port={self.port}", f"--temp-dir={self.folder}",
                        "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                        f"--ray-client-server-port={self.client_port}", f"--dashboard-agent-listen-port={free_port()}"],
                       env=self.env, check=True, capture_output=True, timeout=120)

    def kill(self) -> int:
        """SIGKILL every process of the cluster (its own, found by its folder or its head's port, and the
        workers they started); how many there were."""
        pids = processes_under(self.folder, f":{self.port} ")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


@contextlib.contextmanager
def started_head(auth: str = "token") -> Iterator[Head]:
    """A head started for the block (`auth`: Ray's RAY_AUTH_MODE for it), killed and its folder removed after."""
    require_ray()
    head = Head(auth)
    head.start()
    try:
        yield head
    finally:
        head.kill()
        shutil.rmtree(head.folder, ignore_errors=True)


def process_auth_mode() -> str:
    """The authentication mode Ray speaks in this process now: RAY_AUTH_MODE, or "disabled" when unset. It is not
    fixed for the process: `ray.init()` starting a cluster here (a `local` studio) sets RAY_AUTH_MODE=token in it,
    with no way back, and from then on the process demands a token that a token-less cluster's workers never send:
    its songs' replies never arrive (the song hangs; a plain call still works)."""
    return os.environ.get("RAY_AUTH_MODE", "disabled").lower()


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """A head for a studio that runs in the test process, in the process's authentication mode (whichever the
    cluster tests before it left: token after a `local` studio, else none). The mode is not what these tests are
    about; a studio given a token-protected cluster in a fresh process is test_cluster_client_token's."""
    with started_head(auth=process_auth_mode()) as head:
        yield head


def processes_under(folder: Path, address: str) -> set[int]:
    """The processes whose command line names `folder` or `address` (Ray Client's servers name only the head's
    address), and all their descendants (the workers, whose command line Ray replaces with a title)."""
    table = process_table()
    parents = {pid: parent for pid, (_, parent) in table.items()}
    named = {pid for pid, (command, _) in table.items()
             if pid != os.getpid() and (str(folder) in command or address in command)}  # not the caller
    found = set(named)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more
