"""A studio joined through Ray Client (`HEARTSONG_RAY_ADDRESS=ray://HOST:PORT`): a head started by `ray start
--head` with its Ray Client server, two `MusicWorker` replicas on the tiny checkpoints, and a Studio that is not
a driver of that cluster, so its songs stream through its bridge actor (app/cluster/bridge.py). A song lands in
History with its sheet and seeds and is the song this computer's pipeline makes, heard as it is made; a
re-decode and Unload go to the workers; Stop reaches the worker; a worker killed mid-song costs a retry; its
workers stopped mid-song, or the cluster vanishing, end the song with one line. An unreachable `ray://` address
is test_cluster_start's.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from app.cluster.errors import ClusterLost
from app.studio.engines import PipelineMusicMaker
from app.studio.errors import JobCancelled
from app.studio.jobs import Finished, Listening, MusicSettings, Progress, TakeAudio
from heartmula_core.audio import read_audio
from heartmula_core.request import variant_seed
from tests.app.conftest import tiny_settings

from .conftest import kill
from .head import Head, tokenless_head  # noqa: F401 (a fixture)
from .test_cluster_songs import LONG_MUSIC, LONG_SHEET, MUSIC, SHEETS, WAIT_S, compose, wait_for

pytestmark = pytest.mark.timeout(300)

SHORT_SHEET, SHORT_MUSIC = dataclasses.replace(SHEETS[2], seconds=1.0), MusicSettings(variants=1, seed=9)


@pytest.fixture(scope="module")
def head(tokenless_head: Head) -> Head:
    return tokenless_head


@pytest.fixture(scope="module")
def client_studio(head: Head, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Studio whose music goes to `head`'s cluster through its Ray Client server."""
    from app.studio.service import Studio

    settings = tiny_settings(tmp_path_factory.mktemp("data")).model_copy(
        update={"ray_address": f"ray://127.0.0.1:{head.client_port}", "ray_replicas": 2, "threads": 1})
    studio = Studio(settings)
    try:
        yield studio
    finally:
        studio.music.close()  # leaves the process free for the next module's cluster


def bridge_calls(studio) -> int:
    """How many calls the studio's bridge on the cluster still holds."""
    import ray

    return ray.get(studio.music.link.bridge.calls.remote())


def test_a_song_through_ray_client_is_heard_as_it_is_made_and_kept_with_its_sheet_and_seeds(client_studio) -> None:
    from ray.util.client import ray as client

    assert client.is_connected(), "the studio is not joined through Ray Client"
    sheet, music = SHEETS[0], MUSIC[0]
    run = compose(client_studio, sheet, music, "client")
    song = run.result()
    assert [s.id for s in client_studio.search()] == [song.id]
    assert (song.title, song.lyrics, song.tags, song.seconds) == (sheet.title, sheet.lyrics, sheet.tags, sheet.seconds)
    seeds = [variant_seed(music.seed, i) for i in range(music.variants)]
    assert [take.seed for take in song.takes] == seeds and song.settings["seeds"] == seeds
    # Heard while it is made: the live stream, and every take's pieces before the song is done.
    assert any(isinstance(e, Listening) for e in run.events)
    first_piece = next(i for i, e in enumerate(run.events) if isinstance(e, TakeAudio))
    done = next(i for i, e in enumerate(run.events) if isinstance(e, Progress) and e.phase == "done")
    assert first_piece < done
    local = PipelineMusicMaker(client_studio.settings)
    takes = local.make(sheet, music, lambda event: None, threading.Event())
    for i, (here, there) in enumerate(zip(takes, song.takes, strict=True)):
        assert np.array_equal(here.tokens, np.load(there.tokens))
        assert np.array_equal(here.audio, run.streamed(i))  # the pieces through the bridge are the song, exactly
        assert np.abs(read_audio(there.audio)[0] - here.audio).max() < 1e-3  # as kept in History (a 16-bit file)
    # The bridge lets the finished call go (the pump takes its end after the song's answer).
    wait_for(lambda: bridge_calls(client_studio) == 0, "the bridge let go of the song's call")

    take = client_studio.redecode(song.id, 1)
    again, _ = read_audio(take.audio)
    assert np.abs(again - run.streamed(0)).max() < 1e-3  # same tokens, same seed: the same audio
    assert client_studio.unload() == "Models unloaded; they load again when needed."


