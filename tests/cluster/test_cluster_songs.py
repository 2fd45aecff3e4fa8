"""Songs on a local Ray cluster of two CPU workers (the tiny checkpoints), through the real Studio, the real
page API and a real History: several at once, each with its sheet and seeds and the very song this computer's
pipeline makes; a worker killed mid-song costs a retry and nothing else; Stop reaches the worker; re-decode,
extend and Unload run on the workers too; an album (`python -m app batch`'s AlbumRun) fans out over both workers."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.album.board import Board
from app.album.lines import read_album
from app.album.manifest import Manifest
from app.album.runner import AlbumRun
from app.cluster.errors import ClusterLost
from app.studio.engines import PipelineMusicMaker
from app.studio.errors import JobCancelled
from app.studio.history import Song
from app.studio.jobs import Finished, Listening, MusicSettings, Progress, Sheet, TakeAudio
from heartmula_core.audio import read_audio
from heartmula_core.request import variant_seed
from tests.app.conftest import serving

from .conftest import kill, running_workers, worker_pids

pytestmark = pytest.mark.timeout(300)

SECONDS = 6.0  # long enough to kill a worker in the middle, short enough for four songs in a few seconds
NAMES = ("amber", "birch", "cedar", "dune")
SHEETS = [Sheet(description=f"a song of {name}", title=f"{name.title()} Song", lyrics=f"[verse]\n{name} la la\n[chorus]\nla",
                tags=tag, seconds=SECONDS) for name, tag in zip(NAMES, ("pop", "folk,calm", "rock", "jazz"))]
MUSIC = [MusicSettings(variants=variants, seed=seed) for variants, seed in ((2, 101), (1, 202), (1, 303), (2, 404))]
# A prompt and seed the tiny LM runs to the full 60 s (750 frames; most end a song early: bench_stream.py).
LONG_SHEET, LONG_MUSIC = Sheet(title="Long", lyrics="la la", tags="pop", seconds=60.0), MusicSettings(variants=1, seed=11)
WAIT_S = 240  # a bound on waiting for a song, not a speed claim


class Run:
    """One Compose on a thread of its own: its events as they come, then its song or its error."""

    def __init__(self, events_of: Callable[[], object]) -> None:
        self.events: list[object] = []
        self.song: Song | None = None
        self.error: BaseException | None = None
        self.ended = 0.0
        self.thread = threading.Thread(target=self._run, args=(events_of,), daemon=True)
        self.thread.start()

    def _run(self, events_of: Callable[[], object]) -> None:
        try:
            for event in events_of():
                self.events.append(event)
                if isinstance(event, Finished):
                    self.song = event.song
        except BaseException as exc:  # the test asserts on it
            self.error = exc
        self.ended = time.monotonic()

    def making_tokens(self) -> bool:
        return any(isinstance(e, Progress) and e.phase == "tokens" and e.done > 0 for e in list(self.events))

    def result(self) -> Song:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the song did not end"
        assert self.error is None and self.song is not None, self.error
        return self.song

    def streamed(self, index: int) -> np.ndarray:
        """Take `index`'s audio as the page heard it: the streamed pieces, in order."""
        pieces = [e.samples for e in self.events if isinstance(e, TakeAudio) and e.index == index]
        return np.concatenate(pieces, axis=-1)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def compose(studio, sheet: Sheet, music: MusicSettings, session: str) -> Run:
    return Run(lambda: studio.compose(sheet, frozenset(), music, None, session))


@pytest.fixture(scope="module")
def made(cluster_studio) -> list[Run]:
    """The four songs, composed at once (three from page sessions, one through the page's API)."""
    runs = [compose(cluster_studio, sheet, music, f"tab-{i}") for i, (sheet, music) in enumerate(zip(SHEETS[:3], MUSIC))]
    sheet, music = SHEETS[3], MUSIC[3]
    with serving(cluster_studio) as client:
        answer = client.predict(sheet.description, sheet.title, sheet.lyrics, sheet.tags, "", sheet.seconds,
                                music.variants, music.seed, "ollama", "", api_name="/compose")
    for run in runs:
        run.result()
    runs.append(answer)
    return runs


