"""Hearing a take while it is made: its decoded pieces as one WAV stream that a browser plays as it arrives.

A `LiveTake` collects the pieces of one take (float32 [2, n] at 48 kHz, in order) as 16-bit PCM; any number
of readers (`wav_stream`) get the whole take from its start, then each new piece as it comes, and the stream
ends when the take is complete or the job stopped. `LiveTakes` hands them out under unguessable tokens (the
page's player asks for `live/<token>.wav`) and keeps each session's latest one, so a player can replay it
until that session composes again.

The WAV header cannot know the take's length, so it says "as long as it goes" (0xFFFFFFFF), which browsers
(and libsndfile) read as "until the stream ends".
"""

from __future__ import annotations

import secrets
import struct
import threading
from collections.abc import Callable, Iterator

import numpy as np

from .jobs import Event, Listening, TakeAudio

UNKNOWN_SIZE = 0xFFFFFFFF
PCM_SCALE = 32767
READ_WAIT_S = 0.5  # how long a reader sleeps between checks for a stop when no piece comes
MAX_LIVE_TAKES = 4  # kept for replay across all sessions (a 4-minute take is ~46 MB of PCM): the oldest go


def wav_header(sample_rate: int, channels: int) -> bytes:
    """A 16-bit PCM WAV header for a stream of unknown length."""
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block, block, 16)
    return (b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", UNKNOWN_SIZE))


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 [channels, n] in [-1, 1] -> interleaved little-endian 16-bit PCM (clipped at full scale)."""
    scaled = np.clip(samples, -1.0, 1.0) * PCM_SCALE
    return np.round(scaled).astype("<i2").T.tobytes()  # (n, channels), frame-major


class LiveTake:
    """One take's audio so far, as PCM pieces, for readers that start before it is finished."""

    def __init__(self, sample_rate: int, channels: int = 2) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self._pieces: list[bytes] = []
        self._cond = threading.Condition()
        self._ended = False

    def feed(self, samples: np.ndarray) -> None:
        """Add the next piece: float32 [channels, n]."""
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise ValueError(f"a live piece must be [{self.channels}, samples], got {tuple(samples.shape)}")
        with self._cond:
            if self._ended:
                return
            self._pieces.append(to_pcm16(samples))
            self._cond.notify_all()

    def end(self) -> None:
        """No more pieces: the take is complete (or its job stopped); readers finish what is there."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def frames(self) -> int:
        """Sample frames received so far."""
        with self._cond:
            return sum(len(p) for p in self._pieces) // (2 * self.channels)

    def wav_stream(self, stop: threading.Event | None = None) -> Iterator[bytes]:
        """The header, every piece so far, then each new one as it comes, until the take ends (or `stop`)."""
        yield wav_header(self.sample_rate, self.channels)
        sent = 0
        while True:
            with self._cond:
                while sent == len(self._pieces) and not self._ended:
                    if stop is not None and stop.is_set():
                        return
                    self._cond.wait(READ_WAIT_S)
                pieces = self._pieces[sent:]
                ended = self._ended
            yield from pieces
            sent += len(pieces)
            if ended and sent == len(self._pieces):
                return


class LiveTakes:
    """Live takes by token; each session keeps only its latest (a new Compose replaces it), and only the
    `limit` newest are kept at all, so page reloads (new sessions) never pile up audio in memory."""

    def __init__(self, limit: int = MAX_LIVE_TAKES) -> None:
        self.limit = limit
        self._by_token: dict[str, LiveTake] = {}
        self._token_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def open(self, session: str, sample_rate: int, channels: int = 2) -> tuple[str, LiveTake]:
        """A new live take for `session` and its token; the session's previous one ends and is forgotten."""
        take = LiveTake(sample_rate, channels)
        token = secrets.token_urlsafe(16)
        with self._lock:
            gone = [self._by_token.pop(self._token_of.get(session, ""), None)]
            self._by_token[token] = take  # dicts keep insertion order: the first is the oldest
            self._token_of[session] = token
            while len(self._by_token) > self.limit:
                gone.append(self._by_token.pop(next(iter(self._by_token))))
            self._token_of = {s: t for s, t in self._token_of.items() if t in self._by_token}
        for old in gone:
            if old is not None:
                old.end()
        return token, take

    def get(self, token: str) -> LiveTake | None:
        with self._lock:
            return self._by_token.get(token)

    def close(self, session: str) -> None:
        """Forget `session`'s live take (a Stop: nothing of it may be played again)."""
        with self._lock:
            take = self._by_token.pop(self._token_of.pop(session, ""), None)
        if take is not None:
            take.end()

    def drop(self, token: str) -> None:
        """Forget one live take by its token (its job stopped or failed), whichever session it belongs to."""
        with self._lock:
            take = self._by_token.pop(token, None)
            self._token_of = {s: t for s, t in self._token_of.items() if t != token}
        if take is not None:
            take.end()

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)


class FirstTakeTee:
    """An emit wrapper for a Compose: the first take's audio pieces also go to a live take, and once its first
    piece is there, a `Listening` event says where to hear it. Every event is passed on unchanged.

    `emit` may be given later (set the attribute before the first event): the caller that answers a Stop
    holds the tee before the job's thread has its emit, so it can `abandon` it at once.
    """

    def __init__(self, takes: LiveTakes, session: str, emit: Callable[[Event], None] | None = None) -> None:
        self.takes = takes
        self.session = session
        self.emit = emit
        self.live: LiveTake | None = None
        self.token: str | None = None
        self._abandoned = False
        self._lock = threading.Lock()  # the job's thread feeds, the page's thread may abandon

    def __call__(self, event: Event) -> None:
        if isinstance(event, TakeAudio) and event.index == 0:
            listening = None
            with self._lock:
                if self.live is None and not self._abandoned:
                    self.token, self.live = self.takes.open(self.session, event.sample_rate, event.samples.shape[0])
                    listening = Listening(self.token)
                live = self.live if not self._abandoned else None
            if live is not None:
                live.feed(event.samples)
                if event.final:
                    live.end()
            if listening is not None:
                self.emit(listening)
        self.emit(event)

    def abandon(self) -> None:
        """The job failed or stopped: its live take must not be heard again, nor a new one opened. Safe to
        call from any thread and more than once; a newer Compose's take in the same session is left alone."""
        with self._lock:
            self._abandoned = True
            token = self.token
        if token is not None:
            self.takes.drop(token)
