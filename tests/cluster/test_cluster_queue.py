"""The cluster's queue of songs (app/cluster/song_queue.py, turns.py) on a real local Ray cluster of two workers:
the queue actor's order, places, long polls and leases; two studios on one cluster whose pages count each
other's songs, which start first come first served across both; a Stop while waiting moves up the song behind;
a studio killed while its song waits blocks the line only until its lease runs out."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.studio.errors import JobCancelled
from app.studio.history import Song
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet
from tests.app.conftest import tiny_settings

from .conftest import worker_pids

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
# A prompt and seed the tiny LM runs to the full 60 s: it holds a worker until it is stopped (test_cluster_songs).
LONG_SHEET, LONG_MUSIC = Sheet(title="Long", lyrics="la la", tags="pop", seconds=60.0), MusicSettings(variants=1, seed=11)
SHORT_MUSIC = MusicSettings(variants=1, seed=9)
WAIT_S = 120  # a bound on waiting for a song's turn or end, not a speed claim


def short_sheet(name: str) -> Sheet:
    return Sheet(title=name, lyrics=f"[verse]\n{name} la la", tags="pop", seconds=1.0)


class Run:
    """One Compose (or another job: `events_of`) on a thread of its own: its events with the time each came,
    then its song or its error."""

    def __init__(self, studio, sheet: Sheet | None, music: MusicSettings | None, session: str,
                 events_of: Callable[[], Iterator[object]] | None = None) -> None:
        self.studio, self.session = studio, session
        self.events: list[tuple[float, object]] = []
        self.song: Song | None = None
        self.error: BaseException | None = None
        events_of = events_of or (lambda: studio.compose(sheet, frozenset(), music, None, session))
        self.thread = threading.Thread(target=self._run, args=(events_of,), daemon=True)
        self.thread.start()

    def _run(self, events_of: Callable[[], Iterator[object]]) -> None:
        try:
            for event in events_of():
                self.events.append((time.monotonic(), event))
                if isinstance(event, Finished):
                    self.song = event.song
        except BaseException as exc:  # the test asserts on it
            self.error = exc

    def places(self) -> list[int]:
        """The places the page was shown while the song waited in the cluster's queue, in order."""
        return [e.place for _, e in list(self.events) if isinstance(e, Progress) and e.phase == "waiting" and e.place]

    def turn_at(self) -> float | None:
        """When its turn came (the maker says "waiting" without a place until Serve hands it to the worker)."""
        return next((t for t, e in list(self.events)
                     if isinstance(e, Progress) and e.phase == "waiting" and e.place is None), None)

    def frames(self) -> int:
        """The frames made so far, as the last progress said."""
        return max((e.done for _, e in list(self.events) if isinstance(e, Progress) and e.phase == "tokens"), default=0)

    def making_tokens(self) -> bool:
        return any(isinstance(e, Progress) and e.phase == "tokens" and e.done > 0 for _, e in list(self.events))

    def stop(self) -> None:
        assert self.studio.stop(self.session) == 1, f"{self.session} had already ended"
        self.thread.join(WAIT_S)
        assert isinstance(self.error, JobCancelled), self.error

    def end(self) -> None:
        """Stop it if it still runs (a long song may have ended meanwhile); either way it is over."""
        self.studio.stop(self.session)
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), f"{self.session} did not end"

    def result(self) -> Song:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), f"{self.session} did not end"
        assert self.error is None and self.song is not None, self.error
        return self.song


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def queue_view(studio):
    import ray

    return ray.get(studio.music.link.queue.actor.view.remote())


def tickets(studio) -> int:
    view = queue_view(studio)
    return len(view.waiting) + len(view.running)


