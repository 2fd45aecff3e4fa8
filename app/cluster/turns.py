"""`ClusterQueue`: a studio's side of the cluster's `SongQueue` (song_queue.py): taking a ticket, waiting for its
turn while the page is told its place, keeping its lease, leaving.

The queue is one named, detached actor per cluster: the first studio to start the workers creates it and every
other studio (another `./run.sh`, a `python -m app batch`) finds the same one, whichever of them exits first. It
lives on the head machine, so it lasts exactly as long as the cluster: a cluster started again has none, and the
studio that joins it again (link.py) creates the new one with the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

import ray
from ray.actor import ActorHandle

from .errors import ClusterUnreachable
from .session import CHECKOUT, first_line, joined
from .song_queue import SongQueue, Standing

log = logging.getLogger(__name__)

# The version is in the name: a cluster that outlives an upgrade keeps the old queue's code, so a new Heartsong
# whose queue changed meets a queue of its own instead of one it cannot talk to.
QUEUE_NAME = "heartsong-song-queue-1"
NAMESPACE = "heartsong"  # fixed: a studio's own namespace is anonymous, and every studio must find the same actor
HEAD_RESOURCE = "node:__internal_head__"  # every head offers it: the queue lives and dies with the cluster
RENEW_S = 2.0  # how often a studio renews its tickets' leases (song_queue.LEASE_S drops them after 10 s)
LONG_POLL_S = 2.0  # how long the queue may hold one "where do I stand" question before answering anyway
POLL_S = 0.1  # how often a waiting song looks for a Stop or a lost cluster
OPEN_S = 60.0  # how long the queue may take to start (a fresh worker process on a busy head)


class QueueLost(Exception):
    """The cluster's queue stopped answering while a song waited in it (why, in a few words)."""


def queue_actor() -> ActorHandle:
    """The cluster's queue: the one already there, or a new one (no CPU: it must fit a cluster whose CPUs the
    workers took)."""
    return ray.remote(SongQueue).options(
        name=QUEUE_NAME, namespace=NAMESPACE, get_if_exists=True, lifetime="detached", num_cpus=0,
        resources={HEAD_RESOURCE: 0.001}, runtime_env={"env_vars": {"PYTHONPATH": str(CHECKOUT)}},
    ).remote()


def recorded_identity() -> str:
    """The identity of the workers running on the joined cluster, as the cluster's queue records it ("" when
    there is no queue yet, or it cannot say: the workers are then deployed, which is always safe)."""
    try:
        return str(ray.get(queue_actor().workers_identity.remote(), timeout=OPEN_S))
    except Exception as exc:  # Ray's own errors: the queue cannot start; deploying says what is wrong
        log.info("the cluster's queue did not say which workers run there: %s", first_line(exc))
        return ""


class ClusterQueue:
    """This studio's tickets in the cluster's queue `actor`; their leases are renewed every `RENEW_S` until
    `close()`."""

    def __init__(self, actor: ActorHandle) -> None:
        self.actor = actor
        self._held: set[str] = set()  # tickets of this studio's songs, waiting or running
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._keep, name="heartsong-queue-leases", daemon=True).start()

    @classmethod
    def open(cls, workers: int, identity: str = "") -> ClusterQueue:
        """Find (or start) the joined cluster's queue and tell it how many `workers` there are now, and their
        `identity` (identity.py).

        Raises:
            ClusterUnreachable: the queue did not start (one line).
        """
        try:
            actor = queue_actor()
            ray.get(actor.configure.remote(workers, identity), timeout=OPEN_S)
        except Exception as exc:  # Ray's own errors: the cluster cannot run the queue
            raise ClusterUnreachable(f"The songs' queue did not start on the Ray cluster: {first_line(exc)}") from None
        return cls(actor)

    def close(self) -> None:
        """Stop renewing (the tickets still held lapse after the lease)."""
        self._closed.set()

    def wait_turn(self, on_place: Callable[[int], None], check: Callable[[], None]) -> str:
        """Take a ticket and wait for its turn; `on_place(songs ahead)` each time its place changes, `check()`
        every `POLL_S` (it raises to give up: a Stop, a lost cluster). Returns the ticket, held (and renewed)
        until `leave(ticket)`; a wait given up leaves at once, so every song behind moves up.

        Raises:
            QueueLost: the queue stopped answering; whatever `check()` raised.
        """
        ticket = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._held.add(ticket)
        try:
            self._wait(ticket, on_place, check)
        except BaseException:
            self.leave(ticket)
            raise
        return ticket

    def leave(self, ticket: str) -> None:
        """The song is done with its turn (or its wait): the next one in line may go."""
        with self._lock:
            self._held.discard(ticket)
        if not joined():  # the cluster was left: its queue is gone, or forgets the ticket after the lease
            return
        try:
            self.actor.leave.remote(ticket)  # not awaited: the queue acts on it at once, the song need not wait
        except Exception as exc:  # a cluster going away meanwhile: the lease ends the ticket
            log.info("could not leave the cluster's queue: %s", first_line(exc))

    def _wait(self, ticket: str, on_place: Callable[[int], None], check: Callable[[], None]) -> None:
        known: int | None = None
        pending = self.actor.enter.remote(ticket)
        while True:
            check()
            done, _ = ray.wait([pending], timeout=POLL_S)
            if not done:
                continue
            try:
                standing: Standing = ray.get(pending)
            except Exception as exc:  # the actor died (its machine went away) or the cluster is going
                raise QueueLost(f"its songs' queue stopped answering: {first_line(exc)}") from None
            if standing.state == "turn":
                return
            if standing.state == "unknown":
                # Dropped: this studio was silent longer than the lease (or the queue started again). Back in line.
                log.warning("the cluster's queue had dropped a waiting song; it waits again at the back")
                pending = self.actor.enter.remote(ticket)
                continue
            if standing.place != known:
                known = standing.place
                on_place(known)
            pending = self.actor.wait.remote(ticket, known, LONG_POLL_S)

    def _keep(self) -> None:
        while not self._closed.wait(RENEW_S):
            with self._lock:
                held = sorted(self._held)
            if not held or not joined():
                continue
            try:
                self.actor.renew.remote(held)
            except Exception as exc:  # a cluster going away: the song's own wait or call says so
                log.info("could not renew the songs' leases in the cluster's queue: %s", first_line(exc))
