"""MuEncoder: the MusicFM-style 25 Hz music features (acoustic and semantic) of a 24 kHz chunk.

Mel front end, conv subsampling and rotary wav2vec2-conformer are the same modules as MuQ's (our
`style` package implements them); only the choice of outputs differs: the acoustic stream is the output of
conformer layer 2 and the semantic one the output of layer 11, neither LayerNormed, so layer 12 and the
final norm are loaded (the checkpoint holds them) but never run.
"""

from __future__ import annotations

import torch
from torch import nn

from ...style.config import AudioTowerConfig
from ...style.conformer import ConformerEncoder
from ...style.mel import MelFrontEnd
from ...style.subsampling import ConvSubsampling
from .config import CONFORMER_ACOUSTIC, CONFORMER_SEMANTIC

MEL_FRAMES_PER_FEATURE = 4  # 100 Hz mel frames -> 25 Hz features (two stride-2 conv blocks)


class MuEncoder(nn.Module):
    def __init__(self, cfg: AudioTowerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.frontend = MelFrontEnd(cfg)
        self.subsampling = ConvSubsampling(cfg)
        self.conformer = ConformerEncoder(cfg)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """wave (R, L) at 24 kHz -> (acoustic, semantic), each (R, L // 960, hidden)."""
        usable = wave.shape[-1] // (self.cfg.hop_length * MEL_FRAMES_PER_FEATURE) * self.cfg.hop_length * MEL_FRAMES_PER_FEATURE
        mel = self.frontend(wave[..., :usable])  # (R, n_mels, usable // hop): the 240-sample tail is dropped
        hidden = self.conformer.layer_outputs(self.subsampling(mel), CONFORMER_SEMANTIC)
        return hidden[CONFORMER_ACOUSTIC], hidden[CONFORMER_SEMANTIC]
