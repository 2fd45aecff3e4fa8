"""What the studio sends a worker and what the worker streams back: plain picklable data, no Ray.

One song is one `SongJob` in; out comes `Started` (which worker took it), then the job's own `Progress` and
`TakeAudio` pieces (app/studio/jobs.py) as the worker's pipeline makes them, `Heartbeat`s while nothing else
happens (so a silent cluster can be told from a slow one), and last either `Made` or `Failed`. A re-decode
streams the same way and ends with `Decoded`.

The audio travels once: `Made` carries each take's tokens and seeds, not its audio, because the studio already
has the audio from the pieces (they concatenate exactly to the take: `MusicPipeline.generate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.studio.continuing import Continuation
from app.studio.history import NewTake
from app.studio.song_files import Decoded  # a re-decode's answer, as the studio takes it
from app.studio.jobs import MusicSettings, Sheet


@dataclass(frozen=True, eq=False)
class SongJob:
    """One song for a worker. The style reference travels as its bytes: the worker may be another machine.

    Attributes:
        sheet: what is sung (quotes already stripped by the job).
        settings: how; `settings.seed` is always set, so a retry on another worker makes the same song.
        continuation: the kept part of a continued song, or None.
        style_name: the reference recording's file name (its suffix tells its format), or "".
        style_bytes: the reference recording itself, or b"".
    """

    sheet: Sheet
    settings: MusicSettings
    continuation: Continuation | None = None
    style_name: str = ""
    style_bytes: bytes = b""

    @classmethod
    def of(cls, sheet: Sheet, settings: MusicSettings, continuation: Continuation | None) -> SongJob:
        """The job for a song made here, with the reference file's bytes read in (its size was checked)."""
        if not settings.style_audio:
            return cls(sheet, settings, continuation)
        path = Path(settings.style_audio)
        return cls(sheet, settings, continuation, path.name, path.read_bytes())

    @contextlib.contextmanager
    def local_settings(self) -> Iterator[MusicSettings]:
        """The settings with the reference recording written to a file on this machine (gone afterwards)."""
        if not self.style_bytes:
            yield self.settings
            return
        with tempfile.TemporaryDirectory(prefix="heartsong-style-") as folder:
            path = Path(folder) / Path(self.style_name).name  # a bare name: nothing can be written elsewhere
            path.write_bytes(self.style_bytes)
            yield dataclasses.replace(self.settings, style_audio=str(path))


@dataclass(frozen=True)
class Started:
    """A worker took the song: which replica, its process and its machine (for logs and fault tests)."""

    replica: str
    pid: int
    node: str


@dataclass(frozen=True)
class Heartbeat:
    """The worker is alive but has nothing to report yet (loading a model, say)."""


@dataclass(frozen=True, eq=False)
class MadeTake:
    """One finished take without its audio: tokens int64 [frames, 8], seeds, and how many samples it has."""

    tokens: np.ndarray
    seed: int
    decode_seed: int | None
    sample_rate: int
    samples: int

    @classmethod
    def of(cls, take: NewTake) -> MadeTake:
        return cls(take.tokens, take.seed, take.decode_seed, take.sample_rate, int(take.audio.shape[-1]))

    def with_audio(self, audio: np.ndarray) -> NewTake:
        """The take for the history, with the audio the studio put together from the streamed pieces."""
        if audio.shape[-1] != self.samples:
            raise RuntimeError(f"the streamed audio has {audio.shape[-1]} samples, the worker made {self.samples}")
        return NewTake(audio=audio, sample_rate=self.sample_rate, seed=self.seed, tokens=self.tokens,
                       decode_seed=self.decode_seed)


@dataclass(frozen=True, eq=False)
class Made:
    """The song is made: its takes, in order."""

    takes: list[MadeTake]


@dataclass(frozen=True, eq=False)
class Failed:
    """The song failed on the worker: the error is raised again in the studio, as it would be locally."""

    error: BaseException
