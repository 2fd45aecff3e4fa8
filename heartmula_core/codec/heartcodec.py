"""HeartCodec decoding: LM codes [T, 8] -> 48 kHz stereo waveform [2, N], window by window.

The official `detokenize`, reproduced step for step (same padding, noise draws, Euler steps, guidance and
crossfade, so a seeded CPU run gives the official waveform), with three differences:

- Length fix: the official code skips the codes after the last full window when (T - 104) % 320 == 0 and
  T > 372 (T = 424 returns 29.76 s instead of 33.92 s). We pad whenever the windows do not cover the codes,
  so every code is decoded and the result always has int(T / 12.5 * 48000) samples. Every other T gives the
  official windows and waveform.
- Memory: one window at a time; audio is emitted (`decode_stream`) as soon as it is final, so peak memory does
  not grow with the song.
- Speed: the SQ decoder only runs on the latent frames whose samples are kept (plus its 2-frame look-ahead);
  the unconditional and conditional guidance rows go through the estimator as one batch.

Public API (the pipeline builds on it): `sample_rate`, `frame_rate`, `decode`, `decode_stream`,
`decode_windows`. Audio is returned on the CPU, float32, whatever device the model runs on.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import Cancelled, InvalidRequest
from .config import (
    FRAME_RATE,
    HOP_CODES,
    HOP_SAMPLES,
    LATENTS_PER_CODE,
    OVERLAP_CODES,
    OVERLAP_LATENTS,
    OVERLAP_SAMPLES,
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
    WINDOW_CODES,
    WINDOW_LATENTS,
    WINDOW_SAMPLES,
    HeartCodecConfig,
)
from .dit import Estimator
from .rvq import ResidualVQDecoder
from .sq_codec import SQDecoder

SIGMA_MIN = 1e-6  # flow-matching path: x_t = (1 - (1 - sigma_min) t) x0 + t x1

# Latent frames the SQ decoder runs at a time: small enough for its activations to stay in cache on CPU
# (2-2.5x faster than one pass per window, measured on 1 thread) and ~30 MB a layer for the full-size model.
SQ_CHUNK_FRAMES = 32

Progress = Callable[[int, int], None]


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


@dataclass(frozen=True)
class DecodedWindow:
    """One decoded window: its final latent [744, 256] float32 and the audio [2, n] it made final."""

    latents: torch.Tensor
    audio: torch.Tensor


def target_samples(frames: int) -> int:
    """Samples returned for `frames` code frames (the official float formula: 1012 frames -> 3,886,079)."""
    return int(frames / FRAME_RATE * SAMPLE_RATE)


def window_count(frames: int) -> int:
    """Number of 372-code windows (hop 320) that decode `frames` code frames."""
    length = max(WINDOW_CODES, frames)
    return max(1, math.ceil((length - OVERLAP_CODES) / HOP_CODES))


def pad_codes(codes: torch.Tensor) -> torch.Tensor:
    """Repeat codes [T, Q] cyclically up to 372 + 320 k frames, the shortest length the windows cover exactly."""
    length = (window_count(codes.shape[0]) - 1) * HOP_CODES + WINDOW_CODES
    return codes.repeat(math.ceil(length / codes.shape[0]), 1)[:length]


class HeartCodec(nn.Module):
    """The decode half of HeartCodec: RVQ condition, flow-matching estimator, SQ waveform decoder."""

    def __init__(self, config: HeartCodecConfig) -> None:
        super().__init__()
        self.config = config
        self.quantizer = ResidualVQDecoder(
            config.num_quantizers, config.codebook_size, config.codebook_dim, config.dim
        )
        self.cond_proj = nn.Linear(config.dim, config.dim)
        self.estimator = Estimator(config)
        self.decoder = SQDecoder(config)

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def frame_rate(self) -> float:
        return FRAME_RATE

    @property
    def device(self) -> torch.device:
        return self.cond_proj.weight.device

    def decode(
        self,
        codes: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        steps: int = 10,
        guidance: float = 1.25,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> torch.Tensor:
        """Decode LM codes to audio.

        Args:
            codes: [T, num_quantizers] integer codes, frame-major (what the LM produces), 0 <= code < 8192.
            generator: source of the flow-matching noise; None uses torch's global RNG (as the official code).
                The noise is drawn on the generator's device, so a CPU generator gives the same audio on any device.
            steps: Euler steps per window.
            guidance: classifier-free guidance scale; <= 1 runs the conditional pass only.
            progress: called with (windows_done, windows_total) after each window.
            cancel: checked before each window and each Euler step; raises Cancelled when set.

        Returns:
            [2, int(T / 12.5 * 48000)] float32 stereo waveform at 48 kHz, on the CPU.
        """
        stream = self.decode_stream(
            codes, generator=generator, steps=steps, guidance=guidance, progress=progress, cancel=cancel
        )
        return torch.cat(list(stream), dim=1)

    def decode_stream(
        self,
        codes: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        steps: int = 10,
        guidance: float = 1.25,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[torch.Tensor]:
        """Same arguments as `decode`; yields the audio [2, n_i] window by window as soon as it is final
        (crossfaded, never changed later). The chunks concatenate to exactly `decode(...)`."""
        windows = self.decode_windows(
            codes, generator=generator, steps=steps, guidance=guidance, progress=progress, cancel=cancel
        )
        for window in windows:
            yield window.audio

    @torch.inference_mode()
    def decode_windows(
        self,
        codes: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        steps: int = 10,
        guidance: float = 1.25,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[DecodedWindow]:
        """Same arguments as `decode`; yields each window's final latent with the audio it made final."""
        codes = self._check_codes(codes)
        if not isinstance(steps, int) or steps < 1:
            raise InvalidRequest(f"steps must be a positive integer, got {steps!r}")
        windows = window_count(codes.shape[0])
        latents = self._latent_windows(pad_codes(codes), generator, steps, guidance, cancel)
        for index, window in enumerate(self.waveform_from_latents(latents, codes.shape[0])):
            if progress is not None:
                progress(index + 1, windows)
            yield window

    @torch.inference_mode()
    def waveform_from_latents(self, window_latents: Iterable[torch.Tensor], frames: int) -> Iterator[DecodedWindow]:
        """SQ-decode and crossfade window latents [744, 256] (as `decode_windows` yields them) for a song of
        `frames` code frames; yields each window with the audio it made final. Only the needed latent frames of
        the last window are decoded."""
        total = target_samples(frames)
        windows = window_count(frames)
        pending: torch.Tensor | None = None  # the previous window's crossfade region, waiting for this one
        for index, latents in enumerate(window_latents):
            if index >= windows:
                raise InvalidRequest(f"{frames} frames make {windows} windows; got more latents")
            last = index == windows - 1
            keep = total - index * HOP_SAMPLES if last else WINDOW_SAMPLES
            audio = self._latents_to_audio(latents.to(self.device), keep).cpu()
            if pending is not None:
                faded = self._crossfade(pending, audio[:, :OVERLAP_SAMPLES])
                audio = torch.cat([faded, audio[:, OVERLAP_SAMPLES:]], dim=1)
            if not last:
                pending, audio = audio[:, -OVERLAP_SAMPLES:], audio[:, :-OVERLAP_SAMPLES]
            yield DecodedWindow(latents=latents.float().cpu(), audio=audio)

    def _latent_windows(
        self,
        padded: torch.Tensor,
        generator: torch.Generator | None,
        steps: int,
        guidance: float,
        cancel: threading.Event | None,
    ) -> Iterator[torch.Tensor]:
        """Final latents [744, 256] of each window of the padded codes; later windows start from the previous
        window's last 104 frames (in-context)."""
        latent_dim = self.config.out_channels
        draws = noise_draws(generator, latent_dim)
        previous: torch.Tensor | None = None
        for start in range(0, padded.shape[0] - OVERLAP_CODES, HOP_CODES):
            _check(cancel)
            noise = next(draws).start.to(self.device)
            incontext = torch.zeros(WINDOW_LATENTS, latent_dim, device=self.device)
            known = 0 if previous is None else OVERLAP_LATENTS
            if previous is not None:
                incontext[:known] = previous[-known:]
            window_codes = padded[start : start + WINDOW_CODES]
            previous = self._sample_latents(window_codes, noise, incontext, known, steps, guidance, cancel)
            yield previous

    def _check_codes(self, codes: torch.Tensor) -> torch.Tensor:
        quantizers, size = self.config.num_quantizers, self.config.codebook_size
        if not isinstance(codes, torch.Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise InvalidRequest("codes must be an integer tensor of shape [frames, 8]")
        if codes.dim() != 2 or codes.shape[1] != quantizers:
            raise InvalidRequest(f"codes must have shape [frames, {quantizers}], got {list(codes.shape)}")
        if codes.shape[0] == 0:
            raise InvalidRequest("codes have zero frames: nothing to decode")
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= size:
            raise InvalidRequest(f"codes must lie in [0, {size}), got values from {low} to {high}")
        return codes.to(device=self.device, dtype=torch.long)

    def _sample_latents(
        self,
        codes: torch.Tensor,
        noise: torch.Tensor,
        incontext: torch.Tensor,
        known: int,
        steps: int,
        guidance: float,
        cancel: threading.Event | None,
    ) -> torch.Tensor:
        """Euler-integrate one window from noise (t=0) to latents (t=1): [744, 256] float32.

        The first `known` frames follow the straight path from the noise to `incontext` and end equal to it.
        """
        cond = self.cond_proj(self.quantizer(codes)).repeat_interleave(LATENTS_PER_CODE, dim=0)  # (744, dim)
        guided = guidance > 1
        # Estimator rows: [unconditional, conditional] with guidance (the official order), else conditional only.
        conds = torch.stack([torch.zeros_like(cond), cond]) if guided else cond[None]  # (rows, 744, dim)
        rows = conds.shape[0]
        fixed = torch.cat([incontext.expand(rows, -1, -1), conds], dim=-1)  # (rows, 744, 256 + dim)
        dtype = self.estimator.proj_in.ffn_2.weight.dtype

        # The official time grid: dt is re-derived from the accumulated fp32 t, so it is not exactly 1/steps.
        t_span = torch.linspace(0, 1, steps + 1, device=self.device)
        t, dt = t_span[0], t_span[1] - t_span[0]
        x = noise.clone()
        for step in range(1, steps + 1):
            _check(cancel)
            if known:
                x[:known] = (1 - (1 - SIGMA_MIN) * t) * noise[:known] + t * incontext[:known]
            inputs = torch.cat([x.expand(rows, -1, -1), fixed], dim=-1).to(dtype)
            v = self.estimator(inputs, t.expand(rows)).float()  # (rows, 744, 256)
            v = v[0] + guidance * (v[1] - v[0]) if guided else v[0]
            x = x + dt * v
            t = t + dt
            if step < steps:
                dt = t_span[step + 1] - t
        x[:known] = incontext[:known]
        return x

    def _latents_to_audio(self, latents: torch.Tensor, samples: int) -> torch.Tensor:
        """Window latents [744, 256] -> the first `samples` samples of its waveform [2, samples].

        Only the latent frames that reach those samples are decoded (the decoder is causal past its 2-frame
        look-ahead, so the kept samples are the same as decoding the whole window), in chunks of
        SQ_CHUNK_FRAMES frames.
        """
        stereo = latents.unflatten(-1, (2, -1)).permute(1, 2, 0)  # (2, latent_hidden_dim, 744)
        frames = math.ceil(samples / SAMPLES_PER_LATENT)
        return self.decoder(stereo, frames=frames, chunk_frames=SQ_CHUNK_FRAMES)[:, 0, :samples]  # (2, samples)

    def _crossfade(self, fading: torch.Tensor, rising: torch.Tensor) -> torch.Tensor:
        """Linear crossfade of two [2, 199680] float32 segments, in float64 with numpy's linspace (as official)."""
        ramp = torch.from_numpy(np.linspace(0.0, 1.0, OVERLAP_SAMPLES))  # float64
        return (fading * (1 - ramp) + rising * ramp).float()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("decoding cancelled")
