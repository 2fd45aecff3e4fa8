"""`LatestChannel`: a job's events on their way to the page, in order, with progress as a latest-value slot.

A job can emit progress far faster than a busy page takes it (a frame counter, the LLM's text so far after
every streamed piece). Queued one by one, those updates become a backlog the page works through long after the
job moved on ("Turning it into audio" shown after the song was kept), and they hold every copy of the LLM's
text in memory. Here an update replaces the one still waiting before it when it `supersedes` it (latest wins),
and updates are handed out at most once per `interval_s`; every other event (a written sheet, a piece of
audio, the end) is kept, in order, and is never held back.

    channel = LatestChannel(supersedes=lambda old, new: ..., is_update=lambda e: ..., interval_s=0.25)
    channel.put(event)                 # from the job's thread
    event = channel.get(timeout=0.1)   # from the page's side; queue.Empty when nothing is due in time
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class LatestChannel:
    """Events in order; a waiting update is replaced by one that supersedes it, and updates are rate-limited.

    Args:
        supersedes: `(waiting, new) -> bool`: the new event makes the waiting one pointless (same kind of update).
        is_update: which events are updates (rate-limited and replaceable); the others pass at once.
        interval_s: the least time between two updates handed out (an update waits only while nothing else
            is queued behind it, so order is never broken).
        clock: the time source of the rate limit (seconds, monotonic); the `get` timeout is always real time.
    """

    def __init__(
        self,
        supersedes: Callable[[Any, Any], bool],
        is_update: Callable[[Any], bool],
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._supersedes = supersedes
        self._is_update = is_update
        self._interval_s = interval_s
        self._clock = clock
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._next_update = -float("inf")  # clock time from which the next update may be handed out

    def put(self, event: Any) -> None:
        """Queue `event`, replacing the last waiting event if `event` supersedes it."""
        with self._cond:
            if self._items and self._is_update(event) and self._supersedes(self._items[-1], event):
                self._items[-1] = event
            else:
                self._items.append(event)
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def get(self, timeout: float) -> Any:
        """The next event that is due, waiting at most `timeout` seconds; raises `queue.Empty` when none is."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hold = 0.0
                if self._items:
                    head = self._items[0]
                    update = self._is_update(head)
                    hold = self._next_update - self._clock() if update and len(self._items) == 1 else 0.0
                    if hold <= 0:
                        self._items.popleft()
                        if update:
                            self._next_update = self._clock() + self._interval_s
                        return head
                left = deadline - time.monotonic()
                if left <= 0:
                    raise queue.Empty
                self._cond.wait(min(left, hold) if hold > 0 else left)
