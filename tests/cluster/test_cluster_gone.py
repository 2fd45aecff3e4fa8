"""A cluster that goes away and stays away, then comes back: a studio joined to a `ray start --head` cluster keeps a
song, the cluster is killed (every process of it), and

- a re-decode of the kept take waits `ray_reconnect_s` for the cluster, then ends with one line and leaves the
  take exactly as it was (the cluster is gone for good, as far as that re-decode knows);
- a Stop while a re-decode waits for the cluster ends it at once, the take again untouched;
- once the cluster is started again, the next re-decode joins it, starts the workers there and makes the take's
  very audio again.

This needs a cluster of its own (the module fixture's belongs to its studio, which the kill would take along).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.cluster.errors import ClusterUnreachable
from app.studio.errors import JobCancelled
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet
from heartmula_core.audio import read_audio
from tests.app.conftest import tiny_settings

from .head import Head, tokenless_head  # noqa: F401 (a fixture)
from .test_cluster_songs import Run, wait_for

pytestmark = pytest.mark.timeout(600)

PATIENCE_S = 8.0  # HEARTSONG_RAY_RECONNECT_S for this studio: how long a song waits for its lost cluster
SHEET = Sheet(title="Stays", lyrics="[verse]\nstay la la", tags="pop", seconds=1.0)


@pytest.fixture(scope="module")
def head(tokenless_head: Head) -> Head:
    return tokenless_head


@pytest.fixture(scope="module")
def studio(head: Head, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from app.studio.service import Studio

    settings = tiny_settings(tmp_path_factory.mktemp("data")).model_copy(update={
        "ray_address": f"127.0.0.1:{head.port}", "ray_replicas": 1, "threads": 1, "ray_reconnect_s": PATIENCE_S})
    studio = Studio(settings)
    try:
        yield studio
    finally:
        studio.music.close()


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file of a song's folder and its bytes: what "left exactly as it was" compares."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_cluster_gone_for_good_ends_a_redecode_in_one_line_and_its_return_lets_the_next_one_run(
    studio, head: Head
) -> None:
    song = next(e.song for e in studio.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=5), None, "one")
                if isinstance(e, Finished))
    folder = Path(song.takes[0].audio).parent
    before = folder_state(folder)
    heard, rate = read_audio(song.takes[0].audio)

    assert head.kill() > 3
    wait_for(lambda: studio.music.link.stale, "the studio noticed its cluster is gone")  # its watch, every second

    asked = time.monotonic()
    gone = Run(lambda: studio.remake_audio(song.id, 1, "gone"))
    gone.thread.join(PATIENCE_S + 120)
    assert not gone.thread.is_alive(), "the re-decode never ended"
    assert time.monotonic() - asked >= PATIENCE_S  # it gave the cluster its time to come back
    assert isinstance(gone.error, ClusterUnreachable), gone.error
    address = f"127.0.0.1:{head.port}"
    assert str(gone.error).startswith(
        f"The Ray cluster was lost and has not come back within {PATIENCE_S:g} s. No Ray cluster answers at "
        f"HEARTSONG_RAY_ADDRESS={address} ("), gone.error
    assert "\n" not in str(gone.error)
    assert folder_state(folder) == before

    stopped = Run(lambda: studio.remake_audio(song.id, 1, "stopped"))
    wait_for(lambda: any(isinstance(e, Progress) and e.phase == "redecoding" for e in stopped.events),
             "the second re-decode waiting for the cluster")
    assert studio.stop("stopped") == 1
    stopped.thread.join(30)  # the wait hears a Stop within its poll (2 s), not after its patience
    assert not stopped.thread.is_alive(), "Stop did not end the wait for the cluster"
    assert isinstance(stopped.error, JobCancelled), stopped.error
    assert folder_state(folder) == before

    head.start()  # the same port: the cluster is back
    take = studio.redecode(song.id, 1)
    again, again_rate = read_audio(take.audio)
    assert again_rate == rate
    assert np.abs(again - heard).max() < 1e-3  # the same tokens and seed on the new workers: the same audio (16-bit)
    assert [s.id for s in studio.search()] == [song.id]  # nothing else was kept along the way
