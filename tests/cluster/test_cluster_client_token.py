"""Ray Client to a token-protected cluster (Ray 2.60's default): `python -m app batch` (a real subprocess, so it
can read RAY_AUTH_MODE from its start, as a studio does) with `HEARTSONG_RAY_ADDRESS=ray://HOST:PORT` and
`RAY_AUTH_MODE=token` makes its song on a head started by `ray start --head` with token authentication, through
the bridge, and keeps it. The other Ray Client tests run their studio in the test process, on a head without
a token (Ray reads its authentication mode once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.studio.history import History
from tests.app.conftest import refused_url
from tests.app.test_song_cli import tiny_env

from .head import started_head

pytestmark = pytest.mark.timeout(300)
SONG = {"title": "Tollgate", "lyrics": "[verse]\ntoll la la", "tags": "pop", "seconds": 1, "seed": 5}
WAIT_S = 240  # a bound on the run, not a speed claim


def batch(tmp_path: Path, address: str) -> subprocess.CompletedProcess[str]:
    env = tiny_env(tmp_path, refused_url()) | {"RAY_AUTH_MODE": "token", "HEARTSONG_RAY_REPLICAS": "1"}
    if address:
        env["HEARTSONG_RAY_ADDRESS"] = address
    return subprocess.run([sys.executable, "-m", "app", "batch", "album.jsonl", "--out", "out", "--env-file",
                           os.devnull], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT_S)


def test_a_song_through_ray_client_on_a_token_protected_cluster_is_kept(tmp_path: Path) -> None:
    for folder in ("cluster", "local"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "album.jsonl").write_text(json.dumps(SONG) + "\n")
    with started_head(auth="token") as head:
        done = batch(tmp_path / "cluster", f"ray://127.0.0.1:{head.client_port}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "[1/1] 01 Tollgate: kept: 01-tollgate", done.stdout
    assert "Traceback" not in done.stderr
    (song,) = History(tmp_path / "cluster" / "data").search()
    assert song.takes[0].seed == 5

    local = batch(tmp_path / "local", "")  # the same line on this computer's pipeline: the same song
    assert local.returncode == 0, local.stdout + local.stderr
    (alone,) = History(tmp_path / "local" / "data").search()
    assert np.array_equal(np.load(song.takes[0].tokens), np.load(alone.takes[0].tokens))
