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

from .conftest import require_ray

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


@pytest.fixture(scope="module")
def tokenless_head() -> Iterator[Head]:
    """A module's head without a token, for a studio in the test process: Ray reads its authentication mode once
    per process, when it is first imported, and the cluster tests share the process. (A studio in a process of
    its own joins a token-protected head with RAY_AUTH_MODE=token: test_cluster_client_token.py.)"""
    with started_head(auth="disabled") as head:
        yield head


def processes_under(folder: Path, address: str) -> set[int]:
    """The processes whose command line names `folder` or `address` (Ray Client's servers name only the head's
    address), and all their descendants (the workers, whose command line Ray replaces with a title)."""
    parents: dict[int, int] = {}
    named: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():  # not the caller, whatever its command
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if str(folder) in command or address in command:
            named.add(int(proc.name))
    found = set(named)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more
