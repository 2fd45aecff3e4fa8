"""What an interrupted save or delete leaves in the history's songs folder, found and removed.

A save writes `songs/.tmp-<pid>-<id>/` and renames it into place; a delete renames the song's folder to
`songs/.trash-<pid>-<id>/` before removing it (history.py). A crash in between leaves such a folder, a song
folder whose row was never committed, or a row whose folder is gone: `sweep_leftovers` removes each once no
writer can still be working on it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from .history_db import connect, forget

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"  # a song being written
TRASH_PREFIX = ".trash-"  # a song being deleted
# A song folder with no row is only an orphan once no writer can still be between rename and commit.
ORPHAN_GRACE_S = 60.0


def sweep_leftovers(database: Path, songs_dir: Path) -> int:
    """Remove what an interrupted save or delete left behind; returns how many leftovers were removed.

    Temp and trash folders are removed when the process that made them is gone (or is this one, which has
    just started); a song folder with no row once it is older than a minute; a row whose folder vanished.
    """
    removed = 0
    with connect(database) as db:
        known = {row[0] for row in db.execute("SELECT id FROM songs")}
        for path in songs_dir.iterdir():
            name = path.name
            if name.startswith((TMP_PREFIX, TRASH_PREFIX)):
                stale = not writer_alive(name)
            elif path.is_dir() and name not in known:
                stale = time.time() - path.stat().st_mtime > ORPHAN_GRACE_S
            else:
                stale = False
            if stale:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        for song_id in known:
            if not (songs_dir / song_id / "song.json").is_file():
                db.execute("DELETE FROM songs WHERE id = ?", (song_id,))
                forget(db, song_id)
                removed += 1
    if removed:
        log.warning("history: removed %d leftover(s) of interrupted saves", removed)
    return removed


def writer_alive(name: str) -> bool:
    """Whether the process named in `.tmp-<pid>-<id>` / `.trash-<pid>-<id>` still runs (and is not us)."""
    try:
        pid = int(name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
