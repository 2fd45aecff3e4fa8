"""HeartCodec decoding: LM codes [T, 8] -> 48 kHz stereo waveform [2, N], window by window.

The official `detokenize`, reproduced step for step (same padding, noise draws, Euler steps, guidance and
crossfade, so a seeded CPU run gives the official waveform), with four differences:

- Length fix: the official code skips the codes after the last full window when (T - 104) % 320 == 0 and
  T > 372 (T = 424 returns 29.76 s instead of 33.92 s). We pad whenever the windows do not cover the codes,
  so every code is decoded and the result always has int(T / 12.5 * 48000) samples. Every other T gives the
  official windows and waveform.
- Memory: one window at a time; audio is emitted (`decode_stream`) as soon as it is final, so peak memory does
  not grow with the song. Windows can even be decoded while the LM still runs (`stream.BatchDecoder`).
- Speed: the SQ decoder only runs on the latent frames whose samples are kept (plus its 2-frame look-ahead);
  the unconditional and conditional guidance rows go through the estimator as one batch.
- Batches: several songs (a request's variants) decode together, window index by window index, each with
  its own noise generator and length (`decode_batch`, `decode_batch_windows`).

Public API (the pipeline builds on it): `sample_rate`, `frame_rate`, `decode`, `decode_stream`,
`decode_windows`, `decode_batch`, `decode_batch_windows`, `waveform_from_latents`, and for `stream.BatchDecoder`
`check_codes`, `sample_latents`, `window_audio`. Window layout and noise draws live in `windows.py`, the
window-by-window state (noise, in-context latents, crossfades) in `stream.py`. Audio is returned on the CPU, float32, whatever device the model runs on.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..errors import InvalidRequest
from .config import (
    FRAME_RATE,
    HOP_SAMPLES,
    LATENTS_PER_CODE,
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
    WINDOW_SAMPLES,
    HeartCodecConfig,
)
from .dit import Estimator
from .precision import codec_precision
from .rvq import ResidualVQDecoder
from .sq_codec import SQDecoder
from .stream import BatchDecoder, Crossfades, DecodedWindow, check_cancel
from .windows import noise_draws, pad_codes, target_samples, window_count

__all__ = ["BatchDecoder", "DecodedWindow", "HeartCodec", "noise_draws", "pad_codes", "target_samples", "window_count"]

SIGMA_MIN = 1e-6  # flow-matching path: x_t = (1 - (1 - sigma_min) t) x0 + t x1

# Latent frames the SQ decoder runs at a time: small enough for its activations to stay in cache on CPU
# (2-2.5x faster than one pass per window, measured on 1 thread) and ~30 MB a layer for the full-size model.
SQ_CHUNK_FRAMES = 32

Progress = Callable[[int, int], None]


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
        self.tf32 = False
        """On CUDA, run the float32 matmuls and convolutions in TF32 (`precision.py`); False keeps float32."""

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
        (audio,) = self.decode_batch(
            [codes], generators=[generator], steps=steps, guidance=guidance, progress=progress, cancel=cancel
        )
        return audio

    def decode_batch(
        self,
        codes: Sequence[torch.Tensor],
        *,
        generators: Sequence[torch.Generator | None],
        steps: int = 10,
        guidance: float = 1.25,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> list[torch.Tensor]:
        """Decode several songs in one pass: per song, what `decode(codes[i], generator=generators[i])` gives.

        Args:
            codes: per song [T_i, num_quantizers] integer codes (a [B, T, 8] tensor works too). Lengths may
                differ: each song is decoded to its own length (see `decode_batch_windows`).
            generators: one per song, each drawing that song's noise in the official order.
            steps, guidance, cancel: as for `decode`.
            progress: called with (windows_done, windows_total), counted over every song's windows.

        Returns:
            per song, [2, int(T_i / 12.5 * 48000)] float32 at 48 kHz, on the CPU.
        """
        chunks: list[list[torch.Tensor]] = [[] for _ in codes]
        windows = self.decode_batch_windows(
            codes, generators=generators, steps=steps, guidance=guidance, progress=progress, cancel=cancel
        )
        for window in windows:
            chunks[window.variant].append(window.audio)
        return [torch.cat(song, dim=1) for song in chunks]

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
        return self.decode_batch_windows(
            [codes], generators=[generator], steps=steps, guidance=guidance, progress=progress, cancel=cancel
        )

    def decode_batch_windows(
        self,
        codes: Sequence[torch.Tensor],
        *,
        generators: Sequence[torch.Generator | None],
        steps: int = 10,
        guidance: float = 1.25,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[DecodedWindow]:
        """Same arguments as `decode_batch`; yields every song's windows as they are made: window 0 of each
        song (in batch order), then window 1 of each song that has one, and so on.

        Every window index is one batch: its Euler steps run all the songs' guidance rows through the
        estimator together, and the SQ decoder takes all their channels at once. A song with fewer windows
        (the LM ended it earlier) simply leaves the batch after its last one; each keeps its own length and
        gives the audio it would give alone (equal within fp32 noise: batching can change the summation
        order of a kernel).
        """
        if len(generators) != len(codes):
            raise InvalidRequest(f"need one generator per song: {len(codes)} songs, {len(generators)} generators")
        decoder = BatchDecoder(self, generators, steps=steps, guidance=guidance, cancel=cancel)
        total = None
        for done, window in enumerate(decoder.finish(codes), start=1):  # `finish` checks the codes first
            if progress is not None:
                total = total or sum(window_count(c.shape[0]) for c in codes)
                progress(done, total)
            yield window

    @torch.inference_mode()
    def waveform_from_latents(self, window_latents: Iterable[torch.Tensor], frames: int) -> Iterator[DecodedWindow]:
        """SQ-decode and crossfade window latents [744, 256] (as `decode_windows` yields them) for a song of
        `frames` code frames; yields each window with the audio it made final. Only the needed latent frames of
        the last window are decoded."""
        windows, total = window_count(frames), target_samples(frames)
        joins = Crossfades(1)
        for index, latents in enumerate(window_latents):
            if index >= windows:
                raise InvalidRequest(f"{frames} frames make {windows} windows; got more latents")
            last = index == windows - 1
            keep = total - index * HOP_SAMPLES if last else WINDOW_SAMPLES
            (audio,) = self.window_audio(latents[None].to(self.device), [keep])
            yield DecodedWindow(latents.float().cpu(), joins(0, audio, last), index=index, last=last)

    @codec_precision
    def window_audio(self, latents: torch.Tensor, keep: list[int]) -> list[torch.Tensor]:
        """Per row of latents [b, 744, 256], the first keep[row] samples of its waveform [2, keep[row]], on the CPU.

        Rows that keep the same length share one SQ pass. Rows of other lengths (songs ending in this window)
        get their own, so every song runs through exactly the decoder calls it would run alone and gives the
        same samples bit for bit (a pass over more frames can round the last chunk's sums differently).
        """
        audio: list[torch.Tensor | None] = [None] * len(keep)
        for samples in sorted(set(keep)):
            rows = [row for row, kept in enumerate(keep) if kept == samples]
            decoded = self._latents_to_audio(latents[rows], samples).cpu()  # (len(rows), 2, samples)
            for row, song_audio in zip(rows, decoded):
                audio[row] = song_audio
        return audio

    def check_codes(self, codes: torch.Tensor, allow_empty: bool = False) -> torch.Tensor:
        """Codes [T, Q] as int64 on the model's device, or InvalidRequest saying what is wrong with them."""
        quantizers, size = self.config.num_quantizers, self.config.codebook_size
        if not isinstance(codes, torch.Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise InvalidRequest("codes must be an integer tensor of shape [frames, 8]")
        if codes.dim() != 2 or codes.shape[1] != quantizers:
            raise InvalidRequest(f"codes must have shape [frames, {quantizers}], got {list(codes.shape)}")
        if codes.shape[0] == 0:
            if allow_empty:
                return codes.to(device=self.device, dtype=torch.long)
            raise InvalidRequest("codes have zero frames: nothing to decode")
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= size:
            raise InvalidRequest(f"codes must lie in [0, {size}), got values from {low} to {high}")
        return codes.to(device=self.device, dtype=torch.long)

    @codec_precision
    def sample_latents(
        self,
        codes: torch.Tensor,
        noise: torch.Tensor,
        incontext: torch.Tensor,
        known: int,
        steps: int,
        guidance: float,
        cancel: threading.Event | None,
    ) -> torch.Tensor:
        """Euler-integrate one window of b songs from noise (t=0) to latents (t=1).

        Args:
            codes: [b, 372, Q] the window's codes; noise, incontext: [b, 744, 256] float32.
            known: how many leading frames are in-context: they follow the straight path from the noise to
                `incontext` and end equal to it.

        Returns:
            [b, 744, 256] float32.
        """
        songs = codes.shape[0]
        embedded = self.quantizer(codes.flatten(0, 1)).unflatten(0, (songs, -1))  # (b, 372, dim)
        cond = self.cond_proj(embedded).repeat_interleave(LATENTS_PER_CODE, dim=1)  # (b, 744, dim)
        guided = guidance > 1
        # Estimator rows: every song's unconditional row, then every song's conditional row (the official
        # order for one song), else conditional rows only.
        conds = torch.cat([torch.zeros_like(cond), cond]) if guided else cond  # (rows, 744, dim)
        copies = conds.shape[0] // songs
        dtype = self.estimator.proj_in.ffn_2.weight.dtype
        fixed = torch.cat([incontext.repeat(copies, 1, 1), conds], dim=-1).to(dtype)  # (rows, 744, 256 + dim)
        window = self.estimator.prepare(fixed)  # what the steps share: the fixed inputs' projections, RoPE

        # The official time grid: dt is re-derived from the accumulated fp32 t, so it is not exactly 1/steps.
        t_span = torch.linspace(0, 1, steps + 1, device=self.device)
        t, dt = t_span[0], t_span[1] - t_span[0]
        x = noise.clone()
        for step in range(1, steps + 1):
            check_cancel(cancel)
            if known:
                x[:, :known] = (1 - (1 - SIGMA_MIN) * t) * noise[:, :known] + t * incontext[:, :known]
            v = self.estimator.velocity(x.repeat(copies, 1, 1).to(dtype), t, window)
            v = v.float()  # (rows, 744, 256)
            if guided:
                uncond, cond_v = v.chunk(2)
                v = uncond + guidance * (cond_v - uncond)
            x = x + dt * v
            t = t + dt
            if step < steps:
                dt = t_span[step + 1] - t
        x[:, :known] = incontext[:, :known]
        return x

    def _latents_to_audio(self, latents: torch.Tensor, samples: int) -> torch.Tensor:
        """Window latents [b, 744, 256] -> the first `samples` samples of their waveforms [b, 2, samples].

        Only the latent frames that reach those samples are decoded (the decoder is causal past its 2-frame
        look-ahead, so the kept samples are the same as decoding the whole window), in chunks of
        SQ_CHUNK_FRAMES frames.
        """
        stereo = latents.unflatten(-1, (2, -1)).permute(0, 2, 3, 1).flatten(0, 1)  # (b * 2, latent_hidden_dim, 744)
        frames = math.ceil(samples / SAMPLES_PER_LATENT)
        audio = self.decoder(stereo, frames=frames, chunk_frames=SQ_CHUNK_FRAMES)[:, 0, :samples]  # (b * 2, samples)
        return audio.unflatten(0, (-1, 2))  # (b, 2, samples)
