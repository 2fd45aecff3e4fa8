"""A deleted song's words are gone from the history's files, not only from its answers.

The database and its write-ahead log are read as raw bytes: SQLite and FTS5 keep deleted text in free pages and
index segments unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.studio.history import History, NewTake

WORDS = {"title": "quixotrellis", "description": "zorbavenue", "lyrics": "marmaladequasar", "tags": "vibraphonezest"}


def _raw(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("history.sqlite3*")))


def _song(history: History, **fields: str):
    take = NewTake(np.zeros((1, 480), np.float32), 48000, 1, np.zeros((2, 8), np.int64))
    sheet = {"title": "Other", "description": "", "lyrics": "[verse]\nordinary words", "tags": "pop"} | fields
    return history.save(**sheet, seconds=0.01, takes=[take])


@pytest.mark.parametrize("field", list(WORDS))
def test_a_deleted_songs_words_are_not_left_in_the_database_file(tmp_path: Path, field: str) -> None:
    history = History(tmp_path)
    kept = [_song(history, title=f"Keeper {i}", lyrics=f"[verse]\nstays number{i}") for i in range(3)]
    word = WORDS[field]
    doomed = _song(history, **{field: f"[verse]\n{word}" if field == "lyrics" else word})
    assert word.encode() in _raw(tmp_path)  # the control: it was written where we look
    history.delete(doomed.id)
    assert word.encode() not in _raw(tmp_path)
    assert [s.id for s in history.search("stays")] == [s.id for s in reversed(kept)]  # the rest is intact
    assert history.search(word) == []


def test_a_song_swept_for_a_lost_folder_is_forgotten_too(tmp_path: Path) -> None:
    import shutil

    history = History(tmp_path)
    doomed = _song(history, lyrics="[verse]\nmarmaladequasar")
    shutil.rmtree(doomed.folder)
    History(tmp_path)  # opening sweeps the row whose folder is gone
    assert b"marmaladequasar" not in _raw(tmp_path)
