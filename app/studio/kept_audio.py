"""What a continuation reuses of its parent take besides the tokens: the kept part's audio as it was decoded,
and the codec latents kept beside it (`take-N.codec.npy`).

With them the engine does not decode the kept part's codec windows again (`heartmula_core.codec.resume`): the
new song opens with the parent's samples, heard live at once. Either may be missing (a take kept before
latents were, a file gone or unreadable): then less is reused, never less is made. Without the audio the
kept part is decoded again with the parent's seed; without the latents only their flow runs again.
"""

from __future__ import annotations

import logging

import numpy as np

from heartmula_core.audio import CODEC_SAMPLE_RATE, read_audio
from heartmula_core.errors import InvalidRequest
from heartmula_core.request import FRAME_RATE

from .records import Take

log = logging.getLogger(__name__)


def kept_audio(take: Take, frames: int) -> np.ndarray | None:
    """The audio of the take's first `frames` code frames as its codec decoded it, float32 [2, samples] (the
    kept file's samples, turned back up by what writing turned them down by), or None when the file cannot give
    it (gone, unreadable, not the codec's 48 kHz stereo)."""
    try:
        audio, rate = read_audio(take.audio)
    except InvalidRequest as exc:
        log.warning("take %s: its audio cannot be reused, the kept part is decoded again (%s)", take.audio, exc)
        return None
    if rate != CODEC_SAMPLE_RATE or audio.ndim != 2 or audio.shape[0] != 2:
        return None
    audio = audio[:, : int(frames / FRAME_RATE * CODEC_SAMPLE_RATE)]
    return audio if take.gain == 1.0 else audio / np.float32(take.gain)


def kept_latents(take: Take) -> np.ndarray | None:
    """The take's codec latents [windows, frames, channels] float32, or None when it has none to give."""
    if take.codec_tails is None or not take.codec_tails.is_file():
        return None
    try:
        latents = np.load(take.codec_tails, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("take %s: its codec latents cannot be read (%s)", take.codec_tails, exc)
        return None
    return latents if latents.dtype == np.float32 and latents.ndim == 3 else None
