"""Cutting a waveform into MuQ-MuLan's 10 s clips exactly as the official package does.

Full clips first; a remainder becomes one more clip completed by wrapping around to the start of the
same waveform (never zero padding). The wrap slice is cut at the input's end, so audio shorter than half
a clip gives a single clip of the input twice (2T samples, not 10 s). The audio embedding is the plain
mean of the clip latents, deliberately not re-normalised.
"""

from __future__ import annotations

import torch

from ..errors import InvalidRequest
from .config import N_FFT


def min_samples() -> int:
    """Shortest input the model can embed: its single clip (the input twice) must outlast the STFT's
    reflect padding of n_fft // 2 on each side."""
    return N_FFT // 4 + 1


def clip_spans(length: int, clip: int) -> list[tuple[int, int, int, int]]:
    """[(a, b, c, d)]: clip i is wave[a:b] followed by wave[c:d] (c = d = 0 when it does not wrap)."""
    full = length // clip
    spans = [(k * clip, (k + 1) * clip, 0, 0) for k in range(full)]
    rest = length - full * clip
    if rest > 0:
        spans.append((full * clip, length, 0, min(clip - rest, length)))
    return spans


def cut_clips(wave: torch.Tensor, clip: int) -> list[torch.Tensor]:
    """A mono waveform (T,) -> its clips, each (clip,) except a lone short clip (2T,)."""
    if wave.ndim != 1:
        raise InvalidRequest(f"expected a mono waveform (T,), got shape {tuple(wave.shape)}")
    if wave.shape[0] < min_samples():
        raise InvalidRequest(
            f"reference audio too short: {wave.shape[0]} samples, at least {min_samples()} are needed"
        )
    return [torch.cat((wave[a:b], wave[c:d])) for a, b, c, d in clip_spans(wave.shape[0], clip)]
