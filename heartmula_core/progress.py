"""The pipeline's progress reporting: per-step counts in, `ProgressEvent`s out (phase, counts, a rate-based
ETA and the whole job's fraction), plus per-phase timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

from .request import Phase, ProgressEvent

ProgressCallback = Callable[[ProgressEvent], None]

TOKENS_SHARE = 0.75
"""Share of the progress bar given to the LM; decoding gets the rest (roughly their cost at full size)."""


class Reporter:
    """Turns per-step counts into `ProgressEvent`s with a rate-based ETA and an overall fraction."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.phase: Phase | None = None
        self.phase_start = time.perf_counter()

    def begin(self, phase: Phase) -> None:
        """Start timing `phase` (its ETA is extrapolated from here)."""
        self.phase, self.phase_start = phase, time.perf_counter()

    def __call__(self, phase: Phase, done: int, total: int, overall: float) -> None:
        now = time.perf_counter()
        if phase is not self.phase:
            self.begin(phase)
        eta = 0.0 if done >= total else (now - self.phase_start) / done * (total - done) if done else None
        if self.callback is not None:
            self.callback(ProgressEvent(phase, done, total, eta, min(1.0, overall)))

    def tokens(self) -> Callable[[int, int], None]:
        """generate_tokens' (frames_done, frames_total)."""
        return lambda done, total: self(Phase.TOKENS, done, total, TOKENS_SHARE * done / total)

    def decoding(self, base: float = TOKENS_SHARE) -> Callable[[int, int], None]:
        """The codec's (windows_done, windows_total), counted over every variant, as overall progress from `base`."""
        return lambda done, total: self(Phase.DECODING, done, total, base + (1.0 - base) * done / total)


@contextmanager
def timed(timings: dict[str, float], phase: str):
    """Adds the seconds spent in the block to `timings[phase]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start
