"""`MusicWorker`: the Ray Serve deployment that makes songs, one replica per GPU (or a share of the CPUs).

A replica holds the studio's own `PipelineMusicMaker` (one `MusicPipeline` per LM variant asked for, loaded on
its first song and kept), so a song on the cluster runs exactly the code a song on this computer runs. Each
request streams `messages.py` replies back as the pipeline makes them.

The pipeline runs on a thread of the replica's own, so the replica's event loop stays free to stream replies,
answer Serve's health checks and hear a cancel: Serve cancels a request by cancelling its asyncio task, which
here sets the pipeline's cancel event (checked every frame and codec window), so a Stop reaches the pipeline
within a frame. The request then ends only when the pipeline has let go, so Serve never hands the replica a
new song while the old one still holds it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from ray import serve

from app.settings import Settings
from app.studio.engines import PipelineMusicMaker
from app.studio.jobs import Progress
from heartmula_core.threads import use_threads

from .messages import Decoded, Failed, Heartbeat, Made, MadeTake, SongJob, Started

log = logging.getLogger(__name__)

APP_NAME = "heartsong"
HEARTBEAT_S = 2.0  # a reply at least this often, so the studio can tell a silent cluster from a slow song
PROGRESS_S = 0.1  # progress within a phase goes out at most this often (a frame takes ms on a GPU)


class ProgressGate:
    """Passes every event except progress updates that come within `PROGRESS_S` of the last one sent in the
    same phase (a phase's first and last update always pass), so a fast LM does not send a message per frame."""

    def __init__(self, interval_s: float = PROGRESS_S) -> None:
        self.interval_s = interval_s
        self._phase: str | None = None
        self._sent = 0.0

    def passes(self, event: object) -> bool:
        if not isinstance(event, Progress):
            return True
        now = time.monotonic()
        if event.phase == self._phase and now - self._sent < self.interval_s and event.done < event.total:
            return False
        self._phase, self._sent = event.phase, now
        return True


def replica_name() -> str:
    """This replica's Serve id (its actor is "SERVE_REPLICA::" + this)."""
    return serve.get_replica_context().replica_id.to_full_id_str()


@serve.deployment(name="MusicWorker", max_ongoing_requests=1, graceful_shutdown_timeout_s=5)
class MusicWorker:
    """Makes songs and re-decodes takes with the models on this replica's device.

    Args:
        settings: the studio's settings (model folders, device, dtype, int8, compile), without its secrets.
        threads: torch CPU threads for this replica.
    """

    def __init__(self, settings: Settings, threads: int) -> None:
        use_threads(threads)
        self.maker = PipelineMusicMaker(settings)
        # One song at a time: `max_ongoing_requests=1` already says so; the single thread makes sure of it.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heartsong-music")
        self.started = Started(replica_name(), os.getpid(), socket.gethostname())
        log.info("music worker %s ready (pid %d, %d threads)", self.started.replica, self.started.pid, threads)

    async def make(self, job: SongJob) -> AsyncIterator[Any]:
        """Make `job`'s song: yields Started, Progress / TakeAudio / Heartbeat, then Made or Failed."""

        def work(emit: Callable[[Any], None], cancel: threading.Event) -> Made:
            with job.local_settings() as settings:
                takes = self.maker.make(job.sheet, settings, emit, cancel, job.continuation)
            return Made([MadeTake.of(take) for take in takes])

        async for reply in self._stream(work):
            yield reply

    async def decode(self, variant: str, tokens: np.ndarray, seed: int) -> AsyncIterator[Any]:
        """Re-make a take's audio from its tokens [frames, 8]: yields Started, Progress("redecoding", windows
        done, total) / Heartbeat, then Decoded (audio [channels, samples], rate, codec latents) or Failed."""

        def work(emit: Callable[[Any], None], cancel: threading.Event) -> Decoded:
            def progress(done: int, total: int, eta: float | None) -> None:
                emit(Progress("redecoding", done, total, eta))

            return self.maker.decode(variant, tokens, seed, progress, cancel)

        async for reply in self._stream(work):
            yield reply

    async def _stream(self, work: Callable[[Callable[[Any], None], threading.Event], Any]) -> AsyncIterator[Any]:
        """Run `work(emit, cancel)` on the replica's music thread, yielding Started, what it emits (progress
        thinned out by `ProgressGate`), Heartbeats while it is quiet, then its answer, or Failed."""
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        gate = ProgressGate()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(replies.put_nowait, item)

        def emit(event: Any) -> None:
            if gate.passes(event):
                put(event)

        def run() -> None:
            try:
                put(work(emit, cancel))
            except Exception as exc:  # every failure goes back to the studio, which raises it as it would locally
                put(Failed(exc))

        done = loop.run_in_executor(self.pool, run)
        try:
            yield self.started
            while True:
                try:
                    reply = await asyncio.wait_for(replies.get(), HEARTBEAT_S)
                except asyncio.TimeoutError:
                    reply = Heartbeat()
                yield reply
                if isinstance(reply, (Made, Decoded, Failed)):
                    return
        finally:
            # A cancelled request (the musician's Stop, or the studio giving up) stops the pipeline; the request
            # ends when the pipeline has let go, so the next song never waits behind a stopped one.
            cancel.set()
            await asyncio.shield(done)

    async def unload(self) -> int:
        """Free this replica's models; how many pipelines were loaded."""
        return await self._run(self.maker.unload)

    def loaded(self) -> list[str]:
        """The LM variants loaded on this replica."""
        return self.maker.loaded

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
