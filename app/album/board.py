"""The album's progress as the musician sees it: songs done of the total, and what each song being made is doing.

On a terminal one status line is redrawn in place ("[2/5] 03 Salt Roads: Making the music: 120 / 375 frames"),
with a lasting line for each song kept, failed or skipped. Anywhere else (a pipe, a log file) every line is a
plain line of its own, and only a change of phase makes one, not every frame.
"""

from __future__ import annotations

import shutil
import threading
from typing import TextIO

from app.studio.jobs import Progress

from .lines import AlbumSong

CLEAR_LINE = "\r\x1b[2K"


class Board:
    """Progress lines for an album of `total` songs on `out` (redrawn in place when `live`). Thread-safe: songs
    made side by side report from their own threads."""

    def __init__(self, total: int, out: TextIO, *, live: bool) -> None:
        self.total = total
        self.out = out
        self.live = live
        self.done = 0
        self._now: dict[int, tuple[str, str]] = {}  # track -> (label, what it is doing), for songs being made
        self._phase: dict[int, str] = {}  # track -> the last phase written as a plain line
        # Re-entrant: a Ctrl-C handler runs on the main thread, which may be in the middle of a line here.
        self._lock = threading.RLock()

    def _name(self, song: AlbumSong) -> str:
        return f"{song.track:02d} {self._now.get(song.track, (song.label, ''))[0]}"

    def _say(self, text: str) -> None:
        """A lasting line (above the status line, which is drawn again)."""
        if self.live:
            self.out.write(CLEAR_LINE)
        self.out.write(f"[{self.done}/{self.total}] {text}\n")
        self._draw()

    def _draw(self) -> None:
        if self.live and self._now:
            width = shutil.get_terminal_size().columns - 1
            status = " | ".join(f"{track:02d} {label}: {doing}" for track, (label, doing) in sorted(self._now.items()))
            self.out.write(f"{CLEAR_LINE}[{self.done}/{self.total}] {status}"[: width + len(CLEAR_LINE)])
        self.out.flush()

    def note(self, text: str) -> None:
        with self._lock:
            self._say(text)

    def skipped(self, song: AlbumSong, folder: str, written: tuple[str, ...] = ()) -> None:
        """A song an earlier run kept; `written`: the files its folder lacked and got now (another --format)."""
        with self._lock:
            self.done += 1
            added = f" (added {', '.join(written)})" if written else ""
            self._say(f"{song.track:02d} already kept: {folder}{added}")

    def begin(self, song: AlbumSong) -> None:
        with self._lock:
            self._now[song.track] = (song.label, "starting")
            self._draw()

    def progress(self, song: AlbumSong, event: Progress) -> None:
        with self._lock:
            label = self._now.get(song.track, (song.label, ""))[0]
            self._now[song.track] = (label, event.describe())
            if self.live:
                self._draw()
            elif self._phase.get(song.track) != event.phase and event.phase != "done":  # "kept" says it
                self._phase[song.track] = event.phase
                self._say(f"{self._name(song)}: {event.describe()}")

    def titled(self, song: AlbumSong, title: str) -> None:
        """The LLM wrote the song's title: it names the song from now on."""
        with self._lock:
            doing = self._now.get(song.track, ("", "writing"))[1]
            self._now[song.track] = (title or song.label, doing)
            self._say(f"{self._name(song)}: written")

    def kept(self, song: AlbumSong, folder: str) -> None:
        with self._lock:
            self.done += 1
            self._end(song, f"kept: {folder}")

    def failed(self, song: AlbumSong, message: str) -> None:
        with self._lock:
            self._end(song, f"failed (line {song.line_no}): {message}")

    def dropped(self, song: AlbumSong) -> None:
        with self._lock:
            self._end(song, "stopped; nothing of it was kept")

    def _end(self, song: AlbumSong, text: str) -> None:
        name = self._name(song)
        self._now.pop(song.track, None)
        self._phase.pop(song.track, None)
        self._say(f"{name}: {text}")

    def close(self) -> None:
        """Leave the terminal on a fresh line."""
        with self._lock:
            if self.live:
                self.out.write(CLEAR_LINE)
                self.out.flush()
