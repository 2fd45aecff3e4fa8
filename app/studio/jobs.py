"""One generation job: sheet → (LLM writes the open fields) → music → history, with progress and cancel.

The job talks to the songwriter and to the music engine through two small protocols (`SheetWriter`,
`MusicMaker`), so it owns only the order of things, the queue, progress, cancellation and keeping the result.
`app/studio/service.py` adapts the real songwriter and `heartmula_core.pipeline` to them.

Cancellation is checked between every phase and handed to the writer and the engine (which check it every
frame and codec window); a cancelled job raises `JobCancelled` and keeps nothing: the history only ever sees a
finished song, and its save is atomic.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from app.songwriter.quoted import strip_line_quotes
from heartmula_core.hub.catalogue import DEFAULT_LM
from heartmula_core.request import MAX_STYLE_STRENGTH  # the page's strength slider runs to the engine's limit

from .continuing import Continuation
from .errors import InvalidInput, JobCancelled
from .history import History, NewTake, Song

FIELDS = ("description", "title", "lyrics", "tags")
PHASE_TEXT = {
    "waiting": "Waiting for the music engine",
    "writing": "Writing the song",
    "loading": "Loading the models",
    "prompt": "Reading the lyrics and tags",
    "encoding": "Turning the recording into notes (tokens)",
    "tokens": "Making the music",
    "decoding": "Turning it into audio",
    "saving": "Keeping the song",
    "transcribing": "Listening for the words",
    "redecoding": "Rendering the take's audio again from its notes",
    "done": "Done",
}
# What a phase counts, one and many (a count of 1 is "1 / 1 step", never "1 / 1 steps"); anything else counts steps.
UNITS = {"tokens": ("frame", "frames"), "transcribing": ("part", "parts"),
         "encoding": ("chunk of 30 s", "chunks of 30 s")}


@dataclass(frozen=True)
class Sheet:
    """What the musician gave (or the LLM filled): the four text fields and the length."""

    description: str = ""
    title: str = ""
    lyrics: str = ""
    tags: str = ""
    seconds: float = 30.0


@dataclass(frozen=True)
class MusicSettings:
    """How to make the music from a sheet (everything on the Create tab below the text fields)."""

    variants: int = 2
    seed: int | None = None  # None: a fresh random seed, recorded in the result
    cfg: float = 1.5
    temperature: float = 1.0
    topk: int = 50
    lm_variant: str = DEFAULT_LM
    style_audio: str | None = None  # a reference recording, or
    style_text: str = ""  # a text description of the style
    style_strength: float = 1.0

    @classmethod
    def of_song(cls, song: Song, default_lm_variant: str = DEFAULT_LM) -> MusicSettings:
        """How `song` was made, to make it again or vary it: its settings, first seed, and style (the kept copy
        of its reference recording, or its style text)."""
        s = song.settings
        return cls(
            variants=len(song.takes), seed=song.takes[0].seed if song.takes else None,
            cfg=float(s.get("cfg", cls.cfg)), temperature=float(s.get("temperature", cls.temperature)),
            topk=int(s.get("topk", cls.topk)), lm_variant=str(s.get("lm_variant", default_lm_variant)),
            style_audio=str(song.style_reference) if song.style_reference else None,
            style_text=str(s.get("style_text", "")), style_strength=float(s.get("style_strength", cls.style_strength)),
        )


@dataclass(frozen=True)
class Progress:
    """Where a job is: its phase, frames (or windows) done of total, an ETA, and its place when waiting."""

    phase: str
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    place: int | None = None  # jobs ahead of this one (1 = next), while waiting

    def describe(self) -> str:
        """One line for the page: "Making the music: 120 / 375 frames, about 12 s left"."""
        text = PHASE_TEXT.get(self.phase, self.phase)
        if self.phase == "waiting" and self.place:
            ahead = "1 song" if self.place == 1 else f"{self.place} songs"
            return f"{text}: {ahead} ahead of yours"
        if self.total:
            one, many = UNITS.get(self.phase, ("step", "steps"))
            text += f": {self.done} / {self.total} {one if self.total == 1 else many}"
        if self.eta_s is not None and self.phase not in ("done", "waiting"):
            text += f", about {max(1, round(self.eta_s))} s left"
        return text

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class TextChunk:
    """A piece of text streamed in by the LLM while it writes."""

    text: str


@dataclass(frozen=True)
class SheetWritten:
    """The LLM finished: the sheet with the ticked fields filled, and what the code had to repair."""

    sheet: Sheet
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class TakeAudio:
    """A piece of one take's audio as soon as it is decoded; a take's pieces, in order, concatenate to it."""

    index: int  # which take, 0-based
    samples: np.ndarray  # float32 [channels, n]
    sample_rate: int
    final: bool  # the take's last piece: it is complete


@dataclass(frozen=True)
class Listening:
    """The first take can be heard while it is made: its live stream has this token (see app/studio/live.py)."""

    token: str


@dataclass(frozen=True)
class Finished:
    """The job ended well: the song is in the history."""

    song: Song


Event = Progress | TextChunk | SheetWritten | TakeAudio | Listening | Finished
Emit = Callable[[Event], None]


class SheetWriter(Protocol):
    """Fills the `fill` fields of `sheet`, streaming raw text to `on_text`; checks `cancel` while it waits."""

    def write(
        self, sheet: Sheet, fill: frozenset[str], on_text: Callable[[str], None], cancel: threading.Event
    ) -> SheetWritten: ...


class MusicMaker(Protocol):
    """Makes `settings.variants` takes of `sheet`, emitting `Progress` and, as each take is decoded, its
    `TakeAudio` pieces; raises JobCancelled when `cancel` is set. With a `continuation` (passed only for a
    continued song), every take starts with its kept tokens and decodes with its seed."""

    def make(
        self, sheet: Sheet, settings: MusicSettings, emit: Callable[[Progress | TakeAudio], None],
        cancel: threading.Event, continuation: Continuation | None = None,
    ) -> list[NewTake]: ...


class EtaClock:
    """Turns (done, total) updates into a remaining-time estimate from the rate so far in this phase."""

    def __init__(self) -> None:
        self._phase: str | None = None
        self._start = 0.0
        self._first = 0

    def stamp(self, phase: str, done: int, total: int) -> Progress:
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._start, self._first = phase, now, done
        eta = None
        if total and done > self._first:
            rate = (done - self._first) / (now - self._start or 1e-9)
            eta = (total - done) / rate
        return Progress(phase, done, total, eta)


class DeviceQueue:
    """`slots` music jobs at a time (one on a local device; one per worker on a cluster); the others wait in
    order and are told their place."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a device queue needs at least one slot, not {slots}")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: collections.deque[object] = collections.deque()
        self._busy = 0

    @contextlib.contextmanager
    def turn(self, on_place: Callable[[int], None], cancel: threading.Event) -> Iterator[None]:
        """Block until it is this job's turn (reporting its place as it changes), then hold the device."""
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            last = None
            try:
                while self._busy >= self.slots or self._waiting[0] is not ticket:
                    place = self._waiting.index(ticket) + int(self._busy >= self.slots)
                    if place != last:
                        on_place(place)
                        last = place
                    if cancel.is_set():
                        raise JobCancelled("Stopped while waiting; nothing was made.")
                    self._cond.wait(timeout=0.1)  # wakes on release, and often enough to notice a cancel
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