def test_stop_through_ray_client_reaches_the_worker(client_studio) -> None:
    """As test_cluster_songs' Stop: a short song composed after the Stop is made while the other long song still
    runs, which could not happen if the stopped song kept its worker."""
    before = len(client_studio.search())
    stopped = compose(client_studio, LONG_SHEET, LONG_MUSIC, "stopped")
    running = compose(client_studio, LONG_SHEET, LONG_MUSIC, "running")
    wait_for(lambda: stopped.making_tokens() and running.making_tokens(), "both long songs on their workers")
    assert client_studio.stop("stopped") == 1, "the song to stop had already ended"
    stopped.thread.join(WAIT_S)
    assert isinstance(stopped.error, JobCancelled)
    short = compose(client_studio, SHORT_SHEET, SHORT_MUSIC, "short")
    assert short.result().title == SHEETS[2].title
    assert running.thread.is_alive() and running.song is None, "the stopped song's worker was not freed"
    client_studio.stop("running")
    running.thread.join(WAIT_S)
    assert isinstance(running.error, JobCancelled)
    assert len(client_studio.search()) == before + 1  # the short song; nothing of the stopped ones
    wait_for(lambda: bridge_calls(client_studio) == 0, "the bridge let go of the stopped calls")  # (sent, not awaited)


def test_a_worker_killed_mid_song_through_ray_client_costs_a_retry_and_the_same_song(client_studio, caplog) -> None:
    """The killed replica's error reaches the studio through the bridge as it would reach a driver."""
    caplog.set_level(logging.INFO, logger="app.cluster.maker")
    sheet, music = dataclasses.replace(SHEETS[1], seconds=3.0), MUSIC[1]
    run = compose(client_studio, sheet, music, "killed")
    wait_for(run.making_tokens, "the song on its worker")
    started = [m for r in caplog.records if (m := re.match(r"make on worker \S+ \(pid (\d+) ", r.getMessage()))]
    kill(int(started[-1].group(1)))
    song = run.result()
    assert sum("music worker was lost" in r.getMessage() for r in caplog.records) == 1
    here = PipelineMusicMaker(client_studio.settings).make(sheet, music, lambda event: None, threading.Event())
    assert np.array_equal(np.load(song.takes[0].tokens), here[0].tokens)
    assert np.array_equal(run.streamed(0), here[0].audio)  # heard once, without a jump back


def test_workers_gone_mid_song_through_ray_client_are_one_line_and_the_next_song_starts_them_again(
    client_studio,
) -> None:
    """`serve shutdown` under a running song: the same line as for a driver (the bridge's handle hears that the
    app is gone), not a retry that waits for workers that never come; the next song starts the workers again."""
    from ray import serve

    before = len(client_studio.search())
    # Four takes of the long song: well past the 5 s Serve gives a running request to end when its app is deleted.
    gone = compose(client_studio, LONG_SHEET, dataclasses.replace(LONG_MUSIC, variants=4), "workers-gone")
    wait_for(gone.making_tokens, "the long song on its worker")
    serve.shutdown()
    gone.thread.join(WAIT_S)
    assert isinstance(gone.error, ClusterLost), gone.error
    assert "(its music workers were stopped: their Serve app is gone)" in str(gone.error)
    after = compose(client_studio, SHORT_SHEET, SHORT_MUSIC, "after")
    assert after.result().title == SHEETS[2].title
    assert len(client_studio.search()) == before + 1


def test_the_cluster_vanishing_mid_song_is_one_line(client_studio, head: Head) -> None:
    """Every process of the cluster killed (its Ray Client server too, as if its machine went away): the song
    ends with one line and leaves nothing. Last in the module: the cluster stays gone."""
    before = len(client_studio.search())
    gone = compose(client_studio, LONG_SHEET, LONG_MUSIC, "gone")
    wait_for(gone.making_tokens, "the long song on its worker")
    assert head.kill() > 3
    gone.thread.join(WAIT_S)
    assert isinstance(gone.error, ClusterLost), gone.error
    assert str(gone.error) == (f"The Ray cluster at ray://127.0.0.1:{head.client_port} stopped making this song (its "
                               "head stopped answering); nothing was kept. Check the cluster (`ray status`) and try "
                               "again.")
    assert len(client_studio.search()) == before
