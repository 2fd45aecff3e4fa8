"""A cluster that vanishes mid-album: `python -m app batch` (a real subprocess) makes its songs on a Ray cluster
started by `ray start --head`; while it makes the second song, every process of the cluster is killed (as if its
machine went away). That song ends with one clear line and leaves nothing in History; the third song waits for
the cluster, which is started again meanwhile, and is made there; running the album again makes the second.

This needs a cluster of its own (the module fixture's belongs to its studio, which the kill would take along).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.studio.history import History
from tests.app.conftest import refused_url
from tests.app.test_song_cli import tiny_env

from .conftest import require_ray

pytestmark = pytest.mark.timeout(600)

RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]
ONE = {"title": "One", "lyrics": "[verse]\none la la", "tags": "pop", "seconds": 1, "seed": 1}
LONG = {"title": "Long", "lyrics": "la la", "tags": "pop", "seconds": 60, "seed": 11}  # the tiny LM runs it to 60 s
THREE = {"title": "Three", "lyrics": "[verse]\nthree la la", "tags": "rock", "seconds": 1, "seed": 3}
WAIT_S = 300  # a bound on a batch run, not a speed claim


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    """A one-machine Ray cluster started with `ray start --head` in a folder of its own, killed and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        # Short: Ray's sockets live in it, and a Unix socket's path is at most 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="hs-ray-", dir="/tmp"))
        self.env = {**os.environ, "RAY_AUTH_MODE": "token"}

    def start(self) -> None:
        subprocess.run([*RAY_CLI, "start", "--head", f"--port={self.port}", f"--temp-dir={self.folder}",
                        "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                        f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}"],
                       env=self.env, check=True, capture_output=True, timeout=120)

    def kill(self) -> int:
        """SIGKILL every process of the cluster (its own, found by its folder, and the workers they started);
        how many there were."""
        pids = processes_under(self.folder)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def processes_under(folder: Path) -> set[int]:
    """The processes whose command line names `folder`, and all their descendants (the workers, whose command
    line Ray replaces with a title)."""
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
        if str(folder) in command:
            named.add(int(proc.name))
    found = set(named)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


@contextlib.contextmanager
def started_head(auth: str = "token") -> Iterator[Head]:
    """A head started for the block (`auth`: Ray's RAY_AUTH_MODE for it), killed and its folder removed after."""
    require_ray()
    head = Head()
    head.env["RAY_AUTH_MODE"] = auth
    head.start()
    try:
        yield head
    finally:
        head.kill()
        shutil.rmtree(head.folder, ignore_errors=True)


@pytest.fixture
def head() -> Iterator[Head]:
    with started_head() as head:
        yield head


def batch(tmp_path: Path, head: Head) -> subprocess.Popen[str]:
    env = tiny_env(tmp_path, refused_url()) | {"RAY_AUTH_MODE": "token", "HEARTSONG_RAY_REPLICAS": "1",
                                               "HEARTSONG_RAY_ADDRESS": f"127.0.0.1:{head.port}"}
    return subprocess.Popen([sys.executable, "-m", "app", "batch", "album.jsonl", "--out", "out", "--env-file",
                             os.devnull], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    watchdog = threading.Timer(WAIT_S, proc.kill)
    watchdog.start()
    try:
        return proc.communicate()
    finally:
        watchdog.cancel()


def test_a_cluster_lost_mid_song_costs_that_song_and_the_album_goes_on_when_it_is_back(
    tmp_path: Path, head: Head
) -> None:
    (tmp_path / "album.jsonl").write_text("".join(json.dumps(song) + "\n" for song in (ONE, LONG, THREE)))
    proc = batch(tmp_path, head)
    seen = []
    for line in proc.stdout:  # type: ignore[union-attr]
        seen.append(line)
        if line.startswith("[1/3] 02 Long: Making the music"):  # its worker is making tokens
            break
    assert head.kill() > 3, "".join(seen)
    address = f"127.0.0.1:{head.port}"
    failed = (f"[1/3] 02 Long: failed (line 2): The Ray cluster at {address} stopped making this song (its head "
              "stopped answering); nothing was kept. Check the cluster (`ray status`) and try again.\n")
    for line in proc.stdout:  # type: ignore[union-attr]
        seen.append(line)
        if line == failed:
            break
    head.start()  # after the song failed: the same port, a new cluster (a head back at once is not told apart)
    rest, err = finish(proc)
    out = "".join(seen) + rest
    assert proc.returncode == 1, out + err
    assert failed in seen, out + err
    assert out.splitlines()[-1] == "[2/3] 03 Three: kept: 03-three", out
    assert "Traceback" not in err and "Traceback" not in out
    assert err.splitlines()[-1] == ("2 of 3 songs are kept in out; run the same command again to retry the 1 that "
                                    "failed: python -m app batch album.jsonl --out out")
    history = History(tmp_path / "data")
    assert sorted(song.takes[0].seed for song in history.search()) == [1, 3]
    assert not list((tmp_path / "data" / "songs").glob(".tmp-*"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == ["01-one", "03-three"]

    again = batch(tmp_path, head)  # on the cluster that came back, as the line said
    rest, err = finish(again)
    assert again.returncode == 0, rest + err
    assert rest.splitlines()[:2] == ["[1/3] 01 already kept: 01-one", "[2/3] 03 already kept: 03-three"]
    assert rest.splitlines()[-1] == "[3/3] 02 Long: kept: 02-long"
    assert sorted(song.takes[0].seed for song in history.search()) == [1, 3, 11]
