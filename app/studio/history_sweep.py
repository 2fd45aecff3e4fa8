"""What an interrupted save or delete leaves in the history's songs folder, found and removed.

A save writes `songs/.tmp-<pid>-<id>/` and renames it into place; a delete renames the song's folder to
`songs/.trash-<pid>-<id>/` before removing it (history.py). A crash in between leaves such a folder, a song
folder whose row was never committed, or a row whose folder is gone. A take rendered again writes files of new
names into its song's folder and switches song.json to them (take_rewrite.py); a crash there leaves files that
song.json does not name (the new ones, the old ones, hidden temp files). `sweep_leftovers` removes each once no
writer can still be working on it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from .history_db import connect, forget
from .song_files import SONG_JSON, song_file_names

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"  # a song being written
TRASH_PREFIX = ".trash-"  # a song being deleted
# A song folder with no row is only an orphan once no writer can still be between rename and commit; a file in a
# song's folder that song.json does not name, once no render or export can still be writing it.
ORPHAN_GRACE_S = 60.0
OUR_FILES = (".", "take-")  # what the history writes into a song's folder besides what save copies in


def sweep_leftovers(database: Path, songs_dir: Path) -> int:
    """Remove what an interrupted save or delete left behind; returns how many leftovers were removed.

    Temp and trash folders are removed when the process that made them is gone (or is this one, which has
    just started); a song folder with no row once it is older than a minute; a row whose folder vanished; a
    take's file or a hidden temp file that its song's song.json does not name once it is older than a minute.
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
    for song_id in known:  # outside the transaction: reading every song.json must not hold the database
        if (songs_dir / song_id).is_dir():
            removed += sweep_song_folder(songs_dir / song_id)
    if removed:
        log.warning("history: removed %d leftover(s) of interrupted saves and renders", removed)
    return removed


def sweep_song_folder(folder: Path) -> int:
    """Remove the files in a kept song's folder that its song.json does not name; returns how many.

    Only names the history writes there (take files, hidden temp files) and only those untouched for a minute:
    a render or an export in another process may be writing one now. A song.json that cannot be read says
    nothing about which files are the song's, so nothing is removed then.
    """
    try:
        keep = song_file_names(json.loads((folder / SONG_JSON).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return 0  # a song being deleted, or already swept as a row whose folder is gone
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("history: %s/%s cannot be read (%s); its folder is left as it is", folder, SONG_JSON, exc)
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.name in keep or not path.name.startswith(OUR_FILES) or not path.is_file():
            continue
        try:
            if time.time() - path.stat().st_mtime > ORPHAN_GRACE_S:
                path.unlink(missing_ok=True)
                removed += 1
        except OSError as exc:  # opening the history must not fail on one file; the next sweep tries again
            log.warning("history: could not remove the leftover %s (%s)", path, exc)
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
