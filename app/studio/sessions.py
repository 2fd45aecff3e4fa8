"""Jobs in threads: `stream` runs one and yields its events as they come; `SessionJobs` knows what each page
session has running, so that its Stop cancels them."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .channel import LatestChannel
from .errors import JobCancelled
from .jobs import Emit, Event, Finished, KeepGate, Progress, TextChunk


_DONE = object()
POLL_S = 0.1  # how often a waiting consumer looks for a Stop
STOP_GRACE_S = 0.8  # how long a stopped job may take to say so itself before the page is told anyway
UPDATE_INTERVAL_S = 0.25  # progress and streamed text reach the page at most four times a second


def _is_update(event: object) -> bool:
    return isinstance(event, (Progress, TextChunk))


def _supersedes(waiting: object, new: object) -> bool:
    """A newer update of the same kind makes a waiting one stale: the LLM's text so far, or a phase's count.
    A new phase does not replace the last one's update, so every phase is still seen."""
    if isinstance(new, TextChunk):
        return isinstance(waiting, TextChunk)
    return isinstance(new, Progress) and isinstance(waiting, Progress) and waiting.phase == new.phase


def stream(
    work: Callable[[Emit], Any], cancel: threading.Event, gate: KeepGate | None = None, *, cancel_on_close: bool = True
) -> Iterator[Event]:
    """Run `work(emit)` in a thread and yield its events as they come; re-raise its error at the end.

    A Stop (`cancel` set) is answered within `STOP_GRACE_S` whatever the work is doing: from then on only a
    `Finished` is passed on (a song kept just before the Stop must be shown as kept), and if the work has not
    ended by the deadline, `JobCancelled` is raised here while the work winds down on its own (it checks
    `cancel` before keeping anything, so a stopped song is never kept). With a `gate` shared with the work, a
    work already keeping its song at the deadline is waited for instead, so its `Finished` is what the page
    sees (a Stop that lands during the save must not say "nothing was kept"). Closing the iterator early (the page
    went away) sets `cancel` too, unless `cancel_on_close` is False: then the work goes on to its end unwatched (a
    song whose tab was closed is still kept; only a Stop drops it). The thread is a daemon, so a stuck backend
    never keeps the process alive.

    Progress and streamed text are latest-wins (app/studio/channel.py): a consumer slower than the work sees
    the newest state, never a backlog of stale ones, and gets at most one every `UPDATE_INTERVAL_S`.
    """
    events = LatestChannel(_supersedes, _is_update, UPDATE_INTERVAL_S)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work(events.put)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failure.append(exc)
        finally:
            events.put(_DONE)

    thread = threading.Thread(target=target, name="heartsong-job", daemon=True)
    thread.start()
    finished = False
    stopped = False
    deadline = math.inf  # when a stopped job that has not ended is given up on
    try:
        while True:
            if not stopped and cancel.is_set():
                stopped, deadline = True, time.monotonic() + STOP_GRACE_S
            try:
                item = events.get(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    if gate is None or gate.stop():
                        raise JobCancelled("Stopped; nothing was kept.") from None
                    deadline = math.inf  # the song is being kept: wait for its Finished
                continue
            if item is _DONE:
                finished = True
                break
            if not stopped and cancel.is_set():  # a Stop that landed while waiting: nothing stale after it
                stopped, deadline = True, time.monotonic() + STOP_GRACE_S
            if not stopped or isinstance(item, Finished):
                yield item
    finally:
        if not finished and (cancel_on_close or stopped):
            cancel.set()
    if failure:
        raise failure[0]


class SessionJobs:
    """The cancel events of the jobs each session (a browser tab, an API call, a CLI run) has running."""

    def __init__(self) -> None:
        self._running: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()

    def run(
        self, session: str, work: Callable[[Any, KeepGate], None], on_stopped: Callable[[], None] | None = None,
        *, outlive_page: bool = False,
    ) -> Iterator[Event]:
        """`work(emit, gate)` in a thread, as an iterator of its events, cancelled by `stop(session)` (the
        work's cancel event is `gate.cancel`; a song it keeps goes through `gate.keep`). `on_stopped` runs when
        the Stop is answered (`JobCancelled`), which can be before the work has wound down.

        Closing the iterator early (the page went away) cancels the work, unless `outlive_page`: then it goes on
        to its end, and `stop(session)` can still reach it until then."""
        cancel = self._enter(session)
        gate = KeepGate(cancel)

        def tracked(emit: Any) -> None:
            try:
                work(emit, gate)
            finally:
                self._leave(session, cancel)

        try:
            yield from stream(tracked, cancel, gate, cancel_on_close=not outlive_page)
        except JobCancelled:
            if on_stopped is not None:
                on_stopped()
            raise

    def stop(self, session: str) -> int:
        """Cancel everything `session` has running; returns how many jobs were told to stop."""
        with self._lock:
            events = list(self._running.get(session, ()))
        for event in events:
            event.set()
        return len(events)

    def _enter(self, session: str) -> threading.Event:
        """A new cancel event for one job of `session`, which `stop(session)` sets until `_leave`."""
        cancel = threading.Event()
        with self._lock:
            self._running.setdefault(session, set()).add(cancel)
        return cancel

    def _leave(self, session: str, cancel: threading.Event) -> None:
        with self._lock:
            running = self._running.get(session, set())
            running.discard(cancel)
            if not running:
                self._running.pop(session, None)
