"""`HeartCodecEncoder`: a recording in, HeartMuLa tokens out (frame-major int64 [frames, 8]).

`EncoderNetwork` is what `encoder.safetensors` holds (feature extractors + query transformer); the residual
quantizer comes from the decoder's checkpoint. Chunks are encoded `batch_size` at a time, so memory holds
one batch of activations however long the recording is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..rvq import ResidualVQEncoder
from ..stream import check_cancel
from .chunks import as_stereo, chunk_batches, chunk_count, output_frames
from .config import SAMPLE_RATE, EncoderConfig
from .features import FeatureExtractors, Features
from .query import QueryEncoder
from .resample import resample

ChunkCallback = Callable[[int, int], None]
"""callback(chunks_done, chunks_total), called after every batch of chunks."""


@dataclass
class EncoderTrace:
    """What `tokenize` computed on the way, for inspection and tests: the 24 kHz stereo input, and per
    batch of chunks the feature streams and the query output (B, 372, dim)."""

    audio_24k: torch.Tensor | None = None
    features: list[Features] = field(default_factory=list)
    query_out: list[torch.Tensor] = field(default_factory=list)


class EncoderNetwork(nn.Module):
    """Feature extractors and query transformer: chunks (B, 2, 714480) -> (B, 372, dim)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = FeatureExtractors(cfg)
        self.query = QueryEncoder(cfg.query)

    def encode(self, features: Features) -> torch.Tensor:
        return self.query(features.acoustic, features.semantic, features.whisper, features.wavlm)

    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        return self.encode(self.features(chunks))


class HeartCodecEncoder(nn.Module):
    def __init__(self, network: EncoderNetwork, quantizer: ResidualVQEncoder) -> None:
        super().__init__()
        self.network = network
        self.quantizer = quantizer

    @property
    def device(self) -> torch.device:
        return self.quantizer.codebooks.device

    @property
    def sample_rate(self) -> int:
        """The rate the network reads; any input rate is resampled to it."""
        return SAMPLE_RATE

    @torch.inference_mode()
    def encode_chunks(self, chunks: torch.Tensor, trace: EncoderTrace | None = None) -> torch.Tensor:
        """chunks (B, 2, 714480) at 24 kHz, on any device -> codes (B, 372, num_quantizers) int64."""
        features = self.network.features(chunks.to(self.device))
        query_out = self.network.encode(features)  # (B, 372, dim)
        if trace is not None:
            trace.features.append(features)
            trace.query_out.append(query_out)
        return self.quantizer(query_out)

    @torch.inference_mode()
    def tokenize(
        self,
        waveform: torch.Tensor | np.ndarray,
        sample_rate: int,
        *,
        batch_size: int = 1,
        callback: ChunkCallback | None = None,
        cancel: threading.Event | None = None,
        trace: EncoderTrace | None = None,
    ) -> torch.Tensor:
        """Encode a recording into HeartMuLa tokens.

        Args:
            waveform: float samples (N,), (1, N) mono or (2, N) stereo, at `sample_rate`.
            sample_rate: any positive rate; the input is resampled to 24 kHz (on the CPU, as officially).
            batch_size: 29.76 s chunks encoded at once (memory grows with it).
            callback: `callback(chunks_done, chunks_total)` after each batch.
            cancel: checked before each batch; raises Cancelled.
            trace: receives the intermediate stages when given.
        Returns:
            int64 (frames, num_quantizers) on the CPU, frames = int(N24 / 24000 * 12.5) + 1 (at most
            372 per chunk), N24 the resampled length.
        Raises:
            InvalidRequest: empty, non-finite or wrongly shaped input, a bad rate or batch size.
        """
        wave = resample(as_stereo(waveform, sample_rate), int(sample_rate), SAMPLE_RATE)  # (2, N24)
        if trace is not None:
            trace.audio_24k = wave
        total = chunk_count(wave.shape[-1])
        codes, done = [], 0
        for batch in chunk_batches(wave, batch_size):
            check_cancel(cancel)
            codes.append(self.encode_chunks(batch, trace).reshape(-1, self.quantizer.codebooks.shape[0]).cpu())
            done += batch.shape[0]
            if callback is not None:
                callback(done, total)
        return torch.cat(codes)[: output_frames(wave.shape[-1])]
