"""`AlbumRun`: an album's songs made through the Studio, each kept in History and written into the album folder.

Every song goes through `Studio.compose` (the same path as `python -m app song`: the LLM writes the empty
fields, the Studio makes the music on whatever makes it, and keeps the song), so the album needs nothing of the
music engine's own. A song already in the manifest and in History is skipped: its folder is written again if it
went missing, or given what it lacks (a take deleted by hand, or its takes in the --format of this run, beside
the earlier format's). A song that fails is reported and the album goes on, except when the failure would end
every song the same way (a full disk, missing models). `stop()` (Ctrl-C) drops the songs being made, through the
Studio's own Stop: History keeps a whole song or nothing, and the album folder a whole song folder or nothing.

`parallel` songs are in the Studio at once. The Studio is safe for that (History takes one writer at a time, the
device queue gives the music engine one song at a time); on one machine the gain is the next song's LLM writing
while this one's music is made, and a music maker that serves several songs at once (a cluster) makes them side
by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.cluster.errors import ClusterUnreachable
from app.studio.engines import LlmChoice
from app.studio.errors import DiskFull, InvalidInput, JobCancelled, SongNotFound, explain
from app.studio.headless import compose_new, kept_song
from app.studio.history import Song
from app.studio.jobs import Event, MusicSettings, Progress, SheetWritten
from app.studio.models import ModelsMissing
from app.studio.service import Studio
from heartmula_core.errors import ModelNotAvailable

from .board import Board
from .folders import folder_name, sweep_temp, write_missing, write_song_folder
from .lines import AlbumSong
from .manifest import KeptSong, Manifest

# Failures that would end every other song the same way: the album stops instead of trying each one. A cluster
# lost mid-song (ClusterLost) fails that song only: the next one joins it again when it is back, and only a
# cluster that stays away (ClusterUnreachable) stops the album.
ALBUM_FAILURES = (DiskFull, ModelsMissing, ModelNotAvailable, ClusterUnreachable)
LOCK = ".heartsong-album.lock"
JOIN_POLL_S = 0.2  # the main thread wakes this often, so a Ctrl-C is handled at once


@dataclass
class Outcome:
    """What a run did: songs made now, kept before, failed (with the reason), and whether it was stopped."""

    made: list[AlbumSong] = field(default_factory=list)
    skipped: list[AlbumSong] = field(default_factory=list)
    failed: list[tuple[AlbumSong, str]] = field(default_factory=list)
    stopped: bool = False
    album_failure: str | None = None  # why the whole album stopped, when it did

    @property
    def kept(self) -> int:
        return len(self.made) + len(self.skipped)


@contextlib.contextmanager
def only_run_in(out: Path) -> Iterator[None]:
    """Hold the album folder for this run: a second run into the same folder at the same time would make its
    songs twice, so it is refused (the lock goes with the process, however it ends)."""
    with open(out / LOCK, "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInput(f"another `batch` is making songs into {out}: wait for it, or stop it first") from None
        yield


class AlbumRun:
    """Make `songs` through `studio` into the album folder `out`, recorded in its `manifest`.

    Args:
        studio: the Studio (its History keeps the songs; its music maker makes them).
        songs: the album's songs, checked (app/album/lines.py).
        out: the album folder; `manifest` is the one in it.
        choice: the LLM that writes empty fields.
        board: where progress goes.
        fmt: the audio format of the takes in `out` ("flac", "wav", "mp3", "ogg").
        parallel: how many songs are in the Studio at once (at least 1; None: as many as the music maker makes at
            once, one locally, one per worker on a cluster).
    """

    def __init__(
        self, studio: Studio, songs: list[AlbumSong], out: Path, manifest: Manifest, *, choice: LlmChoice,
        board: Board, fmt: str = "flac", parallel: int | None = None,
    ) -> None:
        self.studio = studio
        self.songs = songs
        self.out = out
        self.manifest = manifest
        self.choice = choice
        self.board = board
        self.fmt = fmt
        self.parallel = max(1, studio.music.slots if parallel is None else parallel)
        self.session = f"album-{os.getpid()}-{id(self):x}"  # the Studio's Stop reaches this run's songs only
        self.outcome = Outcome()
        self._stopping = threading.Event()
        self._todo: queue.Queue[AlbumSong] = queue.Queue()
        self._bug: BaseException | None = None
        self._note = ""
        self._note_shown = False

    # -- what is left ------------------------------------------------------------------------------------

    def kept_before(self, song: AlbumSong) -> tuple[KeptSong, Song] | None:
        """The manifest's entry and History's song when `song` was kept by an earlier run, else None (a song
        deleted from History since is made again)."""
        entry = self.manifest.get(song.key)
        if entry is None:
            return None
        try:
            return entry, self.studio.song(entry.song_id)
        except SongNotFound:
            return None

    def pending(self) -> list[AlbumSong]:
        """The songs this run has to make (not kept by an earlier one)."""
        return [song for song in self.songs if self.kept_before(song) is None]

    # -- running -----------------------------------------------------------------------------------------

    def stop(self, note: str = "") -> None:
        """Drop the songs being made and start no other; `note` is shown once, by the main thread. Safe from a
        signal handler: it only sets events (the main thread may be in the middle of a line of progress)."""
        self._note = self._note or note
        self._stopping.set()
        self.studio.stop(self.session)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> Outcome:
        """Skip what is kept, make the rest; returns what happened. A bug in a song's job is raised here."""
        self.out.mkdir(parents=True, exist_ok=True)
        with only_run_in(self.out):
            return self._run()

    def _run(self) -> Outcome:
        sweep_temp(self.out)
        for song in self.songs:
            before = self.kept_before(song)
            if before is None:
                self._todo.put(song)
                continue
            entry, kept = before
            written: tuple[str, ...] = ()
            if not entry.folder or not (self.out / entry.folder).is_dir():
                entry = self._write_folder(song, kept)  # kept in History, but its folder is not there
            else:  # a take gone, or the album now asked in another --format: the folder gets what it lacks
                written = write_missing(self.out / entry.folder, kept, self.fmt)
                if written:
                    entry = dataclasses.replace(entry, files=tuple(dict.fromkeys(entry.files + written)))
                    self.manifest.record(song.key, entry)
            self.outcome.skipped.append(song)
            self.board.skipped(song, entry.folder, written)
        workers = [threading.Thread(target=self._work, name=f"album-{n}", daemon=True)
                   for n in range(min(self.parallel, self._todo.qsize()))]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(JOIN_POLL_S)
                if self._note and not self._note_shown:
                    self.board.note(self._note)
                    self._note_shown = True
        self.board.close()
        if self._bug is not None:
            raise self._bug
        self.outcome.stopped = self.stopping and self.outcome.album_failure is None
        return self.outcome

    def _work(self) -> None:
        while not self.stopping:
            try:
                song = self._todo.get_nowait()
            except queue.Empty:
                return
            try:
                self._make(song)
            except BaseException as exc:  # a bug: the album stops and the main thread raises it
                self._bug = self._bug or exc
                self.stop()

    def _make(self, song: AlbumSong) -> None:
        """One song: compose it, record it as kept, write its folder, record that."""
        self.board.begin(song)
        music = MusicSettings(variants=song.variants, seed=song.seed, lm_variant=self.studio.settings.lm_variant)
        try:
            kept = kept_song(compose_new(self.studio, song.sheet, music, self.choice, self.session),
                             lambda event: self._on_event(song, event))
        except JobCancelled:
            self.board.dropped(song)
            return
        except Exception as exc:
            self._failed(song, exc, album=isinstance(exc, ALBUM_FAILURES))
            return
        try:
            # In the manifest at once, so a run killed before the folder is written never makes the song twice.
            self.manifest.record(song.key, KeptSong(kept.id, song.line_no))
            entry = self._write_folder(song, kept)
        except Exception as exc:  # the song is in History; the album folder is what could not be written
            self._failed(song, exc, album=True, kept_as=kept.id)
            return
        self.outcome.made.append(song)
        self.board.kept(song, entry.folder)

    def _failed(self, song: AlbumSong, exc: Exception, *, album: bool, kept_as: str | None = None) -> None:
        """Report a song that failed for a reason the musician can act on (a bug is raised); with `album`, the
        reason would fail every song the same way, so the album stops."""
        message = explain(exc)
        if message is None:
            raise exc
        if kept_as is not None:
            message = f"kept in History as {kept_as}, but its folder could not be written: {message}"
        self.outcome.failed.append((song, message))
        self.board.failed(song, message)
        if album:
            self.outcome.album_failure = message
            self.stop()

    def _on_event(self, song: AlbumSong, event: Event) -> None:
        if self.stopping:  # a Stop that came between this song's start and its job's first step
            self.studio.stop(self.session)
        if isinstance(event, Progress):
            self.board.progress(song, event)
        elif isinstance(event, SheetWritten):
            self.board.titled(song, event.sheet.title)

    def _write_folder(self, song: AlbumSong, kept: Song) -> KeptSong:
        name = folder_name(song.track, len(self.songs), kept.title)
        folder, files = write_song_folder(self.out, name, kept, self.fmt)
        entry = dataclasses.replace(KeptSong(kept.id, song.line_no), folder=folder, files=files)
        self.manifest.record(song.key, entry)
        return entry
