"""The history's SQLite index: its schema, one connection per use, the search query, and forgetting a song.

`history.sqlite3` holds a row per song (`songs`), their words for search (`songs_fts`, FTS5) and the links of
continued songs to the takes they came from (`song_parents`). The songs' files live beside it (`history.py`).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS songs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    lyrics TEXT NOT NULL,
    tags TEXT NOT NULL,
    seconds REAL NOT NULL,
    takes INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS songs_fts USING fts5(
    song_id UNINDEXED, title, description, lyrics, tags, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS song_parents (
    song_id TEXT PRIMARY KEY,
    parent_id TEXT NOT NULL,
    parent_take INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS song_parents_by_parent ON song_parents (parent_id);
"""


def fts_query(text: str) -> str:
    """A safe FTS5 MATCH expression for what a musician typed: every word must match, as a prefix.

    Words are re-quoted, so quotes, brackets, `AND`, `NEAR(`, `*` or a lone `-` in the input are plain text
    and never a syntax error. Returns "" when the input has no word at all.
    """
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    return " ".join(f'"{w}"*' for w in words)



@contextlib.contextmanager
def connect(database: Path) -> Iterator[sqlite3.Connection]:
    """One connection per call, in a transaction that commits on success and rolls back on error."""
    db = sqlite3.connect(database, timeout=30)
    try:
        db.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros, not left in free space
        with db:
            yield db
    finally:
        db.close()


def leave_wal(database: Path) -> None:
    """Use a rollback journal, not WAL (which earlier versions chose): WAL makes every reader create its
    -wal and -shm files, so on a full disk even a search failed, and so did the delete that would free
    space. A rollback journal lets readers read with no new file. Converting needs a moment alone with the
    database; if another process holds it, the next start converts it."""
    with contextlib.suppress(sqlite3.OperationalError), connect(database) as db:
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            db.execute("PRAGMA journal_mode=DELETE")


def forget(db: sqlite3.Connection, song_id: str) -> None:
    """Remove a song's words from the search index for good. FTS5 only marks a deleted row in its index until
    the segments are merged, so they are merged now (this SQLite has no FTS5 `secure-delete`; a personal history
    is small enough that the merge takes milliseconds)."""
    db.execute("DELETE FROM songs_fts WHERE song_id = ?", (song_id,))
    db.execute("INSERT INTO songs_fts (songs_fts) VALUES ('optimize')")
