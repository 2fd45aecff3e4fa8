"""Typed errors raised by the engine.

Every error a user can cause (a bad argument, a missing or broken checkpoint, a cancel) is a
subclass of `HeartmulaError`, so callers (the CLI, the web app) can turn it into one clear line
instead of a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

import threading


class HeartmulaError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidRequest(HeartmulaError, ValueError):
    """The caller asked for something the model cannot do (empty prompt, too many frames, bad code ids...)."""


class ModelNotAvailable(HeartmulaError):
    """A model folder is missing, incomplete, or cannot be downloaded (offline, no disk space...)."""


class CheckpointMismatch(HeartmulaError):
    """A checkpoint's tensors do not match the model built from its config (missing, unexpected, mis-shaped)."""


class Cancelled(HeartmulaError):
    """The caller's cancel event was set; the work stopped cleanly and nothing was written."""


def check_cancel(cancel: threading.Event | None, what: str) -> None:
    """Raise `Cancelled("<what> cancelled")` once the caller's `cancel` is set.

    The one check every loop of the engine makes (LM frames, codec windows and Euler steps, the pipeline's
    phases), so a Stop is answered the same way everywhere.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} cancelled")