class KeepGate:
    """Decides, once, whether a stopped job's song is kept or not, so the page never says "nothing was kept"
    about a song that is in the history (nor the reverse).

    The job calls `keep()` at its commit point (inside the history's save, after the files are written); the
    page's side calls `stop()` when it gives up waiting for a stopped job. Whichever comes first wins.
    """

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self._lock = threading.Lock()
        self._state: Literal["open", "keeping", "stopped"] = "open"

    def keep(self) -> None:
        """The job is about to keep its song: raises JobCancelled if it was stopped (then nothing is kept)."""
        with self._lock:
            if self._state == "stopped" or self.cancel.is_set():
                self._state = "stopped"
                raise JobCancelled("Stopped; nothing was kept.")
            self._state = "keeping"

    def stop(self) -> bool:
        """Give up on the job: True if its song can no longer be kept, False if it is already being kept."""
        with self._lock:
            if self._state == "keeping":
                return False
            self._state = "stopped"
            return True


@dataclass
class ComposeJob:
    """Everything one Compose needs; `run(emit)` does it and returns the kept song."""

    sheet: Sheet
    fill: frozenset[str]
    music: MusicSettings
    writer: SheetWriter | None
    maker: MusicMaker
    history: History
    device_queue: DeviceQueue
    cancel: threading.Event = field(default_factory=threading.Event)
    extra_settings: dict[str, Any] = field(default_factory=dict)  # kept in song.json (secrets are stripped)
    gate: KeepGate | None = None  # shared with `stream`; None: a gate on `cancel` of its own
    # A song continued from a kept take (its sheet's lyrics are the new ones only; `continuing.py`).
    continuation: Continuation | None = None
    description: str | None = None  # the kept song's description, when the sheet's is only context for the LLM

    def __post_init__(self) -> None:
        if self.gate is None:
            self.gate = KeepGate(self.cancel)

    def _check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled("Stopped; nothing was kept.")

    def run(self, emit: Emit) -> Song:
        """Write (if any field is ticked), make the music, keep it. Raises JobCancelled after a Stop."""
        sheet = self.sheet
        self._check()
        if self.fill:
            if self.writer is None:
                raise InvalidInput("No songwriter is set up, so the ticked fields cannot be written.")
            emit(Progress("writing"))
            written = self.writer.write(sheet, self.fill, lambda text: emit(TextChunk(text)), self.cancel)
            self._check()
            emit(written)
            sheet = written.sheet
        if self.continuation is not None:
            sheet = dataclasses.replace(sheet, lyrics=self.continuation.lyrics_after(sheet.lyrics))
        if not (sheet.lyrics.strip() or sheet.tags.strip()):
            raise InvalidInput("Give the song some lyrics or tags (or tick them for the LLM to write).")
        with self.device_queue.turn(lambda place: emit(Progress("waiting", place=place)), self.cancel):
            self._check()
            # The quotes protect lines from the LLM; they are not sung. The kept sheet keeps them.
            sung = dataclasses.replace(sheet, lyrics=strip_line_quotes(sheet.lyrics))
            if self.continuation is None:
                takes = self.maker.make(sung, self.music, emit, self.cancel)
            else:
                takes = self.maker.make(sung, self.music, emit, self.cancel, continuation=self.continuation)
        self._check()
        emit(Progress("saving"))
        settings = {**dataclasses.asdict(self.music), **self.extra_settings}
        settings["seeds"] = [take.seed for take in takes]
        # The upload's temp path means nothing tomorrow: the history keeps a copy of the file with the song.
        reference = settings.pop("style_audio")
        song = self.history.save(
            title=sheet.title,
            description=sheet.description if self.description is None else self.description,
            lyrics=sheet.lyrics,
            tags=sheet.tags,
            seconds=sheet.seconds,
            takes=takes,
            settings=settings,
            style_reference=reference,
            before_commit=self.gate.keep,
            parent=self.continuation.parent if self.continuation is not None else None,
            recording=self.continuation.recording if self.continuation is not None else None,
        )
        emit(Finished(song))
        return song
