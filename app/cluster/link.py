"""`ClusterLink`: the studio's hold on its cluster (the music workers' handle), kept through the cluster going away.

Ray ends a process whose cluster's head stays silent for a minute (its GCS reconnect timeout), so the link
watches the head (every `WATCH_S`) and leaves a silent cluster at once, whether a song is being made or not; a
song that lost the cluster says so too (`lost`). The next song joins it again (`rejoin`): at once when it answers
(or never went away: only its Serve app was lost), else it waits up to `settings.ray_reconnect_s` for it to come
back.

The link also says how a call reaches the workers (`stream`, `broadcast`): from the studio's own process when it
joined as a driver, through its bridge on the cluster when it joined through Ray Client (bridge.py; a new bridge
after a lost cluster). Through Ray Client the watch asks the client server's port (session.still_joined).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.serve.handle import DeploymentHandle

from app.settings import Settings
from heartmula_core.errors import Cancelled

from .bridge import BridgePump, open_bridge
from .errors import ClusterUnreachable
from .placement import ReplicaPlan
from .replies import ReplyPump
from .session import deploy, first_line, join, joined, leave, still_joined, through_client
from .turns import ClusterQueue, recorded_identity

log = logging.getLogger(__name__)

# How often the head is asked whether it answers: Ray ends this process when its head is silent for 60 s, and a
# head started again on the same port before the watch notices is another cluster this process cannot tell apart.
WATCH_S = 1.0
RECONNECT_POLL_S = 2.0  # how often it asks meanwhile


class ClusterLink:
    """The joined cluster at `settings.ray_address`, its music workers (`handle`, run as `plan` says) and its
    songs' queue (`queue`, shared with every studio there)."""

    def __init__(self, settings: Settings, handle: DeploymentHandle, plan: ReplicaPlan, queue: ClusterQueue) -> None:
        self.settings = settings
        self.address = settings.ray_address.strip()
        self.handle = handle
        self.plan = plan
        self.queue = queue
        # Through Ray Client the songs stream through a bridge on the cluster (bridge.py); joined as a driver, the
        # studio iterates them itself.
        self.bridge: ActorHandle | None = open_bridge() if through_client(self.address) else None
        self._stale = False  # the cluster was lost: the next song joins it again first
        self._lock = threading.Lock()  # one thread joins again; the songs at once wait for it
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="heartsong-cluster-watch", daemon=True).start()

    @classmethod
    def open(cls, settings: Settings) -> ClusterLink:
        """Join the cluster and start (or update) the workers on it.

        Raises:
            ClusterUnreachable: no cluster answers there, or it cannot run the workers (one line).
        """
        join(settings.ray_address.strip())
        handle, plan, identity = deploy(settings, recorded_identity())
        queue = ClusterQueue.open(plan.replicas, identity)
        log.info("music on the Ray cluster at %s: %d workers", settings.ray_address, plan.replicas)
        return cls(settings, handle, plan, queue)

    def close(self) -> None:
        """Leave the cluster (a cluster of its own, `local`, stops with its workers)."""
        self._closed.set()
        self.queue.close()
        with self._lock:
            leave()

    def stream(self, method: str, args: tuple[Any, ...]) -> ReplyPump | BridgePump:
        """Call the workers' `method(*args)` as a streaming request; its replies come into the pump's `replies`."""
        if self.bridge is not None:
            return BridgePump(self.bridge, self.handle, method, args)
        return ReplyPump(getattr(self.handle.options(stream=True), method).remote(*args))

    def broadcast(self, method: str) -> list[Any]:
        """Every worker's answer to `method()`."""
        if self.bridge is not None:
            return ray.get(self.bridge.broadcast.remote(self.handle, method))
        return self.handle.broadcast(method).results()

    @property
    def stale(self) -> bool:
        """Whether the cluster was lost since the last song joined it (a song still waiting on it will not hear)."""
        return self._stale

    def lost(self) -> None:
        """A song lost the cluster: the next song joins it again, and a silent cluster is left now."""
        with self._lock:
            self._stale = True
            if not still_joined():
                leave()

    def rejoin(self, cancel: threading.Event, on_wait: Callable[[], None]) -> None:
        """After the cluster was lost: join it again and start the workers there again (`on_wait()` is called
        first, so the song can say it waits). Nothing to do when it was not lost.

        Raises:
            ClusterUnreachable: it did not come back within `settings.ray_reconnect_s` (one line).
            Cancelled: a Stop while waiting.
        """
        with self._lock:
            if self._stale:
                on_wait()
            patience = self.settings.ray_reconnect_s
            deadline = time.monotonic() + patience
            while self._stale:
                try:
                    left = not still_joined()
                    if left:
                        leave()
                        join(self.address)
                    self.handle, self.plan, identity = deploy(self.settings, recorded_identity())
                    self.queue.close()  # the old cluster's queue is gone with it: the new cluster's
                    self.queue = ClusterQueue.open(self.plan.replicas, identity)
                    self._new_bridge(left)
                    self._stale = False
                    log.info("music on the Ray cluster at %s again: %d workers", self.address, self.plan.replicas)
                except ClusterUnreachable as exc:
                    if time.monotonic() >= deadline:
                        raise ClusterUnreachable(
                            f"The Ray cluster was lost and has not come back within {patience:g} s. {exc}") from None
                    if cancel.wait(RECONNECT_POLL_S):
                        raise Cancelled("cancelled while waiting for the cluster to come back") from None

    def _new_bridge(self, left: bool) -> None:
        """A new bridge after a lost cluster: the old one went with the connection (`left`), or with its machine,
        or it is still there when only the workers were lost (`serve shutdown`)."""
        if self.bridge is None:
            return
        old, self.bridge = self.bridge, open_bridge()
        if left:
            return
        try:
            ray.kill(old)
        except Exception as exc:  # gone with its machine
            log.info("the old bridge is gone already: %s", first_line(exc))

    def _watch(self) -> None:
        while not self._closed.wait(WATCH_S):
            if not self._lock.acquire(blocking=False):  # a song is joining again: it asks the head itself
                continue
            try:
                if not self._stale and joined() and not still_joined():  # (not joined: the studio left it)
                    log.warning("the Ray cluster at %s stopped answering; the next song joins it again", self.address)
                    self._stale = True
                    leave()
            finally:
                self._lock.release()