def test_songs_at_once_land_in_history_with_their_sheets_and_seeds(cluster_studio, made) -> None:
    kept = {song.id: song for song in cluster_studio.search()}
    songs = [run.result() for run in made[:3]] + [kept[made[3]["id"]]]
    assert sorted(kept) == sorted(song.id for song in songs)
    for song, sheet, music in zip(songs, SHEETS, MUSIC):
        assert (song.title, song.lyrics, song.tags, song.seconds) == (sheet.title, sheet.lyrics, sheet.tags, SECONDS)
        seeds = [variant_seed(music.seed, i) for i in range(music.variants)]
        assert [take.seed for take in song.takes] == seeds and song.settings["seeds"] == seeds
        assert all(take.audio.is_file() and take.tokens.is_file() for take in song.takes)
    for run in made[:3]:  # heard while made: the first take's live stream, and every take's pieces
        assert any(isinstance(e, Listening) for e in run.events)
        assert all(run.streamed(i).shape[-1] > 0 for i in range(len(run.song.takes)))
    assert made[3]["takes"][1]["seed"] == variant_seed(MUSIC[3].seed, 1)  # the API's answer


def test_a_cluster_song_is_the_song_this_computer_makes(cluster_studio, made) -> None:
    local = PipelineMusicMaker(cluster_studio.settings)
    takes = local.make(SHEETS[0], MUSIC[0], lambda event: None, threading.Event())
    song = made[0].song
    for i, (here, there) in enumerate(zip(takes, song.takes, strict=True)):
        assert np.array_equal(here.tokens, np.load(there.tokens))
        assert np.array_equal(here.audio, made[0].streamed(i))  # the streamed pieces are the song, exactly
        kept, _ = read_audio(there.audio)
        assert np.abs(kept - here.audio).max() < 1e-3  # as kept in History (a 16-bit file)


def test_a_worker_killed_mid_song_costs_a_retry_and_the_same_song(cluster_studio, made, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="app.cluster.maker")
    before = len(cluster_studio.search())
    runs = [compose(cluster_studio, sheet, music, f"kill-{i}") for i, (sheet, music) in enumerate(zip(SHEETS[:2], MUSIC))]
    wait_for(lambda: all(run.making_tokens() for run in runs), "both songs on their workers")
    pids = worker_pids()
    assert len(pids) == 2, pids
    kill(pids[0])
    for run, reference in zip(runs, made):
        song = run.result()
        for i, take in enumerate(song.takes):
            assert np.array_equal(np.load(take.tokens), np.load(reference.song.takes[i].tokens))
            assert np.array_equal(run.streamed(i), reference.streamed(i))  # heard once, without a jump back
    assert sum("music worker was lost" in r.getMessage() for r in caplog.records) == 1
    assert len(cluster_studio.search()) == before + 2  # the two songs, each kept once, nothing half-written
    wait_for(lambda: running_workers() == 2 and len(worker_pids()) == 2, "the killed worker replaced")


def test_stop_reaches_the_worker(cluster_studio) -> None:
    """A Stop frees the stopped song's worker at once: a short song composed after it is made before a long song
    still running on the other worker ends, which could not happen if the stopped one kept its worker."""
    before = len(cluster_studio.search())
    stopped = compose(cluster_studio, LONG_SHEET, LONG_MUSIC, "stopped")
    running = compose(cluster_studio, LONG_SHEET, LONG_MUSIC, "running")
    wait_for(lambda: stopped.making_tokens() and running.making_tokens(), "both long songs on their workers")
    assert cluster_studio.stop("stopped") == 1, "the song to stop had already ended"
    stopped.thread.join(WAIT_S)
    assert isinstance(stopped.error, JobCancelled)
    short = compose(cluster_studio, dataclasses.replace(SHEETS[2], seconds=1.0), MusicSettings(variants=1, seed=9), "short")
    assert short.result().title == SHEETS[2].title
    assert running.thread.is_alive() and running.song is None, (
        f"the long song ended {short.ended - running.ended:.1f} s before the short one: the stopped song's worker "
        "was not freed")
    cluster_studio.stop("running")
    running.thread.join(WAIT_S)
    assert isinstance(running.error, JobCancelled)
    assert len(cluster_studio.search()) == before + 1  # the short song; nothing of the stopped ones


