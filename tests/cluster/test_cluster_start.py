"""Pointing Heartsong at a cluster that is not there: one clear line at start, before any work (the real CLI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import require_ray

ROOT = Path(__file__).resolve().parents[2]


def test_an_unreachable_cluster_is_one_clear_line_at_start(tmp_path: Path) -> None:
    require_ray()
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nothing_there = (f"No Ray cluster answers at HEARTSONG_RAY_ADDRESS=127.0.0.1:{port} (127.0.0.1:{port}: Connection "
                     "refused). Start one (`ray start --head`), fix the address, or leave the setting empty to make the "
                     "music on this computer.")
    # Through Ray Client (`ray://`): the same line, its port asked first as well.
    client_nothing_there = nothing_there.replace("ADDRESS=127.0.0.1", "ADDRESS=ray://127.0.0.1")
    for address, line in ((f"127.0.0.1:{port}", nothing_there), (f"ray://127.0.0.1:{port}", client_nothing_there)):
        env = {**os.environ, "HEARTSONG_RAY_ADDRESS": address, "HEARTSONG_DATA_DIR": str(tmp_path / "data")}
        done = subprocess.run([sys.executable, "-m", "app", "song", "a test song", "--lyrics-file", "/dev/null",
                               "--tags", "pop", "--out", str(tmp_path / "song.wav"), "--env-file", "/dev/null"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip().splitlines() == [f"error: {line}"]
        assert not (tmp_path / "song.wav").exists() and not list((tmp_path / "data").rglob("song.json"))
