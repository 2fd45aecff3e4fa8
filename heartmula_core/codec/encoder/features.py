"""The three feature extractors of a chunk and their stereo interleave.

Per chunk (B, 2, 714480) at 24 kHz, the rows ordered b0-left, b0-right, b1-left, ...:
- MuEncoder (our MusicFM modules) reads 24 kHz -> acoustic and semantic, 25 Hz;
- WavLM (transformers' `WavLMModel`) reads the 16 kHz resample -> the mean of layers 6..9, 50 Hz;
- Whisper (transformers' `WhisperEncoder`) reads the 16 kHz log-mel -> its last hidden state, 50 Hz.
The 50 Hz streams are averaged in pairs to 25 Hz, and every stream is interleaved so its channels are
[left | right]: (B, 744, 2 * width).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import WavLMConfig, WhisperConfig
from transformers.models.wavlm.modeling_wavlm import WavLMModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .config import CHUNK_FEATURES, SAMPLE_RATE, SPEECH_SAMPLE_RATE, WAVLM_LAYERS, EncoderConfig
from .musicfm import MuEncoder
from .resample import FixedResampler
from .whisper_mel import WhisperLogMel


@dataclass
class Features:
    """The four streams the query transformer reads, each float32 (B, 744, 2 * width), [left | right]."""

    acoustic: torch.Tensor
    semantic: torch.Tensor
    whisper: torch.Tensor
    wavlm: torch.Tensor


def pair_average(x: torch.Tensor) -> torch.Tensor:
    """(R, 2T, d) at 50 Hz -> (R, T, d) at 25 Hz, the mean of frames 2i and 2i + 1."""
    r, t, d = x.shape
    return x.reshape(r, t // 2, 2, d).mean(dim=2)


def interleave_stereo(x: torch.Tensor) -> torch.Tensor:
    """(2B, T, d), rows left/right alternating -> (B, T, 2d), channels [left | right]."""
    rows, t, d = x.shape
    return x.reshape(rows // 2, 2, t, d).permute(0, 2, 1, 3).reshape(rows // 2, t, 2 * d)


class FeatureExtractors(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.musicfm = MuEncoder(cfg.musicfm)
        self.wavlm = WavLMModel(WavLMConfig(**cfg.wavlm))
        # eager attention, as the official encoder runs it (sdpa rounds differently)
        self.whisper = WhisperEncoder(WhisperConfig(**cfg.whisper, attn_implementation="eager"))
        self.whisper_mel = WhisperLogMel(cfg.whisper["num_mel_bins"])
        self.to_speech_rate = FixedResampler(SAMPLE_RATE, SPEECH_SAMPLE_RATE)

    def drop_unread_layers(self) -> None:
        """Keep only the WavLM layers whose outputs are read (after loading: the checkpoint holds them all)."""
        self.wavlm.encoder.layers = self.wavlm.encoder.layers[: WAVLM_LAYERS[1] - 1]

    def wavlm_features(self, wave16k: torch.Tensor) -> torch.Tensor:
        """(R, L) at 16 kHz -> (R, L // 320, hidden): the mean of the outputs of layers 6..9."""
        hidden = self.wavlm(wave16k, output_hidden_states=True).hidden_states
        return torch.stack(hidden[WAVLM_LAYERS[0] : WAVLM_LAYERS[1]]).mean(dim=0)

    def whisper_features(self, wave16k: torch.Tensor, frames: int) -> torch.Tensor:
        """(R, L) at 16 kHz -> the first `frames` of Whisper's last hidden state (R, frames, d_model)."""
        return self.whisper(self.whisper_mel(wave16k)).last_hidden_state[:, :frames]

    def forward(self, chunks: torch.Tensor) -> Features:
        """chunks (B, 2, 714480) at 24 kHz -> Features, each (B, 744, 2 * width)."""
        rows = chunks.reshape(-1, chunks.shape[-1])  # (2B, L): b0-left, b0-right, b1-left, ...
        acoustic, semantic = self.musicfm(rows)  # (2B, 744, hidden) each
        wave16k = self.to_speech_rate(rows)  # (2B, 476320)
        wavlm = pair_average(self.wavlm_features(wave16k)[:, : 2 * CHUNK_FEATURES])
        whisper = pair_average(self.whisper_features(wave16k, 2 * CHUNK_FEATURES))
        return Features(*(interleave_stereo(x) for x in (acoustic, semantic, whisper, wavlm)))
