"""A full disk (issue 17.7): a song that cannot fit is refused before anything is written, every out-of-space
failure is the one "disk is full" message, nothing is half-written, and History can still search and delete.

The real cases run on a small tmpfs mounted for the test (root only: skipped with a message otherwise); the
free-space probe is a History argument, so the check before saving is also tested without one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.studio.errors import DiskFull, disk_errors
from app.studio.history import History, NewTake

from .tmpfs import mounted_tmpfs

SR = 48000


def take(seconds: float = 1.0, seed: int = 1) -> NewTake:
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, (2, int(SR * seconds))).astype(np.float32)
    return NewTake(noise, SR, seed, np.zeros((13, 8), np.int64))  # noise: FLAC cannot shrink it much


def save(history: History, title: str = "Song", seconds: float = 1.0) -> object:
    return history.save(title=title, description="", lyrics="[verse]\nla", tags="pop", seconds=seconds,
                        takes=[take(seconds)])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "songs").iterdir() if p.name.startswith("."))


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 3 MB tmpfs of its own (a real filesystem that fills up), unmounted afterwards."""
    with mounted_tmpfs("size=3m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Another program fills the disk to the last byte."""
    ballast = disk / "ballast"
    with open(ballast, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    assert os.statvfs(disk).f_bavail == 0
    return ballast


def test_a_full_disk_still_lets_history_open_search_and_delete(small_disk: Path) -> None:
    data = small_disk / "data"
    history = History(data, reserve_bytes=0)
    kept = save(history, "Kept Before")
    ballast = fill(small_disk)

    reopened = History(data, reserve_bytes=0)  # the app starting on a full disk
    assert [s.title for s in reopened.search("")] == ["Kept Before"] and len(reopened) == 1
    with pytest.raises(DiskFull, match="^The disk is full"):
        save(reopened, "No Room")
    assert len(reopened) == 1 and leftovers(data) == []  # nothing half-written
    reopened.delete(kept.id)  # the advice "delete old songs" can be followed
    assert reopened.search("") == [] and not (data / "songs" / kept.id).exists()

    ballast.unlink()
    assert save(reopened, "Room Again").title == "Room Again"


def test_running_out_mid_save_is_the_disk_full_message(small_disk: Path) -> None:
    # The probe says there is room (as a racing program could make it wrong): the FLAC encoder then fails on
    # the real full disk, and that, too, must be "the disk is full" with nothing left behind.
    data = small_disk / "data"
    answers = iter([10**12])
    history = History(data, reserve_bytes=0, free_space=lambda folder: next(answers, 0))
    fill(small_disk)
    with pytest.raises(DiskFull, match="^The disk is full"):
        save(history, "Squeezed")
    assert len(history) == 0 and leftovers(data) == []


def test_a_song_that_does_not_fit_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    room = {"free": 10**12}
    history = History(tmp_path, reserve_bytes=1_000_000, free_space=lambda folder: room["free"])
    song = save(history, "Fits", seconds=2.0)
    written = sum(p.stat().st_size for p in song.folder.iterdir())  # type: ignore[union-attr]
    needed = history.space_needed([take(2.0)])
    assert written <= needed < 4 * written  # the estimate covers what a save writes, and not wildly more
    room["free"] = needed + 1_000_000 - 1  # one byte short of the song plus the reserve
    with pytest.raises(DiskFull, match=r"^The disk is full: the song needs about [\d.]+ MB .* free"):
        save(history, "Too Big", seconds=2.0)
    assert len(history) == 1 and leftovers(tmp_path) == []


def test_sqlite_out_of_space_is_the_disk_full_message(tmp_path: Path) -> None:
    # A database that cannot grow answers SQLITE_FULL ("database or disk is full"): a real SQLite error.
    db = sqlite3.connect(tmp_path / "tiny.sqlite3")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 8")
    with pytest.raises(DiskFull, match="^The disk is full"), disk_errors(tmp_path):
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
    db.close()


def test_a_history_kept_in_wal_mode_by_an_earlier_version_moves_to_a_rollback_journal(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.close()
    History(tmp_path)
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # readers need no new file any more
    db.close()
