"""The tokenize contract's arithmetic: input checks, how many token frames, and the 29.76 s chunks.

A recording at 24 kHz is cut into chunks of 714,240 samples (the last one zero-padded), and each chunk gets
240 more zero samples (never audio of the next chunk). Every chunk gives 372 token frames; the recording
keeps `output_frames` of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidRequest
from .config import CHUNK_SAMPLES, CHUNK_TAIL, FRAME_RATE, SAMPLE_RATE


def output_frames(samples_24k: int) -> int:
    """Token frames kept for `samples_24k` samples: int(N / 24000 * 12.5) + 1 in float64, left to right.

    Not always N // 1920 + 1: for some multiples of 1920 the float product falls just below the integer
    (N = 55680 gives 29, not 30). The official rule is kept, quirk included.
    """
    return int(samples_24k / SAMPLE_RATE * FRAME_RATE) + 1


def chunk_count(samples_24k: int) -> int:
    return math.ceil(samples_24k / CHUNK_SAMPLES)


def as_stereo(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
    """Check a recording and return it as float32 (2, N) on the CPU (mono is duplicated).

    Accepts (N,), (1, N) or (2, N), N > 0, finite samples, a positive integer rate. Raises InvalidRequest.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise InvalidRequest(f"the sample rate must be a positive integer, got {sample_rate!r}")
    wave = torch.as_tensor(np.asarray(waveform) if not isinstance(waveform, torch.Tensor) else waveform)
    wave = wave.detach().to("cpu", torch.float32)
    if wave.dim() == 1:
        wave = wave[None]
    if wave.dim() != 2 or wave.shape[0] not in (1, 2):
        raise InvalidRequest(f"a recording must be (samples,), (1, samples) or (2, samples), got {tuple(wave.shape)}")
    if wave.shape[1] == 0:
        raise InvalidRequest("the recording has no samples")
    if not torch.isfinite(wave).all():
        raise InvalidRequest("the recording contains invalid (NaN or infinite) samples")
    return wave.expand(2, -1).contiguous() if wave.shape[0] == 1 else wave


def chunk_batches(wave_24k: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """(2, N) at 24 kHz -> batches (B <= batch_size, 2, 714480): zero-padded chunks, each with its zero tail."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidRequest(f"batch size must be a positive integer, got {batch_size!r}")
    total = chunk_count(wave_24k.shape[-1])
    for first in range(0, total, batch_size):
        chunks = []
        for c in range(first, min(first + batch_size, total)):
            chunk = wave_24k[:, c * CHUNK_SAMPLES : (c + 1) * CHUNK_SAMPLES]
            chunks.append(F.pad(chunk, (0, CHUNK_SAMPLES + CHUNK_TAIL - chunk.shape[-1])))  # (2, 714480)
        yield torch.stack(chunks)
