"""MuQ's mel front end: torch.stft power spectrum, HTK mel filterbank, dB, normalised with the MSD stats.

This reproduces torchaudio's `MelSpectrogram(sr, n_fft=2048, hop_length=240, n_mels=128)` followed by
`AmplitudeToDB()` without depending on torchaudio. The filterbank recipe matters to the last bit: the
two mel endpoints are computed in double precision (as Python floats) and everything after that in
float32 torch, which reproduces the official matrix exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import AudioTowerConfig

AMIN = 1e-10  # AmplitudeToDB's floor; its reference is 1.0, so there is no offset


def hz_to_mel(freq: float) -> float:
    """HTK mel scale, in double precision on purpose (see the module docstring)."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def htk_mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0) -> torch.Tensor:
    """Triangular HTK filters without area normalisation, float32 (n_freqs, n_mels)."""
    f_max = float(sample_rate // 2)
    freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mel_points = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    widths = hz_points[1:] - hz_points[:-1]  # (n_mels + 1,)
    offsets = hz_points.unsqueeze(0) - freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class MelFrontEnd(nn.Module):
    """Waveform clips (B, L) at 24 kHz -> normalised log-mel (B, n_mels, L // hop), always in float32.

    The window and filterbank are small constants rebuilt on first use on the input's device (they are not
    checkpoint tensors, and building them lazily keeps meta-device construction trivial).
    """

    def __init__(self, cfg: AudioTowerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(periodic Hann window (n_fft,), mel filterbank (n_fft // 2 + 1, n_mels)) on `device`."""
        if device not in self._tables:
            window = torch.hann_window(self.cfg.n_fft, periodic=True, dtype=torch.float32)
            fbank = htk_mel_filterbank(self.cfg.n_fft // 2 + 1, self.cfg.n_mels, self.cfg.sample_rate)
            self._tables[device] = (window.to(device), fbank.to(device))
        return self._tables[device]

    def decibels(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, n_mels, L // hop) mel power in dB, the last STFT frame dropped."""
        # MuQ drops the frame centred past the end so 10 s gives exactly 1000 frames.
        return self.all_decibels(wave)[..., :-1]

    def all_decibels(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, n_mels, 1 + L // hop) mel power in dB, every centred STFT frame."""
        wave = wave.float()  # a float64 STFT would move the result; the official path is float32
        window, fbank = self.tables(wave.device)
        spec = torch.stft(
            wave,
            n_fft=self.cfg.n_fft,
            hop_length=self.cfg.hop_length,
            win_length=self.cfg.n_fft,
            window=window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )  # (B, n_fft // 2 + 1, 1 + L // hop)
        power = spec.abs().pow(2.0)
        mel = torch.matmul(power.transpose(-1, -2), fbank).transpose(-1, -2)  # (B, n_mels, frames)
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return (self.decibels(wave) - self.cfg.mel_mean) / self.cfg.mel_std