def test_redecode_extend_and_unload_run_on_the_workers(cluster_studio, made) -> None:
    song = made[1].song
    take = cluster_studio.redecode(song.id, 1)
    again, _ = read_audio(take.audio)
    assert np.abs(again - made[1].streamed(0)).max() < 1e-3  # same tokens, same seed: the same audio
    assert np.load(take.codec_tails).shape[1:] == (168, 256)  # the worker's decode sends its latents back too
    child = next(e.song for e in cluster_studio.continue_song(song.id, 1, "extend", seconds=1.0) if isinstance(e, Finished))
    old, new = np.load(song.takes[0].tokens), np.load(child.takes[0].tokens)
    assert len(new) > len(old) and np.array_equal(new[: len(old)], old)
    assert cluster_studio.loaded_models()
    assert cluster_studio.unload() == "Models unloaded; they load again when needed."
    assert cluster_studio.loaded_models() == []


def test_an_album_fans_out_over_the_workers_and_is_the_album_this_computer_makes(
    cluster_studio, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="app.cluster.maker")
    lines = [{"title": f"Track {n}", "lyrics": f"[verse]\ntrack {n} la la", "tags": tag, "seconds": 2, "seed": 500 + n,
              "variants": 1 + n % 2} for n, tag in enumerate(("pop", "folk", "rock", "jazz"), start=1)]
    (tmp_path / "album.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    songs, out = read_album(tmp_path / "album.jsonl"), tmp_path / "out"
    album = AlbumRun(cluster_studio, songs, out, Manifest(out), choice=cluster_studio.llm_choice("ollama"),
                     board=Board(len(songs), io.StringIO(), live=False))
    assert album.parallel == 2  # `batch` without --parallel: one song per worker
    outcome = album.run()
    assert len(outcome.made) == 4 and not outcome.failed and not outcome.stopped
    workers = {m.group(1) for r in caplog.records if (m := re.match(r"make on worker (\S+) ", r.getMessage()))}
    assert len(workers) == 2, workers  # both workers made songs of it
    local = PipelineMusicMaker(cluster_studio.settings)
    manifest = Manifest(out)
    for song, line in zip(songs, lines, strict=True):
        kept = cluster_studio.song(manifest.get(song.key).song_id)
        assert (kept.title, kept.lyrics, kept.tags, kept.seconds) == (line["title"], line["lyrics"], line["tags"], 2)
        assert [take.seed for take in kept.takes] == [variant_seed(line["seed"], i) for i in range(line["variants"])]
        here = local.make(song.sheet, MusicSettings(variants=song.variants, seed=song.seed), lambda event: None,
                          threading.Event())
        for made_here, there in zip(here, kept.takes, strict=True):
            assert np.array_equal(made_here.tokens, np.load(there.tokens))
            assert np.abs(read_audio(there.audio)[0] - made_here.audio).max() < 1e-3  # a 16-bit file


def test_workers_gone_mid_song_cost_that_song_and_the_next_song_starts_them_again(cluster_studio) -> None:
    """`serve shutdown` under a running song (the cluster stays): that song ends with one line and leaves nothing;
    the next song starts the workers again and is made there. Last in the module: it replaces the workers."""
    from ray import serve

    before = len(cluster_studio.search())
    # Four takes of the long song: well past the 5 s Serve gives a running request to end when its app is deleted.
    gone = compose(cluster_studio, LONG_SHEET, dataclasses.replace(LONG_MUSIC, variants=4), "gone")
    wait_for(gone.making_tokens, "the long song on its worker")
    serve.shutdown()
    gone.thread.join(WAIT_S)
    assert isinstance(gone.error, ClusterLost), gone.error
    assert str(gone.error) == ("The Ray cluster at local stopped making this song (its music workers were stopped: "
                               "their Serve app is gone); nothing was kept. Check the cluster (`ray status`) and try "
                               "again.")
    assert cluster_studio.unload() == "No models were loaded."  # the workers that had them are gone
    after = compose(cluster_studio, dataclasses.replace(SHEETS[2], seconds=1.0), MusicSettings(variants=1, seed=9), "after")
    assert after.result().title == SHEETS[2].title
    wait_for(lambda: running_workers() == 2, "both workers started again")
    assert len(cluster_studio.search()) == before + 1
