"""Songs for a studio joined through Ray Client (`HEARTSONG_RAY_ADDRESS=ray://HOST:PORT`).

Ray Serve refuses streaming handle calls through Ray Client (ray-project/ray#43357, "won't fix"), and every song
streams its progress and audio. So a `ReplyBridge` actor on the cluster makes the streaming call for the studio
and keeps the replies until the studio takes them; actor calls and plain values do go through Ray Client:

    studio ──start(call, handle, method, args)──▶ ReplyBridge (an async actor ──stream──▶ MusicWorker replica
           ◀──take(call, wait_s): the replies so far──   on the cluster, one per studio)
           ──cancel(call)──▶ cancels the request, which stops the worker's pipeline within a frame (worker.py)
           ──broadcast(handle, method)──▶ every worker's answer (Unload)

`BridgePump` is the studio's side, with `ReplyPump`'s face (replies.py), so the maker waits, stops and decides
what an error means exactly as it does for a studio joined as a driver. An error raised while the bridge
iterates (a killed replica's `RayActorError`, a deleted app's `DeploymentUnavailableError`) comes back as a
`Broken` reply holding it; an error of the bridge itself (it died with its machine) comes back as `BridgeLost`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
import uuid
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from .errors import ClusterError
from .replies import Broken, End
from .session import first_line

TAKE_WAIT_S = 1.0  # a take waits this long for a reply, else answers []: a quiet call costs a round trip a second


class BridgeLost(ClusterError):
    """The studio's bridge on the cluster did not answer (its machine went away, or the connection did)."""


@dataclasses.dataclass
class _Call:
    """One streaming call the bridge makes: its replies not taken yet, and whether new ones came."""

    response: DeploymentResponseGenerator | None
    replies: list[Any] = dataclasses.field(default_factory=list)
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None  # held: asyncio keeps only a weak reference to a running task

    def put(self, reply: Any) -> None:
        self.replies.append(reply)
        self.arrived.set()


class ReplyBridge:
    """The actor (async: its calls wait on one event loop, many songs at once) that streams for the studio."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._handles: dict[tuple[str, str], DeploymentHandle] = {}

    def _held(self, handle: DeploymentHandle) -> DeploymentHandle:
        """The bridge's own copy of the workers' handle, kept from call to call like the driver's: its router
        hears that the workers' app was deleted (`serve shutdown`) and says so at once, where a handle new to each
        call would wait for workers that never come. A new bridge comes with a new deployment (link.py)."""
        return self._handles.setdefault((handle.app_name, handle.deployment_name), handle)

    async def start(self, call_id: str, handle: DeploymentHandle, method: str, args: tuple[Any, ...]) -> None:
        """Call the workers' `method(*args)` as a streaming request; its replies wait for `take(call_id)`."""
        try:
            call = _Call(getattr(self._held(handle).options(stream=True), method).remote(*args))
        except Exception as exc:  # Serve's own errors: the studio decides what they mean, as for a driver
            call = _Call(None)
            call.put(Broken(exc))
        else:
            call.task = asyncio.get_running_loop().create_task(self._iterate(call))
        self._calls[call_id] = call

    @staticmethod
    async def _iterate(call: _Call) -> None:
        assert call.response is not None
        try:
            async for reply in call.response:
                call.put(reply)
            call.put(End())
        except Exception as exc:  # a killed replica, a deleted app: handed to the studio as a reply
            call.put(Broken(exc))

    async def take(self, call_id: str, wait_s: float) -> list[Any]:
        """The replies of `call_id` not taken yet, waiting up to `wait_s` for one; [] if none came. A call
        cancelled (or unknown) answers [End()]; one whose last reply was taken (`End`, `Broken`) is forgotten."""
        call = self._calls.get(call_id)
        if call is None:
            return [End()]
        if not call.replies:
            try:
                await asyncio.wait_for(call.arrived.wait(), wait_s)
            except asyncio.TimeoutError:
                return []
        replies, call.replies = call.replies, []
        call.arrived.clear()
        if replies and isinstance(replies[-1], (End, Broken)):
            self._calls.pop(call_id, None)
        return replies

    def cancel(self, call_id: str) -> None:
        """Cancel `call_id`'s request (the worker's pipeline stops within a frame) and forget it."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        if call.response is not None:
            call.response.cancel()
        call.put(End())  # a take waiting on it answers now

    async def broadcast(self, handle: DeploymentHandle, method: str) -> list[Any]:
        """Every worker's answer to `method()` (`unload`): the studio's own process runs no Serve router through
        Ray Client (whose replies, probed with Serve's 0.1 s deadline, arrive after it gave up and break Ray
        Client's reply thread)."""
        return await self._held(handle).broadcast(method).results_async()

    def calls(self) -> int:
        """How many calls the bridge holds (for the tests: a cancelled or finished call is let go)."""
        return len(self._calls)


def open_bridge() -> ActorHandle:
    """Start a bridge on the joined cluster (through Ray Client). It takes no CPU, so it never keeps a worker
    from starting; it finds Heartsong's code through the studio's job (session.join gives it the checkout's
    path), and it stops when the studio leaves the cluster."""
    return ray.remote(ReplyBridge).options(num_cpus=0).remote()


class BridgePump:
    """The studio's side of one call through `bridge`: a thread takes its replies into `replies`."""

    def __init__(self, bridge: ActorHandle, handle: DeploymentHandle, method: str, args: tuple[Any, ...]) -> None:
        self.replies: queue.Queue[Any] = queue.Queue()
        self._bridge = bridge
        self._call_id = uuid.uuid4().hex
        self._lock = threading.Lock()  # a cancel before the call started is sent once it has
        self._started = False
        self._cancelled = False
        threading.Thread(target=self._run, args=(handle, method, args), name="heartsong-cluster-bridge",
                         daemon=True).start()

    def cancel(self) -> None:
        """Cancel the request on the cluster. Not waited for: the cluster may be the thing that went away."""
        with self._lock:
            self._cancelled = True
            if self._started:
                self._bridge.cancel.remote(self._call_id)

    def _run(self, handle: DeploymentHandle, method: str, args: tuple[Any, ...]) -> None:
        try:
            ray.get(self._bridge.start.remote(self._call_id, handle, method, args))
            with self._lock:
                self._started = True
                if self._cancelled:
                    self._bridge.cancel.remote(self._call_id)
                    return
            while not self._cancelled:
                for reply in ray.get(self._bridge.take.remote(self._call_id, TAKE_WAIT_S)):
                    self.replies.put(reply)
                    if isinstance(reply, (End, Broken)):
                        return
        except Exception as exc:  # the bridge's own failure, not the worker's: those come back as replies
            self.replies.put(Broken(BridgeLost(f"the studio's bridge on the cluster was lost: {first_line(exc)}")))
