"""The official detokenize's window layout and random draws: how many windows a song needs, how its codes are
padded to fill them, how many samples it returns, and the noise each window draws, in the official order."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .config import (
    FRAME_RATE,
    HOP_CODES,
    HOP_SAMPLES,
    OVERLAP_CODES,
    OVERLAP_LATENTS,
    SAMPLE_RATE,
    WINDOW_CODES,
    WINDOW_LATENTS,
)


def target_samples(frames: int) -> int:
    """Samples returned for `frames` code frames (the official float formula: 1012 frames -> 3,886,079)."""
    return int(frames / FRAME_RATE * SAMPLE_RATE)


def window_count(frames: int) -> int:
    """Number of 372-code windows (hop 320) that decode `frames` code frames."""
    length = max(WINDOW_CODES, frames)
    return max(1, math.ceil((length - OVERLAP_CODES) / HOP_CODES))


def settled_samples(frames: int) -> int:
    """Samples at the start of a song that its first `frames` code frames fix, whatever follows them (with the
    same codec seed): the audio of every window lying wholly inside those frames, up to where the next window
    fades in. 0 when no window fits (fewer than 372 frames)."""
    return kept_windows(frames) * HOP_SAMPLES


def kept_windows(frames: int) -> int:
    """Windows lying wholly inside a song's first `frames` code frames (window k reads [320 k, 320 k + 372)):
    with the same codec seed they come out the same whatever follows those frames."""
    return 0 if frames < WINDOW_CODES else (frames - WINDOW_CODES) // HOP_CODES + 1


def pad_codes(codes: torch.Tensor) -> torch.Tensor:
    """Repeat codes [T, Q] cyclically up to 372 + 320 k frames, the shortest length the windows cover exactly."""
    length = (window_count(codes.shape[0]) - 1) * HOP_CODES + WINDOW_CODES
    return codes.repeat(math.ceil(length / codes.shape[0]), 1)[:length]


@dataclass(frozen=True)
class WindowNoise:
    """One window's random draws. `discarded` only advances the RNG (the official code draws it, then masks it
    to zero): the first in-context latent [744, 256] for window 0, the [640, 256] appended after the in-context
    frames for later windows. `start` [744, 256] is the Euler starting point."""

    discarded: torch.Tensor
    start: torch.Tensor


def noise_draws(generator: torch.Generator | None, latent_dim: int) -> Iterator[WindowNoise]:
    """The official draws, window after window, float32 in the official shapes, on the generator's device
    (torch's global CPU RNG when `generator` is None, as the official code)."""
    device = generator.device if generator is not None else torch.device("cpu")

    def randn(frames: int) -> torch.Tensor:
        return torch.randn((1, frames, latent_dim), generator=generator, device=device, dtype=torch.float32)[0]

    yield WindowNoise(discarded=randn(WINDOW_LATENTS), start=randn(WINDOW_LATENTS))
    while True:
        yield WindowNoise(discarded=randn(WINDOW_LATENTS - OVERLAP_LATENTS), start=randn(WINDOW_LATENTS))
