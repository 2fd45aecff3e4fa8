"""`ClusterMusicMaker`: the studio's music maker when the songs are made on a Ray cluster.

It has the local `PipelineMusicMaker`'s face (`app/studio/music.py`), so Compose, continue, re-decode and the
API run unchanged; each song goes to a `MusicWorker` replica (worker.py) as one streaming Serve request.

- Each song (and re-decode) first waits its turn in the cluster's queue (turns.py), shared with every studio
  there, first come first served; the page is told its place there. A retry after a lost worker keeps the turn.
- Stop cancels the request, which stops the replica's pipeline within a frame (worker.py).
- A replica that dies mid-song (its process killed, its machine gone) costs a retry on another replica with the
  same seeds, so the song is the same; the audio already played is not played twice. After `MAX_ATTEMPTS`
  lost replicas, or when the cluster stops answering (`SILENCE_S` without a word from a started song), the
  song ends with `ClusterLost`. Nothing reaches the history before the song is complete (the job keeps it).
- A cluster lost mid-song (its head gone, its Serve app deleted) ends that song with `ClusterLost`; the next song
  joins it again (link.py), waiting a while for it to come back, else it ends with `ClusterUnreachable`.
- The models a worker loads are the ones the studio's settings name, so every machine of the cluster needs
  them at the same paths (README: "Many GPUs, many machines").
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from ray.serve.handle import DeploymentHandle

from app.settings import Settings
from app.studio.continuing import Continuation
from app.studio.engines import settings_catalogue
from app.studio.errors import JobCancelled
from app.studio.history import NewTake
from app.studio.jobs import MusicSettings, Progress, Sheet, TakeAudio
from app.studio.models import HubSizes
from heartmula_core.errors import Cancelled as MakingCancelled
from heartmula_core.hub import Catalogue
from heartmula_core.request import random_seed

from .errors import ClusterLost
from .link import ClusterLink
from .messages import Decoded, Failed, Heartbeat, Made, SongJob, Started
from .replies import Broken, End
from .session import first_line, joined, still_joined, worker_lost, workers_gone
from .turns import QueueLost

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # replicas a song may lose before it is given up
RETRY_WAIT_S = 0.5  # times the attempt number: Serve learns of a dead replica within a moment
SILENCE_S = 60.0  # a started song whose worker says nothing this long is lost (workers reply every 2 s)
RETRY_START_S = 30.0  # a retried song no worker takes within this long: the cluster is gone
POLL_S = 0.1  # how often a waiting maker looks for a Stop
HEAD_SILENT = "its head stopped answering"
WORKERS_GONE = "its music workers were stopped: their Serve app is gone"

T = TypeVar("T")


class WorkerLost(Exception):
    """The replica making a song died: the song is made again on another one."""


class AudioSent:
    """How much of each take's audio the page has been given, so a retry's pieces (the same song again) are
    passed on only past that point: the listener hears each take once, without a jump back."""

    def __init__(self) -> None:
        self.samples: dict[int, int] = {}
        self.finished: set[int] = set()

    def new_part(self, piece: TakeAudio, start: int) -> TakeAudio | None:
        """The part of `piece` (which starts at sample `start` of its take) not passed on yet, or None."""
        index, end = piece.index, start + piece.samples.shape[-1]
        already = self.samples.get(index, 0)
        if end <= already and (not piece.final or index in self.finished):
            return None
        self.samples[index] = max(already, end)
        if piece.final:
            self.finished.add(index)
        samples = piece.samples[:, max(0, already - start):]
        return TakeAudio(index, samples, piece.sample_rate, piece.final)


class ClusterMusicMaker:
    """Makes songs on a Ray Serve `MusicWorker` app.

    Args:
        settings: the studio's settings (the workers get a copy without secrets).
        link: the joined cluster and its workers (`slots` = how many songs at once: one per worker at the start).
    """

    own_queue = True  # its songs wait in the cluster's queue, with every studio's, not in the studio's DeviceQueue

    def __init__(self, settings: Settings, link: ClusterLink) -> None:
        self.settings = settings
        self.link = link
        self.slots = link.plan.replicas
        self.hub_sizes = HubSizes()
        self.address = settings.ray_address.strip()
        self._used: set[str] = set()  # LM variants sent to the workers since the last unload
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, settings: Settings) -> ClusterMusicMaker:
        """Join the cluster at `settings.ray_address` and start (or update) the workers on it.

        Raises:
            ClusterUnreachable: no cluster answers there, or it cannot run the workers (one line).
        """
        return cls(settings, ClusterLink.open(settings))

    @property
    def handle(self) -> DeploymentHandle:
        """The workers' handle (a new one after the cluster was joined again)."""
        return self.link.handle

    def close(self) -> None:
        """Leave the cluster. A cluster of its own (`local`) stops with its workers; on a shared one the workers
        stay up for the next studio (`serve shutdown` stops them)."""
        self.link.close()

    def catalogue(self) -> Catalogue:
        """The models this computer has (the Models tab); the workers use the same folders on their machines."""
        return settings_catalogue(self.settings)

    # -- songs ---------------------------------------------------------------------------------------------

    def make(
        self, sheet: Sheet, settings: MusicSettings, emit: Callable[[Progress | TakeAudio], None],
        cancel: threading.Event, continuation: Continuation | None = None,
    ) -> list[NewTake]:
        """Make the takes on a worker; emits its progress and each take's audio pieces as they are decoded."""
        if settings.seed is None:  # fixed here, so that a retry on another worker makes the same song
            settings = dataclasses.replace(settings, seed=random_seed())
        job = SongJob.of(sheet, settings, continuation)
        self._using(settings.lm_variant)
        sent = AudioSent()

        def attempt(start_within_s: float | None) -> list[NewTake]:
            pieces: dict[int, list[np.ndarray]] = {}

            def on_reply(reply: object) -> list[NewTake] | None:
                if isinstance(reply, TakeAudio):
                    taken = pieces.setdefault(reply.index, [])
                    part = sent.new_part(reply, sum(p.shape[-1] for p in taken))
                    taken.append(reply.samples)
                    if part is not None:
                        emit(part)
                elif isinstance(reply, Progress):
                    emit(reply)
                elif isinstance(reply, Made):
                    return [take.with_audio(np.concatenate(pieces[i], axis=-1)) for i, take in enumerate(reply.takes)]
                return None

            emit(Progress("waiting"))  # its turn came: until Ray Serve hands it to the free worker
            return self._call("make", (job,), on_reply, cancel, start_within_s)

        try:
            self.link.rejoin(cancel, lambda: emit(Progress("waiting")))  # after a lost cluster
            return self._queued(lambda: self._retrying(attempt, cancel, emit),
                                lambda place: emit(Progress("waiting", place=place)), cancel)
        except MakingCancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None

    def _queued(self, work: Callable[[], T], on_place: Callable[[int], None], cancel: threading.Event) -> T:
        """`work()` once this song's turn comes in the cluster's queue (`on_place(songs ahead)` meanwhile); the
        turn is held through `work`'s retries: a song whose worker died already had its turn, and a retry sent
        to the back of the line would also be taken for a lost cluster (no worker takes it within
        `RETRY_START_S`). Raises `Cancelled` after a Stop (the song leaves the line at once), `ClusterLost` when
        the cluster or its queue stops answering meanwhile."""

        def check() -> None:
            if cancel.is_set():
                raise MakingCancelled("cancelled while waiting in the cluster's queue")
            if self.link.stale:  # the cluster was left meanwhile: the turn may never come
                raise QueueLost(HEAD_SILENT)

        line = self.link.queue  # (held: a rejoin meanwhile gives the link the new cluster's)
        try:
            ticket = line.wait_turn(on_place, check)
        except QueueLost as exc:
            self.link.lost()
            raise self._lost(str(exc)) from None
        try:
            return work()
        finally:
            line.leave(ticket)

    def _call(self, method: str, args: tuple[Any, ...], on_reply: Callable[[object], T | None],
              cancel: threading.Event, start_within_s: float | None = None) -> T:
        """One streamed call of a worker's `method(*args)`: its replies go to `on_reply` until that returns an
        answer. Raises the worker's own error (`Failed`), `Cancelled` after a Stop (the request is cancelled,
        which stops the worker's pipeline), `WorkerLost` when the worker died, `ClusterLost` when the cluster
        stopped answering (a started call silent for `SILENCE_S`, or no worker taking it within
        `start_within_s`; None: it may wait its turn in the cluster's queue as long as it takes)."""
        asked = time.monotonic()
        try:
            pump = self.link.stream(method, args)
        except Exception as exc:  # Ray's own errors, once the cluster is gone (another song left it meanwhile)
            raise self._lost(self._why(exc)) from None
        started: Started | None = None
        heard = time.monotonic()
        ended = False
        try:
            while True:
                if cancel.is_set():
                    raise MakingCancelled(f"{method} cancelled")
                try:
                    reply = pump.replies.get(timeout=POLL_S)
                except queue.Empty:
                    if self.link.stale:  # the cluster was left meanwhile: this reply may never come
                        raise self._lost(HEAD_SILENT) from None
                    if started is not None and time.monotonic() - heard > SILENCE_S:
                        raise self._lost(f"its worker {started.replica} said nothing for {SILENCE_S:g} s") from None
                    if started is None and start_within_s is not None and time.monotonic() - asked > start_within_s:
                        raise self._lost(f"no worker took it again within {start_within_s:g} s") from None
                    continue
                heard = time.monotonic()
                if isinstance(reply, Started):
                    started = reply
                    log.info("%s on worker %s (pid %d on %s)", method, reply.replica, reply.pid, reply.node)
                elif isinstance(reply, Failed):
                    ended = True
                    raise reply.error
                elif isinstance(reply, End):
                    ended = True
                    raise self._lost("its worker ended the request without an answer")
                elif isinstance(reply, Broken):
                    ended = True
                    # A lost worker is retried; not so under a silent head (the retry would wait in vain).
                    if still_joined() and worker_lost(reply.error):
                        raise WorkerLost(first_line(reply.error)) from None
                    raise self._lost(self._why(reply.error)) from None
                elif not isinstance(reply, Heartbeat):
                    answer = on_reply(reply)
                    if answer is not None:
                        ended = True
                        return answer
        finally:
            if not ended and joined():  # a cluster already left has nothing to cancel
                try:
                    pump.cancel()  # the Stop (or the studio giving up) reaches the worker's pipeline
                except Exception as exc:  # a cluster already left: nothing there to cancel
                    log.info("could not cancel %s on the cluster: %s", method, first_line(exc))

    @staticmethod
    def _why(exc: BaseException) -> str:
        """Why a request that raised `exc` (and not for a lost worker) cannot go on, in a few words."""
        if not still_joined():
            return HEAD_SILENT
        return WORKERS_GONE if workers_gone(exc) else first_line(exc)

    def _lost(self, why: str) -> ClusterLost:
        return ClusterLost(
            f"The Ray cluster at {self.address} stopped making this song ({why}); nothing was kept. Check the "
            "cluster (`ray status`) and try again."
        )

    def _retrying(self, attempt: Callable[[float | None], T], cancel: threading.Event,
                  emit: Callable[[Progress | TakeAudio], None] | None = None) -> T:
        """`attempt()`, again on another worker each time a worker is lost, at most `MAX_ATTEMPTS` times. A
        song that lost the cluster marks it for joining again (`ClusterLink.rejoin`)."""
        try:
            return self._attempts(attempt, cancel, emit)
        except ClusterLost:
            self.link.lost()
            raise

    def _attempts(self, attempt: Callable[[float | None], T], cancel: threading.Event,
                  emit: Callable[[Progress | TakeAudio], None] | None) -> T:
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                # A first attempt waits its turn; a retry is given up when no worker takes it, because then the
                # cluster is gone, not busy.
                return attempt(None if number == 1 else RETRY_START_S)
            except WorkerLost as lost:
                if number == MAX_ATTEMPTS:
                    raise self._lost(f"{MAX_ATTEMPTS} workers were lost in a row; the last: {lost}") from None
                log.warning("a music worker was lost (%s); trying another (attempt %d of %d)", lost, number + 1,
                            MAX_ATTEMPTS)
                if emit is not None:
                    emit(Progress("waiting"))
                if cancel.wait(RETRY_WAIT_S * number):
                    raise MakingCancelled("cancelled while waiting for another worker")
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- takes, models, memory -----------------------------------------------------------------------------

    def decode(self, variant: str, tokens: np.ndarray, seed: int,
               progress: Callable[[int, int, float | None], None] | None = None,
               cancel: threading.Event | None = None, on_place: Callable[[int], None] | None = None) -> Decoded:
        """Re-make a take's audio from its tokens [frames, 8] on a worker, with its codec latents, once its turn
        comes in the cluster's queue (`on_place(songs ahead)` while it waits; then `progress(0, 0, None)`: the
        decode starts). `progress(windows done, total, eta s or None)` follows the codec's windows; `cancel`
        raises `Cancelled`."""
        cancel = cancel or threading.Event()
        self.link.rejoin(cancel, lambda: None)
        self._using(variant)

        def on_reply(reply: object) -> Decoded | None:
            if isinstance(reply, Progress) and progress is not None and reply.phase == "redecoding":
                progress(reply.done, reply.total, reply.eta_s)
            elif isinstance(reply, Decoded):
                return reply
            return None

        def on_turn() -> Decoded:
            if progress is not None:
                progress(0, 0, None)  # no longer waiting: the page leaves the place it showed
            return self._retrying(
                lambda within: self._call("decode", (variant, tokens, seed), on_reply, cancel, within), cancel)

        return self._queued(on_turn, on_place or (lambda place: None), cancel)

    def unload(self) -> int:
        """Free the models of every worker (a worker making a song frees them once the song is made); how many
        pipelines were loaded in all. After the cluster was lost there are none: its workers are gone (the next
        song starts new ones), and asking them would wait on a cluster that may not answer."""
        with self._lock:
            self._used.clear()
        if self.link.stale:
            return 0
        return sum(self.link.broadcast("unload"))

    @property
    def loaded(self) -> list[str]:
        """The LM variants this studio has had the workers load since the last `unload` (known here, not asked:
        a worker answers only between songs, and the Models tab must not wait for one)."""
        with self._lock:
            return sorted(self._used)

    def _using(self, variant: str) -> None:
        with self._lock:
            self._used.add(variant)