@pytest.fixture(scope="module")
def second_studio(cluster_studio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Another Studio (its own History) on the same cluster, as a second `./run.sh` would be; it joins the
    cluster the first one started (one `ray.init` per process) and finds the same queue."""
    from app.studio.service import Studio

    settings = tiny_settings(tmp_path_factory.mktemp("second")).model_copy(
        update={"ray_address": "local", "ray_replicas": 2, "threads": 1})
    studio = Studio(settings)
    try:
        yield studio
    finally:
        studio.music.close()  # the module's cluster stops here (the first studio's close finds it stopped)


@pytest.fixture
def new_queue(cluster_studio) -> Iterator[Callable[[float], object]]:
    """Queue actors of the test's own (not the studios'), for two workers, with the lease given."""
    import ray

    from app.cluster.song_queue import SongQueue

    actors = []

    def make(lease_s: float) -> object:
        actors.append(ray.remote(SongQueue).options(num_cpus=0).remote(lease_s=lease_s))
        ray.get(actors[-1].configure.remote(2))
        return actors[-1]

    yield make
    for actor in actors:
        ray.kill(actor)


def test_the_queue_grants_turns_in_order_of_arrival_and_tells_each_its_place(new_queue) -> None:
    import ray

    from app.cluster.song_queue import LEASE_S, Standing

    queue = new_queue(LEASE_S)

    standings = [ray.get(queue.enter.remote(name)) for name in ("a", "b", "c", "d", "e")]
    assert standings == [Standing("turn"), Standing("turn"), Standing("waiting", 1), Standing("waiting", 2),
                         Standing("waiting", 3)]
    assert ray.get(queue.enter.remote("d")) == Standing("waiting", 2)  # entering again keeps the place
    poll = queue.wait.remote("e", 3, 30.0)  # answers at the first change, not after 30 s
    ray.get(queue.leave.remote("d"))  # "d" gave up waiting (a Stop): the song behind it moves up at once
    assert ray.get(poll, timeout=10) == Standing("waiting", 2)
    ray.get(queue.leave.remote("a"))  # a song ended: the first in line gets its worker
    assert [ray.get(queue.wait.remote(t, None, 0.0)) for t in "bce"] == [
        Standing("turn"), Standing("turn"), Standing("waiting", 1)]
    ray.get(queue.configure.remote(3))  # a third worker (a studio deployed a bigger plan)
    assert ray.get(queue.wait.remote("e", 1, 0.0)) == Standing("turn")
    assert ray.get(queue.wait.remote("a", None, 0.0)) == Standing("unknown")
    # A `leave` that overtook its `enter` (a Stop the moment the song asked) keeps the ticket out.
    ray.get(queue.leave.remote("f"))
    assert ray.get(queue.enter.remote("f")) == Standing("unknown")
    view = ray.get(queue.view.remote())
    assert (view.workers, view.waiting, view.running) == (3, [], ["b", "c", "e"])


def test_a_silent_ticket_is_dropped_after_its_lease_and_its_worker_goes_to_the_next(new_queue) -> None:
    import ray

    from app.cluster.song_queue import Standing

    queue = new_queue(1.0)

    for ticket in ("alive-running", "dead-running", "dead-waiting", "alive-waiting"):
        ray.get(queue.enter.remote(ticket))
    time.sleep(0.5)
    ray.get(queue.renew.remote(["alive-running"]))  # only the living renew
    # The long poll renews its own ticket and wakes when the first lease runs out: both dead tickets are dropped
    # (one held a worker, one a place ahead), so the living one waiting gets the worker.
    assert ray.get(queue.wait.remote("alive-waiting", 2, 30.0), timeout=10) == Standing("turn")
    view = ray.get(queue.view.remote())
    assert (view.waiting, sorted(view.running)) == ([], ["alive-running", "alive-waiting"])


def test_two_studios_share_the_queue_in_order_and_a_stop_moves_up_the_song_behind(
    cluster_studio, second_studio
) -> None:
    a, b = cluster_studio, second_studio
    assert a.music.link.queue.actor._actor_id == b.music.link.queue.actor._actor_id  # one queue on the cluster
    # Neither holds its songs back (they wait in the cluster's queue); an album still runs one song per worker.
    assert a.music_queue is not a.device_queue and a.device_queue.slots == 1 and a.music.slots == 2
    before = (len(a.search()), len(b.search()))
    runs: dict[str, Run] = {}
    # Each studio's long song holds a worker; then the short songs ask, alternating studios, one after another.
    for name, studio, sheet, music in (("a-long", a, LONG_SHEET, LONG_MUSIC), ("b-long", b, LONG_SHEET, LONG_MUSIC),
                                       ("a2", a, short_sheet("A two"), SHORT_MUSIC),
                                       ("b2", b, short_sheet("B two"), SHORT_MUSIC),
                                       ("a3", a, short_sheet("A three"), SHORT_MUSIC),
                                       ("b3", b, short_sheet("B three"), SHORT_MUSIC)):
        count = tickets(a)
        runs[name] = Run(studio, sheet, music, name)
        wait_for(lambda: tickets(a) == count + 1, f"{name} in the cluster's queue")
    wait_for(lambda: runs["a-long"].making_tokens() and runs["b-long"].making_tokens(), "both long songs made")
    # Each page counts the other studio's songs too: "b3" has a2, b2, a3 ahead, and the busy workers.
    wait_for(lambda: all(runs[n].places() for n in ("a2", "b2", "a3", "b3")), "every short song told its place")
    assert [runs[n].places() for n in ("a2", "b2", "a3", "b3")] == [[1], [2], [3], [4]]
    assert runs["b3"].events[-1][1].describe() == "Waiting for the music engine: 4 songs ahead of yours"

    runs["a3"].stop()  # a Stop while waiting: it leaves the line, the song behind it moves up
    wait_for(lambda: runs["b3"].places() == [4, 3], "b3 moved up behind the stopped song")
    assert runs["a-long"].thread.is_alive() and runs["b-long"].thread.is_alive()  # no worker freed meanwhile

    runs["a-long"].stop()  # a worker frees: the first in line (the first studio's) takes it
    wait_for(lambda: runs["a2"].turn_at() is not None, "a2's turn")
    wait_for(lambda: runs["b3"].places()[-1] == 2, "b3 second in line")
    wait_for(lambda: runs["b2"].places() == [2, 1], "b2 first in line")
    runs["b-long"].stop()
    for name in ("a2", "b2", "b3"):
        runs[name].result()
    turns = [runs[n].turn_at() for n in ("a2", "b2", "b3")]
    assert turns == sorted(turns), "the songs started out of their order of asking"
    assert runs["b3"].places()[:3] == [4, 3, 2] and runs["b3"].places() == sorted(runs["b3"].places(), reverse=True)
    assert len(a.search()) == before[0] + 1 and len(b.search()) == before[1] + 2  # each kept in its own History
    assert {s.title for s in b.search()} >= {"B two", "B three"} and "A two" in {s.title for s in a.search()}
    wait_for(lambda: tickets(a) == 0, "every ticket left the queue")


KILLED_STUDIO = """
import sys
from app.cluster.session import join
from app.cluster.turns import ClusterQueue, queue_actor
join(sys.argv[1])
queue = ClusterQueue(queue_actor())
queue.wait_turn(lambda place: print(place, flush=True), lambda: None)
print("turn", flush=True)
"""


def test_a_studio_killed_while_its_song_waits_blocks_the_line_only_until_its_lease_runs_out(cluster_studio) -> None:
    """Another studio's process (joined by the cluster's address, as `batch` would be) waits in the line behind
    two long songs, then is killed; the song behind it moves up once its lease runs out."""
    import ray

    from app.cluster.song_queue import LEASE_S

    studio = cluster_studio
    # Two takes each: long enough to outlast the lease (they are stopped after).
    longs = [Run(studio, LONG_SHEET, dataclasses.replace(LONG_MUSIC, variants=2), f"long-{i}") for i in range(2)]
    wait_for(lambda: all(run.making_tokens() for run in longs), "both long songs made")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(ROOT)}
    other = subprocess.Popen([sys.executable, "-c", KILLED_STUDIO, ray.get_runtime_context().gcs_address],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "1\n", other.stderr.read() if other.poll() is not None else ""
        behind = Run(studio, short_sheet("Behind"), SHORT_MUSIC, "behind")
        wait_for(lambda: behind.places() == [2], "the song behind the other studio's")
        # A re-decode waits in the same line, behind the songs that asked first, and the page says so.
        kept = studio.search()[0]
        redecode = Run(studio, None, None, "redecode", lambda: studio.remake_audio(kept.id, 1, "redecode"))
        wait_for(lambda: redecode.places() == [3], "the re-decode behind the waiting songs")
        killed = time.monotonic()
        other.send_signal(signal.SIGKILL)
        other.wait(WAIT_S)
        wait_for(lambda: behind.places() == [2, 1] and redecode.places() == [3, 2], "the killed studio's ticket dropped")
        silent_s = time.monotonic() - killed
        assert all(run.thread.is_alive() for run in longs)  # it moved up because of the lease, not a freed worker
        print(f"the killed studio's ticket was dropped {silent_s:.1f} s after the kill (lease {LEASE_S:g} s)")
    finally:
        other.kill()
        other.communicate()
    for run in longs:
        run.end()
    assert behind.result().title == "Behind"
    redecode.result()
    # Its turn ends the places: every event after the last one is the re-decode's own progress.
    phases = [e.phase for _, e in redecode.events if isinstance(e, Progress)]
    last_place = max(i for i, phase in enumerate(phases) if phase == "waiting")
    assert phases[last_place + 1:] and set(phases[last_place + 1:]) == {"redecoding"}, phases
    assert phases[-1] == "redecoding" and redecode.places() in ([3, 2], [3, 2, 1])


SECOND_STUDIO = """
import sys
from pathlib import Path
from app.cluster.link import ClusterLink
from tests.app.conftest import tiny_settings
# The first studio's engine settings; its own data folder and songwriter, as another `./run.sh` would have.
settings = tiny_settings(Path(sys.argv[2])).model_copy(update={
    "ray_address": sys.argv[1], "ray_replicas": 2, "threads": 1, "ollama_model": "another-songwriter"})
