"""The pipeline's progress reporting: per-step counts in, `ProgressEvent`s out (phase, counts, a rate-based
ETA and the whole job's fraction), plus per-phase timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum


class Phase(str, Enum):
    """Where a generation is."""

    LOADING = "loading"
    PROMPT = "prompt"
    TOKENS = "tokens"
    DECODING = "decoding"
    DONE = "done"


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives.

    Attributes:
        phase: the current phase.
        done, total: units of this phase done so far (frames for TOKENS, codec windows over all variants
            for DECODING, models for LOADING, 1 for PROMPT and DONE).
        eta: seconds left in this phase at the current rate (None until a rate is known).
        overall: the whole job's fraction done, 0..1 (tokens count for most of it; 1.0 only at DONE).
    """

    phase: Phase
    done: int
    total: int
    eta: float | None
    overall: float


ProgressCallback = Callable[[ProgressEvent], None]

TOKENS_SHARE = 0.75
"""Share of the progress bar given to the LM; decoding gets the rest (roughly their cost at full size)."""


ETA_STEPS_SHARE = 0.02
"""An ETA is given once this share of a phase's steps (at least one) is done after its first: the first step
carries the warm-up (the prompt's prefill, first allocations), and a rate taken over it promised a 107 s song in
572 s."""


class Reporter:
    """Turns per-step counts into `ProgressEvent`s with a rate-based ETA and an overall fraction.

    Args:
        callback: receives each event (None: nothing is reported).
        clock: seconds, monotonic (a parameter so the ETA arithmetic can be tested with exact times).
    """

    def __init__(self, callback: ProgressCallback | None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.callback = callback
        self.clock = clock
        self.phase: Phase | None = None
        self.phase_start = clock()
        self._first: tuple[float, int] | None = None  # (time, steps done) at the phase's first report

    def begin(self, phase: Phase) -> None:
        """Start timing `phase`."""
        self.phase, self.phase_start, self._first = phase, self.clock(), None

    def __call__(self, phase: Phase, done: int, total: int, overall: float) -> None:
        now = self.clock()
        if phase is not self.phase:
            self.begin(phase)
        if self._first is None:
            self._first = (now, done)
        if self.callback is not None:
            self.callback(ProgressEvent(phase, done, total, self._eta(now, done, total), min(1.0, overall)))

    def _eta(self, now: float, done: int, total: int) -> float | None:
        """Seconds left at the rate since the phase's first report, once enough steps are measured (else None)."""
        if done >= total:
            return 0.0
        since, first = self._first or (now, done)
        measured = done - first
        if measured < max(1, round(ETA_STEPS_SHARE * total)) or now <= since:
            return None
        return (now - since) / measured * (total - done)

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
