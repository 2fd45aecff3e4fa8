"""A cluster that vanishes mid-album: `python -m app batch` (a real subprocess) makes its songs on a Ray cluster
started by `ray start --head`; while it makes the second song, every process of the cluster is killed (as if its
machine went away). That song ends with one clear line and leaves nothing in History; the third song waits for
the cluster, which is started again meanwhile, and is made there; running the album again makes the second.

This needs a cluster of its own (the module fixture's belongs to its studio, which the kill would take along).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.studio.history import History
from tests.app.conftest import refused_url
from tests.app.test_song_cli import tiny_env

from .head import Head, started_head

pytestmark = pytest.mark.timeout(600)

ONE = {"title": "One", "lyrics": "[verse]\none la la", "tags": "pop", "seconds": 1, "seed": 1}
LONG = {"title": "Long", "lyrics": "la la", "tags": "pop", "seconds": 60, "seed": 11}  # the tiny LM runs it to 60 s
THREE = {"title": "Three", "lyrics": "[verse]\nthree la la", "tags": "rock", "seconds": 1, "seed": 3}
WAIT_S = 300  # a bound on a batch run, not a speed claim


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
