"""A cluster lost while a song waits in its queue: `python -m app batch --parallel 2` (a real subprocess) on a
one-worker cluster started by `ray start --head`; one song holds the worker, the other waits its turn in the
cluster's queue; every process of the cluster is killed. Both songs end as a song on a lost cluster ends (one
line each, nothing in History): the waiting one does not wait for ever for a turn that cannot come.

This needs a cluster of its own (the module fixture's belongs to its studio, which the kill would take along).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.studio.history import History
from tests.app.conftest import refused_url
from tests.app.test_song_cli import tiny_env

from .test_cluster_lost import LONG, finish, started_head

pytestmark = pytest.mark.timeout(600)

ALSO_LONG = {**LONG, "title": "Also Long"}  # the same prompt and seed: the tiny LM runs both to 60 s


def test_a_cluster_lost_while_a_song_waits_in_its_queue_ends_that_song_too(tmp_path: Path) -> None:
    (tmp_path / "album.jsonl").write_text("".join(json.dumps(song) + "\n" for song in (LONG, ALSO_LONG)))
    with started_head() as head:
        address = f"127.0.0.1:{head.port}"
        env = tiny_env(tmp_path, refused_url()) | {"RAY_AUTH_MODE": "token", "HEARTSONG_RAY_REPLICAS": "1",
                                                   "HEARTSONG_RAY_ADDRESS": address}
        proc = subprocess.Popen([sys.executable, "-m", "app", "batch", "album.jsonl", "--out", "out", "--parallel",
                                 "2", "--env-file", os.devnull], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        seen: list[str] = []
        making = waiting = False
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            making = making or ": Making the music" in line
            waiting = waiting or line.endswith(": Waiting for the music engine: 1 song ahead of yours\n")
            if making and waiting:  # one song on the worker, the other in the cluster's queue
                break
        assert making and waiting, "".join(seen) + proc.stderr.read()  # type: ignore[union-attr]
        assert head.kill() > 3
        rest, err = finish(proc)
    out = "".join(seen) + rest
    assert proc.returncode == 1, out + err
    why = (f"failed (line {{}}): The Ray cluster at {address} stopped making this song (its head stopped answering); "
           "nothing was kept. Check the cluster (`ray status`) and try again.")
    for number, song in enumerate((LONG, ALSO_LONG), start=1):
        assert any(line.endswith(f"0{number} {song['title']}: {why.format(number)}") for line in out.splitlines()), out
    assert "Traceback" not in err and "Traceback" not in out
    assert History(tmp_path / "data").search() == []
