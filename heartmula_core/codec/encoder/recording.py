"""Reading a recording to encode: any file `audio.read_audio` reads, checked for what makes encoding pointless.

The tokenize contract itself accepts any finite, non-empty mono or stereo signal. A user's file also has to
be long enough to give one token frame, not silent, and within the caller's duration and size caps; each
problem is one `InvalidRequest` line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...audio import read_audio
from ...errors import InvalidRequest
from .config import FRAME_RATE

MIN_SECONDS = 1 / FRAME_RATE  # one token frame, 80 ms
SILENCE_PEAK = 1 / 32768  # below one 16-bit step: digital silence


def read_recording(
    path: str | os.PathLike[str], *, max_seconds: float | None = None, max_bytes: int | None = None
) -> tuple[np.ndarray, int]:
    """A recording as float32 (channels 1 or 2, samples) and its sample rate.

    Raises:
        InvalidRequest: missing, empty, corrupt, over a cap, more than two channels, shorter than one token
            frame (80 ms), NaN/infinite samples, or silent.
    """
    audio, rate = read_audio(path, max_seconds=max_seconds, max_bytes=max_bytes)
    name = Path(path)
    if audio.shape[0] > 2:
        raise InvalidRequest(f"{name}: {audio.shape[0]} channels; the encoder reads mono or stereo recordings")
    seconds = audio.shape[1] / rate
    if seconds < MIN_SECONDS:
        raise InvalidRequest(
            f"{name}: {audio.shape[1]} samples ({seconds * 1000:.1f} ms) is too short; "
            f"a recording needs at least {MIN_SECONDS * 1000:.0f} ms (one token frame)"
        )
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise InvalidRequest(f"{name}: the recording is silent; there is nothing to encode")
    return audio, rate
