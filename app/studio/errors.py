"""Errors the studio raises on purpose: each message is one sentence a musician can act on."""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from app.songwriter.errors import SongwriterError
from heartmula_core.errors import HeartmulaError, ModelNotAvailable

log = logging.getLogger(__name__)

FreeSpace = Callable[[Path], int]  # bytes free for a new file in a folder
# Below this much free space after a failed write, the failure was the full disk, whatever the writer called it
# (libsndfile's FLAC encoder says "problem with initialization of the flac decoder").
LOW_SPACE_BYTES = 1 << 20


class StudioError(Exception):
    """Base class for studio errors shown to the musician as they are."""


class InvalidInput(StudioError, ValueError):
    """What the musician asked for cannot work as asked (no lyrics, an unknown export format...): the message
    says what to change. Only this and the other typed errors are shown as the musician's mistake: any other
    ValueError is a bug."""


class SongNotFound(StudioError):
    """The song (or take) asked for is not in the history (deleted in another tab, or a stale link)."""


class DiskFull(StudioError):
    """No space left in the data folder: nothing was kept, and nothing half-written remains."""


class JobCancelled(StudioError):
    """The musician pressed Stop: the job ended and nothing was kept."""


def free_space(folder: Path) -> int:
    """Bytes free for this user in `folder` (or the nearest existing folder above it)."""
    for place in (Path(folder), *Path(folder).parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(place).free
    return 0


def out_of_space(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the quota) is full: ENOSPC/EDQUOT, or SQLite's SQLITE_FULL."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


@contextlib.contextmanager
def disk_errors(folder: Path | str, space: FreeSpace | None = None) -> Iterator[None]:
    """Turn every out-of-space failure inside the block into `DiskFull` naming `folder`: the errors that say so
    (ENOSPC, EDQUOT, SQLITE_FULL), and, with a `space` probe, any failure after which `folder` has almost no
    room left (an encoder's own words for it vary)."""
    try:
        yield
    except StudioError:
        raise
    except Exception as exc:
        if not (out_of_space(exc) or (space is not None and space(Path(folder)) < LOW_SPACE_BYTES)):
            raise
        log.warning("out of space in %s: %s", folder, exc)
        raise DiskFull(
            f"The disk is full: nothing could be written in {folder}. Free some space (or delete old songs in "
            "History) and try again; nothing was kept.",
        ) from exc


OUT_OF_MEMORY = (
    "The graphics card ran out of memory. Try fewer variants or a shorter song, close other programs that use "
    "the GPU, or press Unload in Models & Settings and try again."
)


def explain(exc: BaseException) -> str | None:
    """The one-line message a musician should see for `exc`, or None when it is a bug (log it, say sorry).

    Known: the studio's, the engine's and the songwriter's own typed errors (LLM down, bad sheet...), a
    setting or sheet value pydantic refused, a full disk, file problems, and running out of GPU memory.
    """
    if isinstance(exc, StudioError):
        return str(exc)
    if isinstance(exc, ModelNotAvailable):
        return f"{exc} (Models & Settings shows what is present and can download it.)"
    if isinstance(exc, (HeartmulaError, SongwriterError)):  # one line already
        return str(exc)
    if isinstance(exc, ValidationError):  # its first message is the useful one
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}".lstrip(": ")
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return OUT_OF_MEMORY
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "The disk is full: free some space (or delete old songs in History) and try again."
        where = f" ({exc.filename})" if exc.filename else ""
        return f"A file could not be read or written{where}: {exc.strerror or exc}."
    return None
