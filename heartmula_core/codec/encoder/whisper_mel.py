"""Whisper's log-mel input (80 slaney mels of a zero-padded 30 s, 16 kHz window), in torch on any device.

This is the computation of transformers' `WhisperFeatureExtractor` (torch path, `do_normalize=False`): pad
to 30 s with zeros, periodic Hann STFT (400 / hop 160, centred, reflect), drop the last frame, power,
slaney mel filterbank (transformers' own `mel_filter_bank`), log10, floor at the row maximum minus 8 (the
maximum over the whole padded window of that row), then (x + 4) / 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.audio_utils import mel_filter_bank

from .config import SPEECH_SAMPLE_RATE

N_FFT = 400
HOP = 160
WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * SPEECH_SAMPLE_RATE  # 480,000
FLOOR = 1e-10
DYNAMIC_RANGE = 8.0  # log10 units below the row maximum


class WhisperLogMel(nn.Module):
    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        self.n_mels = n_mels
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(Hann window (400,), slaney filterbank (201, n_mels)), float32 on `device`."""
        if device not in self._tables:
            fbank = mel_filter_bank(
                num_frequency_bins=1 + N_FFT // 2,
                num_mel_filters=self.n_mels,
                min_frequency=0.0,
                max_frequency=SPEECH_SAMPLE_RATE / 2,
                sampling_rate=SPEECH_SAMPLE_RATE,
                norm="slaney",
                mel_scale="slaney",
            )  # float64 numpy, cast to float32 exactly as the feature extractor does
            window = torch.hann_window(N_FFT, dtype=torch.float32)
            self._tables[device] = (window.to(device), torch.from_numpy(fbank).to(device, torch.float32))
        return self._tables[device]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (R, L <= 480000) at 16 kHz -> log-mel (R, n_mels, 3000), float32."""
        if wave.shape[-1] > WINDOW_SAMPLES:
            raise ValueError(f"Whisper reads at most {WINDOW_SECONDS} s, got {wave.shape[-1]} samples")
        window, fbank = self.tables(wave.device)
        wave = F.pad(wave.float(), (0, WINDOW_SAMPLES - wave.shape[-1]))
        spec = torch.stft(wave, N_FFT, HOP, window=window, return_complex=True)  # (R, 201, 3001)
        power = (spec[..., :-1].abs() ** 2).contiguous()  # (R, 201, 3000)
        log_spec = torch.clamp(fbank.T @ power, min=FLOOR).log10()  # (R, n_mels, 3000)
        row_max = log_spec.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log_spec, row_max - DYNAMIC_RANGE) + 4.0) / 4.0
