"""How a worker's streamed replies reach the maker's thread: a pump puts each reply in its `replies` queue, then
`End` (the response ended) or `Broken(error)` (it raised), so the maker can wait for the next reply with a
timeout and notice a Stop or a silent cluster even when no reply comes.

Two pumps have this face: `ReplyPump` iterates the streaming response itself (a studio joined to the cluster as
a driver); `BridgePump` (bridge.py) has an actor on the cluster iterate it (a studio joined through Ray Client,
whose own process may not iterate a streaming Serve response).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from typing import Any

from ray.serve.handle import DeploymentResponseGenerator


class End:
    """The response ended (after `Made` or `Failed` it always does)."""


@dataclasses.dataclass(frozen=True)
class Broken:
    """Iterating the response raised `error`."""

    error: BaseException


class ReplyPump:
    """Iterates a streaming response on a thread of its own into `replies`."""

    def __init__(self, response: DeploymentResponseGenerator) -> None:
        self.replies: queue.Queue[Any] = queue.Queue()
        self._response = response
        threading.Thread(target=self._run, name="heartsong-cluster-replies", daemon=True).start()

    def cancel(self) -> None:
        """Cancel the request: that reaches the worker's pipeline within a frame (worker.py)."""
        self._response.cancel()

    def _run(self) -> None:
        try:
            for reply in self._response:
                self.replies.put(reply)
            self.replies.put(End())
        except BaseException as exc:  # handed to the maker's thread, which decides what it means
            self.replies.put(Broken(exc))
