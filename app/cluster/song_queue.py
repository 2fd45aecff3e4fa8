"""`SongQueue`: the cluster's one queue of songs (and re-decodes), shared by every studio that sends it work.

Ray Serve has no queue across callers: each studio's handle holds its own waiting requests, so songs of two
studios would be in no order with each other and neither page could say how many songs are ahead. This small
named actor orders admission only: a studio takes a ticket, waits until the queue grants it its turn (first
come, first served, when one of the `workers` is free), then sends its request, which Ray Serve routes to a free
worker as before (placement and retries stay Serve's and the studio's). The studio's side is turns.py.

Leases: a studio renews its tickets every couple of seconds, waiting or running; a ticket silent for `LEASE_S`
(its studio killed) is dropped, so a dead studio blocks the queue for at most that long.

No Ray import: Ray makes this class an actor (turns.py), and its process imports only this module.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

LEASE_S = 10.0  # a ticket whose studio said nothing this long is dropped (studios renew every RENEW_S)


@dataclass(frozen=True)
class Standing:
    """Where a ticket stands.

    Attributes:
        state: "waiting" (in line), "turn" (granted: its song may go to a worker), or "unknown" (never entered,
            left, or dropped after its lease ran out).
        place: while waiting, how many songs are ahead of it as the page counts them (1 = next: the songs in line
            before it, plus one for the workers, all busy); 0 otherwise.
    """

    state: Literal["waiting", "turn", "unknown"]
    place: int = 0


@dataclass(frozen=True)
class QueueView:
    """The whole queue at one moment: the workers, the tickets in line (first first) and those with their turn."""

    workers: int
    waiting: list[str]
    running: list[str]


class SongQueue:
    """First come, first served admission to `workers` music workers, with leases.

    A ticket is any string unique to one song (turns.py: machine, process and a random part). All methods run on
    the actor's event loop, one at a time between awaits, so the state needs no lock.

    Args:
        lease_s: how long a ticket's studio may be silent before the ticket is dropped.
    """

    def __init__(self, lease_s: float = LEASE_S) -> None:
        self.lease_s = lease_s
        self.workers = 1
        self.identity = ""  # the running workers' identity (identity.py), as the last studio to deploy them said
        self._waiting: OrderedDict[str, float] = OrderedDict()  # ticket -> when its studio last spoke
        self._running: dict[str, float] = {}
        # Tickets that left lately, and when: Ray may run a studio's `leave` before its `enter` (an async actor
        # keeps no order between calls), as when a song is stopped the moment it asks; such an `enter` is ignored.
        self._left: dict[str, float] = {}
        self._changed = asyncio.Event()  # set (and replaced) at every change, waking the long polls
        self._told: tuple[list[str], list[str], int] = ([], [], self.workers)  # the state they were woken for

    async def configure(self, workers: int, identity: str = "") -> None:
        """The workers' number and identity, from the studio that just deployed them (or found them running)."""
        self.workers = max(1, workers)
        self.identity = identity
        self._update()

    async def workers_identity(self) -> str:
        """The running workers' identity as last configured ("" before any): a studio with the same one uses them
        as they are instead of deploying them again, which would replace them under the songs they make."""
        return self.identity

    async def enter(self, ticket: str) -> Standing:
        """Put `ticket` at the back of the line (a ticket already in keeps its place, one that left stays out);
        where it stands now."""
        now = time.monotonic()
        if ticket not in self._waiting and ticket not in self._running and ticket not in self._left:
            self._waiting[ticket] = now
        self._update()
        return self._standing(ticket)

    async def wait(self, ticket: str, known: int | None, timeout_s: float) -> Standing:
        """Long poll: where `ticket` stands, as soon as that differs from waiting at place `known`, or after
        `timeout_s` (so a dead studio's tickets are reaped even when nothing else happens). Renews its lease, once:
        a poll still held when its studio died must not keep the ticket alive."""
        deadline = time.monotonic() + timeout_s
        self._renew(ticket)
        while True:
            self._update()
            standing = self._standing(ticket)
            remaining = deadline - time.monotonic()
            if known is None or standing != Standing("waiting", known) or remaining <= 0:
                return standing
            changed = self._changed
            try:  # woken by a change, or when the first lease may run out (a dead studio's ticket is dropped)
                await asyncio.wait_for(changed.wait(), min(remaining, self._next_lapse()))
            except asyncio.TimeoutError:
                pass

    async def renew(self, tickets: list[str]) -> None:
        """Its studio is alive: `tickets` (waiting or running) keep their lease."""
        for ticket in tickets:
            self._renew(ticket)
        self._update()

    async def leave(self, ticket: str) -> None:
        """The song ended, was stopped, or gave up waiting: its place or its worker goes to the next ticket."""
        self._waiting.pop(ticket, None)
        self._running.pop(ticket, None)
        self._left[ticket] = time.monotonic()
        self._update()

    async def view(self) -> QueueView:
        """The queue as it is now (for logs and `ray` sessions: who waits, who runs)."""
        self._update()
        return QueueView(self.workers, list(self._waiting), list(self._running))

    def _renew(self, ticket: str) -> None:
        now = time.monotonic()
        if ticket in self._waiting:
            self._waiting[ticket] = now
        elif ticket in self._running:
            self._running[ticket] = now

    def _next_lapse(self) -> float:
        """Seconds until the oldest lease runs out (a little after, so it has), or for ever when none is held."""
        seen = [*self._waiting.values(), *self._running.values()]
        return max(0.0, min(seen) + self.lease_s - time.monotonic()) + 0.05 if seen else float("inf")

    def _standing(self, ticket: str) -> Standing:
        if ticket in self._running:
            return Standing("turn")
        if ticket in self._waiting:
            # The same count as the studio's own DeviceQueue: the tickets ahead, plus one while every worker is
            # busy (after `_update` a ticket waits only then).
            ahead = list(self._waiting).index(ticket)
            return Standing("waiting", ahead + int(len(self._running) >= self.workers))
        return Standing("unknown")

    def _update(self) -> None:
        """Drop the tickets whose lease ran out, grant free workers to the first in line, wake the long polls."""
        silent_since = time.monotonic() - self.lease_s
        for tickets in (self._waiting, self._running, self._left):
            for ticket in [t for t, seen in tickets.items() if seen < silent_since]:
                del tickets[ticket]
        while self._waiting and len(self._running) < self.workers:
            ticket, seen = self._waiting.popitem(last=False)
            self._running[ticket] = seen
        now = (list(self._waiting), list(self._running), self.workers)
        if now != self._told:
            self._told = now
            self._changed.set()
            self._changed = asyncio.Event()