link = ClusterLink.open(settings)
print("joined", flush=True)
link.close()
"""


def test_a_second_studio_starting_uses_the_running_workers_and_the_song_on_them_goes_on(
    cluster_studio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another studio's process joins and starts its music workers while a song is made: they are the first
    studio's very workers (only studio-side settings differ), so it uses them as they are. Deploying them again
    would make Serve replace them under the song, costing it a retry."""
    import ray

    caplog.set_level(logging.INFO, logger="app.cluster")
    workers = worker_pids()
    assert len(workers) == 2
    running = Run(cluster_studio, LONG_SHEET, LONG_MUSIC, "under-a-new-studio")
    wait_for(running.making_tokens, "the long song on its worker")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(ROOT)}
    other = subprocess.run([sys.executable, "-c", SECOND_STUDIO, ray.get_runtime_context().gcs_address,
                            str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert other.returncode == 0 and other.stdout == "joined\n", other.stderr[-3000:]
    frames = running.frames()
    wait_for(lambda: running.frames() > frames, "the long song going on after the second studio started")
    assert worker_pids() == workers  # the same worker processes: nothing was replaced
    running.end()
    wait_for(lambda: tickets(cluster_studio) == 0, "the stopped song out of the queue")  # (its leave is not awaited)
    assert not [r for r in caplog.records if "music worker was lost" in r.getMessage()]
    phases = [e.phase for _, e in running.events if isinstance(e, Progress)]
    assert "waiting" not in phases[phases.index("tokens"):]  # never sent back to wait: no retry
