"""MuQ's conv subsampling: two residual stride-2 conv blocks over the (mel, time) image, then a linear.

Normalised mel (B, n_mels, F) -> frames (B, ceil(ceil(F/2)/2), encoder_dim), 4x fewer frames (100 -> 25
per second). BatchNorm always runs with its running statistics: this is an inference-only module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import AudioTowerConfig


class ResidualConvBlock(nn.Module):
    """ReLU(bn3(conv3(x)) + bn2(conv2(ReLU(bn1(conv1(x)))))), conv1 and conv3 with stride (2, 2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(self.bn3(self.conv3(x)) + main)


class ConvSubsampling(nn.Module):
    def __init__(self, cfg: AudioTowerConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([ResidualConvBlock(1, cfg.conv_dim), ResidualConvBlock(cfg.conv_dim, cfg.conv_dim)])
        self.linear = nn.Linear(cfg.conv_dim * cfg.n_mels_subsampled, cfg.encoder_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, F) -> (B, T', encoder_dim)."""
        x = mel.unsqueeze(1)  # (B, 1, n_mels, F): channels, height = mel bins, width = frames
        for block in self.blocks:
            x = block(x)  # (B, C, n_mels', F')
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)  # (B, T', C * n_mels'), channel-major features
        return self.linear(x)
