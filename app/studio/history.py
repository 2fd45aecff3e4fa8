"""The song history: a SQLite index (with FTS5 search) plus one folder of files per song.

Layout under the data folder::

    history.sqlite3                 songs (one row per song) + songs_fts (title, description, lyrics, tags)
    songs/<song id>/song.json       everything about the song (no secrets, ever)
    songs/<song id>/take-N.flac     the audio of take N, (channels, samples) at the pipeline's sample rate
    songs/<song id>/take-N.npy      its audio tokens, (frames, codebooks) int, for re-decoding
    songs/<song id>/take-N.codec.npy  its codec windows' last latents, so a continuation reuses its decode
    songs/<song id>/style-reference.<ext>   the reference recording the song was styled after, if any
    songs/<song id>/recording.<ext>         the musician's recording the song was made from, if any
    songs/<song id>/take-N.r<hex>.flac      take N's audio (and .r<hex>.codec.npy its latents) once rendered again

Whatever a song's folder holds, song.json says which files are the song's: a take rendered again gets files of
new names, and the rename of its new song.json over the old one switches to them (take_rewrite.py).

A song is written into `songs/.tmp-<pid>-<id>/` first; the folder is renamed into place inside the open
transaction that inserts its row, and the transaction commits only after the rename. So a crash, a cancel or a
full disk leaves either the whole song or nothing: at worst a temp folder (swept when the history is next
opened) or, in the instant between rename and commit, a folder with no row (swept once it is a minute old).
Files in a song's folder that its song.json does not name (an interrupted render's) are swept likewise.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heartmula_core.audio import read_audio, write_audio

from .errors import DiskFull, FreeSpace, InvalidInput, SongNotFound, disk_errors, free_space
from .history_db import SCHEMA, connect, forget, fts_query, leave_wal
from .history_sweep import TMP_PREFIX, TRASH_PREFIX, sweep_leftovers
from .records import ParentLink, Song, Take
from .song_files import EXPORT_FORMATS, Decoded, NewTake, keep_copy, write_json, write_take
from .take_rewrite import rewrite_take, song_lock

log = logging.getLogger(__name__)

SortOrder = Literal["newest", "oldest", "title"]
_ORDER_SQL: dict[str, str] = {
    "newest": "created DESC",
    "oldest": "created ASC",
    "title": "title COLLATE NOCASE ASC, created DESC",
}
# Settings keys that must never reach the disk, whatever nesting they arrive in.
_SECRET_KEY = re.compile(r"(api_?key|secret|password|passwd|authorization|bearer)", re.IGNORECASE)
STYLE_REFERENCE = "style-reference"  # the kept reference's file name, before the upload's extension
RECORDING = "recording"  # the kept recording's file name (a song started from a recording), likewise
# Kept free by every save, so the disk Heartsong fills never reaches its last byte (other programs, the
# database's journal and a delete still have room). A full disk can still come from elsewhere: History then
# still opens, searches and deletes (see `_connect` and `delete`).
RESERVE_BYTES = 16 * 1024 * 1024
# What a save writes besides the audio, tokens and reference: song.json and the database's new rows and journal.
_SAVE_OVERHEAD_BYTES = 256 * 1024
def strip_secrets(value: Any) -> Any:
    """A copy of `value` with every dict entry whose key looks like a secret (API key, password...) removed."""
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [strip_secrets(v) for v in value]
    return value


class History:
    """Songs kept on disk under `folder`; safe to use from several threads (one connection per call)."""

    def __init__(
        self, folder: str | os.PathLike[str], *, free_space: FreeSpace = free_space, reserve_bytes: int = RESERVE_BYTES
    ) -> None:
        self.folder = Path(folder).expanduser()
        self.songs_dir = self.folder / "songs"
        self._database = self.folder / "history.sqlite3"
        self.free_space = free_space  # bytes free in a folder: a parameter, so a test can say "the disk is full"
        self.reserve_bytes = reserve_bytes
        with disk_errors(self.folder):
            try:
                self.songs_dir.mkdir(parents=True, exist_ok=True)
            except (FileNotFoundError, NotADirectoryError, FileExistsError, PermissionError) as exc:
                # A data folder that cannot be made ("/proc/x", a file, no rights) is the musician's setting to fix.
                raise OSError(f"the data folder {self.folder} cannot be used ({exc.strerror}): set HEARTSONG_DATA_DIR "
                              "to a folder you can write") from None
            with connect(self._database) as db:
                db.executescript(SCHEMA)
        leave_wal(self._database)
        self.sweep()

    def space_needed(self, takes: Sequence[NewTake], style_reference: str | os.PathLike[str] | None = None,
                     text_chars: int = 0, recording: str | os.PathLike[str] | None = None) -> int:
        """Bytes a save of these takes can write, at most: each take's audio as FLAC (never more than its
        float32 samples), its tokens, the reference's copy, the text (in song.json and the database) and room
        for the database's journal."""
        total = _SAVE_OVERHEAD_BYTES + 4 * text_chars
        for take in takes:
            total += np.asarray(take.audio).size * 4 + 1024
            for array in (take.tokens, take.codec_tails):
                if array is not None:
                    total += np.asarray(array).nbytes + 1024
        for kept in (style_reference, recording):
            if kept is not None:
                total += Path(kept).stat().st_size
        return total

    def _check_room(self, needed: int) -> None:
        """DiskFull before anything is written when the song and the reserve do not fit."""
        free = self.free_space(self.folder)
        if free < needed + self.reserve_bytes:
            raise DiskFull(
                f"The disk is full: the song needs about {needed / 1e6:.1f} MB in {self.folder} and only "
                f"{max(0, free - self.reserve_bytes) / 1e6:.1f} MB is free (Heartsong leaves "
                f"{self.reserve_bytes / 1e6:.0f} MB free). Free some space (or delete old songs in History) and "
                "try again; nothing was kept."
            )

    # -- writing -------------------------------------------------------------------------------------------

    def save(
        self,
        *,
        title: str,
        description: str,
        lyrics: str,
        tags: str,
        seconds: float,
        takes: Sequence[NewTake],
        settings: dict[str, Any] | None = None,
        style_reference: str | os.PathLike[str] | None = None,
        before_commit: Callable[[], None] | None = None,
        parent: ParentLink | None = None,
        recording: str | os.PathLike[str] | None = None,
    ) -> Song:
        """Keep a song with all its takes, atomically. Raises `DiskFull` when the disk is full (nothing kept).

        `style_reference` is a reference recording the song was styled after (an upload's temp path, say): a
        copy is kept in the song's folder, written with the rest before the folder is renamed into place.

        `before_commit` is called once every file is written, inside the open transaction, just before the
        folder is renamed into place: whatever it raises keeps nothing (a job uses it to make "kept" and
        "stopped" exclude each other at the last possible moment).

        `parent` links a continued song to the take it came from (`children` lists it under that song).
        `recording` is the musician's recording the song was made from: a copy is kept like the reference's.
        """
        if not takes:
            raise ValueError("a song needs at least one take")
        texts = len(title) + len(description) + len(lyrics) + len(tags)
        self._check_room(self.space_needed(takes, style_reference, texts, recording))
        song_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        created = time.time()
        tmp = self.songs_dir / f"{TMP_PREFIX}{os.getpid()}-{song_id}"
        final = self.songs_dir / song_id
        meta: dict[str, Any] = {
            "id": song_id,
            "created": created,
            "title": title,
            "description": description,
            "lyrics": lyrics,
            "tags": tags,
            "seconds": float(seconds),
            "settings": strip_secrets(settings or {}),
            "takes": [],
        }
        if parent is not None:
            meta["parent"] = parent.as_json()
        try:
            with disk_errors(self.folder, self.free_space):
                tmp.mkdir()
                for index, take in enumerate(takes, start=1):
                    meta["takes"].append(write_take(tmp, index, take))
                if style_reference is not None:
                    meta["style_reference"] = keep_copy(Path(style_reference), tmp, STYLE_REFERENCE)
                if recording is not None:
                    meta["recording"] = keep_copy(Path(recording), tmp, RECORDING)
                write_json(tmp / "song.json", meta)
                with connect(self._database) as db:  # commits on leaving the block, after the rename
                    db.execute(
                        "INSERT INTO songs (id, created, title, description, lyrics, tags, seconds, takes)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (song_id, created, title, description, lyrics, tags, float(seconds), len(takes)),
                    )
                    db.execute(
                        "INSERT INTO songs_fts (song_id, title, description, lyrics, tags) VALUES (?, ?, ?, ?, ?)",
                        (song_id, title, description, lyrics, tags),
                    )
                    if parent is not None:
                        db.execute(
                            "INSERT INTO song_parents (song_id, parent_id, parent_take) VALUES (?, ?, ?)",
                            (song_id, parent.song_id, parent.take),
                        )
                    if before_commit is not None:
                        before_commit()
                    os.replace(tmp, final)
        except BaseException:
            # Whichever side of the rename it failed on, no row was committed: remove the files too.
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
        log.info("kept song %s (%d takes) in %s", song_id, len(takes), final)
        return self.get(song_id)

    def replace_take_audio(self, song_id: str, index: int, decoded: Decoded) -> Take:
        """Replace take `index`'s audio with its re-decode, and with it what a continuation reuses of the take:
        its codec latents and the gain it was written with, all at once (`take_rewrite.rewrite_take`)."""
        song = self.get(song_id)
        _find_take(song, index)
        assert song.folder is not None  # read from its folder
        with disk_errors(self.folder, self.free_space):
            rewrite_take(song.folder, index, decoded)
        return _find_take(self.get(song_id), index)

    def export(self, song_id: str, index: int, fmt: str) -> Path:
        """Take `index` as a `fmt` file ("wav", "flac", "mp3", "ogg") for download, made once and kept beside it."""
        fmt = fmt.lower().lstrip(".")
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"audio format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
        folder = self.get(song_id).folder
        assert folder is not None  # read from its folder
        try:
            # A render of this take switches its files under an exclusive lock: it waits for this export, or
            # this export waits for it and reads the new files, never the old ones as they are removed.
            with song_lock(folder, shared=True):
                song = self.get(song_id)
                take = _find_take(song, index)
                target = take.audio.with_suffix(f".{fmt}")
                if not target.is_file():
                    audio, rate = read_audio(take.audio)
                    with disk_errors(self.folder, self.free_space):
                        write_audio(target, audio, rate, title=song.title or None)
        except FileNotFoundError:
            if folder.is_dir():
                raise
            raise SongNotFound(f"That song is no longer in the history (id {song_id}).") from None
        return target

    def delete(self, song_id: str) -> None:
        """Remove a song: its folder, then its row and its words (from the database files too, not only from
        search). Raises `SongNotFound` if it is not there.

        The files go first so a full disk has room again for the database's journal: deleting old songs is what
        the disk-full message advises. A row left without its folder (a crash in between) is invisible to
        `get` and `search` and removed by the next `sweep`.
        """
        final = self.songs_dir / _safe_id(song_id)
        trash = self.songs_dir / f"{TRASH_PREFIX}{os.getpid()}-{song_id}"
        with connect(self._database) as db:
            if db.execute("SELECT 1 FROM songs WHERE id = ?", (song_id,)).fetchone() is None:
                raise SongNotFound(f"That song is no longer in the history (id {song_id}).")
        if final.exists():
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        with disk_errors(self.folder, self.free_space), connect(self._database) as db:
            db.execute("DELETE FROM songs WHERE id = ?", (song_id,))
            forget(db, song_id)
            # Its own link goes; links to it stay, so its children still say what they came from.
            db.execute("DELETE FROM song_parents WHERE song_id = ?", (song_id,))
        log.info("deleted song %s", song_id)

    # -- reading -------------------------------------------------------------------------------------------

    def get(self, song_id: str) -> Song:
        """The song with this id, read from its song.json. Raises `SongNotFound`."""
        folder = self.songs_dir / _safe_id(song_id)
        with connect(self._database) as db:
            row = db.execute("SELECT id FROM songs WHERE id = ?", (song_id,)).fetchone()
        if row is None or not (folder / "song.json").is_file():
            raise SongNotFound(f"That song is no longer in the history (id {song_id}).")
        return Song.from_json(json.loads((folder / "song.json").read_text(encoding="utf-8")), folder)

    def children(self, song_id: str) -> list[Song]:
        """The songs continued from any take of `song_id`, oldest first (it need not exist any more)."""
        with connect(self._database) as db:
            rows = db.execute(
                "SELECT p.song_id FROM song_parents p JOIN songs s ON s.id = p.song_id WHERE p.parent_id = ?"
                " ORDER BY s.created ASC",
                (song_id,),
            ).fetchall()
        songs = []
        for (child_id,) in rows:
            with contextlib.suppress(SongNotFound):
                songs.append(self.get(child_id))
        return songs

    def parent_of(self, song: Song) -> Song | None:
        """The song `song` was continued from, or None (not a continuation, or the parent was deleted)."""
        if song.parent is None:
            return None
        try:
            return self.get(song.parent.song_id)
        except SongNotFound:
            return None

    def search(self, text: str = "", *, sort: SortOrder = "newest", limit: int = 200) -> list[Song]:
        """Songs whose title, description, lyrics or tags contain every word of `text` (all songs if empty)."""
        order = _ORDER_SQL.get(sort)
        if order is None:
            raise InvalidInput(f"sort must be one of {', '.join(_ORDER_SQL)}, not {sort!r}")
        query = fts_query(text)
        with connect(self._database) as db:
            if query:
                rows = db.execute(
                    f"SELECT id FROM songs WHERE id IN (SELECT song_id FROM songs_fts WHERE songs_fts MATCH ?)"
                    f" ORDER BY {order} LIMIT ?",
                    (query, limit),
                ).fetchall()
            else:
                rows = db.execute(f"SELECT id FROM songs ORDER BY {order} LIMIT ?", (limit,)).fetchall()
        songs = []
        for (song_id,) in rows:
            with contextlib.suppress(SongNotFound):  # deleted by another tab between the two reads
                songs.append(self.get(song_id))
        return songs

    def __len__(self) -> int:
        with connect(self._database) as db:
            return int(db.execute("SELECT COUNT(*) FROM songs").fetchone()[0])

    # -- housekeeping --------------------------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove what an interrupted save or delete left behind (history_sweep.py); returns how many."""
        return sweep_leftovers(self._database, self.songs_dir)


def _safe_id(song_id: str) -> str:
    """Song ids come back from the page: refuse anything that could name a path outside the history."""
    if not re.fullmatch(r"[0-9A-Za-z-]+", song_id or ""):
        raise SongNotFound(f"That song is no longer in the history (id {song_id!r}).")
    return song_id


def _find_take(song: Song, index: int) -> Take:
    for take in song.takes:
        if take.index == index:
            return take
    raise SongNotFound(f"Song {song.id} has no take {index}.")
