"""Checks for what a continuation may hand in besides its kept tokens: the parent's audio and codec latents.

With them the codec does not decode the kept part's windows again (`codec/resume.py`). Kept torch-free, like
`request.py`, which calls these: a request is checked before any model loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidRequest


def kept_audio_array(value: Any) -> np.ndarray:
    """The parent's decoded audio as a read-only float32 array [2, samples] (a copy), or InvalidRequest."""
    array = _floats(value, "kept audio")
    if array.ndim != 2 or array.shape[0] != 2 or array.shape[1] == 0:
        raise InvalidRequest(f"the kept audio must be stereo samples [2, samples], got {list(array.shape)}")
    return array


def kept_latents_array(value: Any) -> np.ndarray:
    """The parent's codec latents kept per window (`MusicResult.codec_tails`) as a read-only float32 array
    [windows, frames, channels] (a copy), or InvalidRequest. Their sizes are the codec's to check."""
    array = _floats(value, "kept codec latents")
    if array.ndim != 3 or array.shape[0] == 0:
        raise InvalidRequest(f"the kept codec latents must be [windows, frames, channels], got {list(array.shape)}")
    return array


def _floats(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; requests stay torch-free
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float32)  # a copy: the caller's array may change later
    except (TypeError, ValueError):
        raise InvalidRequest(f"the {name} must be an array of numbers") from None
    if not np.isfinite(array).all():
        raise InvalidRequest(f"the {name} holds NaN or infinite values")
    array.flags.writeable = False
    return array
