"""The HeartCodec decoder as a model: RVQ condition, flow-matching estimator, SQ waveform decoder, and the
per-window steps decoding is made of (`check_codes`, `sample_latents`, `window_audio`).

Decoding a song from these steps (window layout, noise draws, in-context latents, crossfades) is
`decoding.py`'s job, on top of `stream.BatchDecoder`; this module knows windows only one at a time.
Audio is returned on the CPU, float32, whatever device the model runs on.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import nn

from ..errors import InvalidRequest, check_cancel
from .config import (
    FRAME_RATE,
    LATENTS_PER_CODE,
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
    HeartCodecConfig,
)
from .dit import Estimator
from .precision import codec_precision
from .rvq import ResidualVQDecoder
from .sq_codec import SQDecoder

SIGMA_MIN = 1e-6  # flow-matching path: x_t = (1 - (1 - sigma_min) t) x0 + t x1

# Latent frames the SQ decoder runs at a time: small enough for its activations to stay in cache on CPU
# (faster than one pass per window: see "SQ decoder chunks" in benchmarks/RESULTS.md, where timings are kept
# because in code they go stale) and ~30 MB a layer for the full-size model.
SQ_CHUNK_FRAMES = 32


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
            check_cancel(cancel, "decoding")
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
