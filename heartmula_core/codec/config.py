"""HeartCodec configuration, read from the official `config.json`, plus the decoding constants.

Only the fields decoding needs are kept; the encoder and quantizer-training fields of the official
file (decay, commitment_weight, downsample_*, ...) are accepted and ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import ModelNotAvailable

# Rates of the decoded signal, named once.
SAMPLE_RATE = 48_000  # Hz, output waveform
FRAME_RATE = 12.5  # Hz, LM code frames
LATENT_RATE = 25.0  # Hz, flow-matching latent frames (2 per code frame)
WINDOW_SECONDS = 29.76  # the official detokenize window length


# Windowing of the official detokenize, every size derived from the 29.76 s window.
WINDOW_CODES = int(WINDOW_SECONDS * FRAME_RATE)  # 372 codes per window
HOP_CODES = WINDOW_CODES // 93 * 80  # 320: the official formula (93 and 80 are its constants)
OVERLAP_CODES = WINDOW_CODES - HOP_CODES  # 52
LATENTS_PER_CODE = int(LATENT_RATE / FRAME_RATE)  # 2
WINDOW_LATENTS = int(WINDOW_SECONDS * LATENT_RATE)  # 744
OVERLAP_LATENTS = OVERLAP_CODES * LATENTS_PER_CODE  # 104 latent frames carried as in-context
SAMPLES_PER_LATENT = int(SAMPLE_RATE / LATENT_RATE)  # 1920
WINDOW_SAMPLES = int(WINDOW_SECONDS * SAMPLE_RATE)  # 1,428,480
OVERLAP_SAMPLES = OVERLAP_LATENTS * SAMPLES_PER_LATENT  # 199,680 crossfaded samples
HOP_SAMPLES = WINDOW_SAMPLES - OVERLAP_SAMPLES  # 1,228,800


@dataclass(frozen=True)
class HeartCodecConfig:
    """The HeartCodec hyper-parameters that decoding depends on (official names)."""

    dim: int = 512  # RVQ output / condition width
    codebook_size: int = 8192
    codebook_dim: int = 32
    num_quantizers: int = 8
    attention_head_dim: int = 64
    num_attention_heads: int = 24
    num_layers: int = 24
    num_layers_2: int = 6
    in_channels: int = 1024  # estimator input: latent + in-context latent + condition
    out_channels: int = 256  # latent width: 2 (stereo) x latent_hidden_dim
    latent_hidden_dim: int = 128
    init_channel: int = 64
    num_samples: int = 2  # PostProcessor repeat factor
    upsample_factors: tuple[int, ...] = (5, 4, 4, 4, 3)
    upsample_kernel_sizes: tuple[int, ...] = (10, 8, 8, 8, 6)
    delay_kernel_size: int = 5  # decoder.0, the only non-causal conv
    default_kernel_size: int = 7
    res_kernel_size: int = 7
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if self.out_channels != 2 * self.latent_hidden_dim:
            raise ValueError("out_channels must be 2 x latent_hidden_dim (stereo latents)")
        if self.in_channels != 2 * self.out_channels + self.dim:
            raise ValueError("in_channels must be 2 x out_channels + dim")
        if self.hop_length != SAMPLES_PER_LATENT or self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"the decoder must turn {LATENT_RATE:g} Hz latents into {SAMPLE_RATE} Hz audio")

    @property
    def inner_dim(self) -> int:
        """Width of the first estimator stage (the second one is twice as wide)."""
        return self.num_attention_heads * self.attention_head_dim

    @property
    def hop_length(self) -> int:
        """Waveform samples per latent frame (1920 by default)."""
        return math.prod(self.upsample_factors) * self.num_samples

    @classmethod
    def from_json(cls, path: Path) -> HeartCodecConfig:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelNotAvailable(f"cannot read HeartCodec config {path}: {exc}") from exc
        try:
            return cls.from_dict(raw)
        except (TypeError, ValueError) as exc:
            raise ModelNotAvailable(f"{path} is not a usable HeartCodec config: {exc}") from exc

    @classmethod
    def from_dict(cls, raw: dict) -> HeartCodecConfig:
        """From the official config dict; keys decoding does not need are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known})

