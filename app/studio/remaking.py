"""Two jobs besides Compose, with the same progress events so the page can show their phase and a bar: making a
kept take's audio again from its saved notes (tokens), and hearing the words of an uploaded recording.

Each function returns the job's work, `work(emit, gate)`, for `Studio._run` (which runs it on a thread, turns
a Stop into `JobCancelled` and hands its events to the page). What can be refused is refused when the work is
made, before any event, as Compose does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from heartmula_core.errors import Cancelled

from .errors import InvalidInput, JobCancelled
from .history import History
from .jobs import DeviceQueue, EtaClock, Event, Finished, KeepGate, Progress
from .song_files import Decoded

if TYPE_CHECKING:
    from heartmula_core.transcribe import Transcriber

Work = Callable[[Callable[[Event], None], KeepGate], None]
PhaseProgress = Callable[[int, int, float | None], None]  # (done, total, eta seconds or None)


@dataclass(frozen=True)
class Transcribed:
    """The words heard in an upload, with [verse]/[chorus] where repetition makes them clear ("" when none)."""

    text: str


class AudioDecoder(Protocol):
    """Makes audio (float32 [channels, samples], its rate and codec latents) from saved tokens [frames, 8] and the
    seed they decode with, reporting (windows done, windows total, eta) as it goes and stopping when `cancel` is
    set. A decoder with a queue of its own (a cluster's) tells `on_place(songs ahead)` while it waits there."""

    def decode(self, variant: str, tokens: np.ndarray, seed: int, progress: PhaseProgress | None = None,
               cancel: threading.Event | None = None, on_place: Callable[[int], None] | None = None) -> Decoded: ...


def eta_clock() -> Callable[[str, int, int, float | None], Progress]:
    """(phase, done, total, eta) -> Progress; an engine that gives no ETA gets one from the rate so far."""
    clock = EtaClock()

    def stamp(phase: str, done: int, total: int, eta: float | None) -> Progress:
        measured = clock.stamp(phase, done, total)
        return Progress(phase, done, total, eta if eta is not None else measured.eta_s)

    return stamp


def remake_audio(history: History, decoder: AudioDecoder, device_queue: DeviceQueue, default_variant: str,
                 song_id: str, index: int) -> Work:
    """The work that makes take `index` of a kept song again from its saved tokens (with the seed it was decoded
    with, so the same tokens give the same audio; its codec latents and gain are rewritten with it, so a later
    continuation reuses this decode, not the one before) and emits Progress ("waiting" in the device queue, then
    "redecoding" windows done of total) and `Finished(song)`. Raises `SongNotFound` / `InvalidInput` at once."""
    song = history.get(song_id)
    take = next((t for t in song.takes if t.index == index), None)
    if take is None or take.tokens is None:
        raise InvalidInput("This take has no saved notes to make its audio again from.")
    tokens_file = take.tokens
    variant = str(song.settings.get("lm_variant", default_variant))

    def work(emit: Callable[[Event], None], gate: KeepGate) -> None:
        stamp = eta_clock()
        with device_queue.turn(lambda place: emit(Progress("waiting", place=place)), gate.cancel):
            emit(Progress("redecoding"))
            try:
                decoded = decoder.decode(
                    variant, np.load(tokens_file), take.codec_seed,
                    lambda done, total, eta: emit(stamp("redecoding", done, total, eta)), gate.cancel,
                    on_place=lambda place: emit(Progress("waiting", place=place)))
            except Cancelled:
                raise JobCancelled("Stopped; the take's audio is as it was.") from None
        gate.keep()  # a Stop that came during the last window still leaves the take as it was
        history.replace_take_audio(song_id, index, decoded)
        emit(Finished(history.get(song_id)))

    return work


def transcribe_upload(path: str | Path, load: Callable[[], Transcriber], device_queue: DeviceQueue) -> Work:
    """The work that hears the words of the recording at `path` (already checked) and emits Progress ("waiting",
    "loading" the first time, "transcribing" parts of 30 s done of total) and one `Transcribed`."""

    def work(emit: Callable[[Event | Any], None], gate: KeepGate) -> None:
        stamp = eta_clock()
        with device_queue.turn(lambda place: emit(Progress("waiting", place=place)), gate.cancel):
            emit(Progress("loading"))
            transcriber = load()
            emit(Progress("transcribing"))
            try:
                result = transcriber.transcribe(
                    path, sections=True, cancel=gate.cancel,
                    progress=lambda done, total: emit(stamp("transcribing", done, total, None)))
            except Cancelled:
                raise JobCancelled("Stopped; nothing was transcribed.") from None
        emit(Transcribed(str(result.text)))

    return work
