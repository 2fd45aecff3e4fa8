"""Errors the studio raises on purpose: each message is one sentence a musician can act on."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from pydantic import ValidationError

from app.songwriter.errors import SongwriterError
from heartmula_core.errors import HeartmulaError, ModelNotAvailable


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


@contextlib.contextmanager
def disk_errors(folder: object) -> Iterator[None]:
    """Turn 'no space left' (ENOSPC, EDQUOT) inside the block into `DiskFull` naming `folder`."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, StudioError) or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFull(
            f"The disk is full: the song could not be saved in {folder}. Free some space (or delete old songs in "
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
