"""What `MusicPipeline.generate` hands back: each variant's audio as it is final (`AudioChunk`) and the
whole result (`MusicResult`). Plain data; writing files is the caller's choice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .request import MusicRequest


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """A piece of one variant's audio, handed to `generate(on_audio=...)` as soon as it is final.

    Attributes:
        variant: which variant (0-based) the samples belong to.
        samples: float32 [2, n] at 48 kHz, read-only. One codec window's worth; a variant's chunks, in the
            order they arrive, concatenate exactly to its `MusicResult.audio[variant]`.
        final: True on the variant's last chunk.
    """

    variant: int
    samples: np.ndarray
    final: bool


@dataclass
class MusicResult:
    """What `MusicPipeline.generate` returns; writing files is the caller's choice.

    Attributes:
        audio: per variant, float32 [2, samples] at `sample_rate`.
        tokens: per variant, int64 [frames, 8] (frame-major), what `MusicPipeline.decode` takes back.
        seeds: per variant, the seed that re-makes it alone (`MusicRequest(..., variants=1, seed=seeds[i])`).
        decode_seeds: per variant, the seed its audio was decoded with (`MusicPipeline.decode` takes it): its
            own seed, or the request's `decode_seed` for a continuation. Empty: the same as `seeds`.
        codec_tails: per variant, float32 [windows, 168, 256]: each codec window's last latent frames, what a
            continuation of it hands back as `MusicRequest.kept_latents` (empty when not kept).
        sample_rate: 48000.
        timings: seconds spent per phase ("loading", "prompt", "tokens", "decoding", "total").
        request: the request, with its seed filled in.
    """

    audio: list[np.ndarray]
    tokens: list[np.ndarray]
    seeds: list[int]
    sample_rate: int
    timings: dict[str, float] = field(default_factory=dict)
    request: MusicRequest | None = None
    decode_seeds: list[int] = field(default_factory=list)
    codec_tails: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.decode_seeds:
            self.decode_seeds = list(self.seeds)

    @property
    def seconds(self) -> list[float]:
        """Length of each variant's audio in seconds."""
        return [a.shape[-1] / self.sample_rate for a in self.audio]
