"""Errors the studio raises on purpose: each message is one sentence a musician can act on."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator


class StudioError(Exception):
    """Base class for studio errors shown to the musician as they are."""


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
