"""The MuQ-MuLan model: an audio tower and a text tower, each ending in a unit-norm latent.

Audio: clip (B, L) at 24 kHz -> mel -> conv subsampling -> conformer -> proj -> mean over frames ->
audio_to_latents -> L2 norm. Text: ids -> XLM-R -> MuLan text transformer -> mean over ALL positions
(padding included, as the official model does) -> text_to_latents -> L2 norm.
Module names are natural; `checkpoint.py` maps the official key names onto them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import AudioTowerConfig, MulanConfig, TextModelConfig
from .conformer import ConformerEncoder
from .mel import MelFrontEnd
from .subsampling import ConvSubsampling
from .text_transformer import TextTransformer
from .xlmr import XLMRobertaEncoder

L2_EPS = 1e-12


@dataclass
class Trace:
    """Intermediate values of one forward pass, filled when a caller asks for them (parity tests)."""

    stages: dict[str, torch.Tensor] = field(default_factory=dict)
    hidden_states: list[torch.Tensor] = field(default_factory=list)


class AudioTower(nn.Module):
    def __init__(self, cfg: AudioTowerConfig, out_dim: int) -> None:
        super().__init__()
        self.frontend = MelFrontEnd(cfg)
        self.subsampling = ConvSubsampling(cfg)
        self.conformer = ConformerEncoder(cfg)
        self.proj = nn.Linear(cfg.encoder_dim, out_dim)

    def forward(self, clips: torch.Tensor, trace: Trace | None = None) -> torch.Tensor:
        """(B, L) waveform clips -> (B, out_dim) mean of the projected frames."""
        dtype = self.proj.weight.dtype
        mel = self.frontend(clips).to(dtype)  # (B, n_mels, F), computed in float32
        frames = self.subsampling(mel)  # (B, T', encoder_dim)
        hidden = self.conformer(frames, trace.hidden_states if trace else None)
        projected = self.proj(hidden)  # (B, T', out_dim)
        if trace is not None:
            trace.stages.update(mel_norm=mel, conv=frames, proj=projected)
        return projected.mean(dim=1)


class TextTower(nn.Module):
    def __init__(self, text: TextModelConfig, cfg: MulanConfig) -> None:
        super().__init__()
        self.encoder = XLMRobertaEncoder(text)
        self.transformer = TextTransformer(cfg.text_dim, cfg.text_depth, cfg.text_heads, cfg.text_dim_head, cfg.text_ff_mult)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, trace: Trace | None = None) -> torch.Tensor:
        """ids, mask: (B, L) -> (B, D) mean over every position, padding included."""
        hidden = self.encoder(ids, mask, trace.hidden_states if trace else None)  # (B, L, D)
        layers: list[torch.Tensor] | None = [] if trace is not None else None
        x = self.transformer(hidden, layers)  # no mask, as the official model
        if trace is not None and layers:
            trace.stages["tf_layers"] = torch.stack(layers, dim=1)  # (B, depth, L, D)
        return x.mean(dim=1)


class MuLan(nn.Module):
    def __init__(self, cfg: MulanConfig) -> None:
        super().__init__()
        assert cfg.audio is not None and cfg.text is not None, "build from a config with its sub-model configs"
        self.cfg = cfg
        self.audio = AudioTower(cfg.audio, cfg.audio_dim)
        self.text = TextTower(cfg.text, cfg)
        self.audio_to_latents = nn.Linear(cfg.audio_dim, cfg.dim_latent)
        self.text_to_latents = nn.Linear(cfg.text_dim, cfg.dim_latent)

    @property
    def dtype(self) -> torch.dtype:
        return self.audio_to_latents.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.audio_to_latents.weight.device

    def clip_latents(self, clips: torch.Tensor, trace: Trace | None = None) -> torch.Tensor:
        """(B, L) clips at the model's sample rate -> (B, dim_latent) unit-norm latents, float32."""
        pooled = self.audio(clips.to(self.device), trace)
        latent = self.audio_to_latents(pooled).float()
        if trace is not None:
            trace.stages.update(pooled=pooled, latent_prenorm=latent)
        return F.normalize(latent, dim=-1, eps=L2_EPS)

    def text_latents(self, ids: torch.Tensor, mask: torch.Tensor, trace: Trace | None = None) -> torch.Tensor:
        """(B, L) token ids and attention mask -> (B, dim_latent) unit-norm latents, float32."""
        pooled = self.text(ids.to(self.device), mask.to(self.device), trace)
        latent = self.text_to_latents(pooled).float()
        if trace is not None:
            trace.stages.update(pooled=pooled, latent_prenorm=latent)
        return F.normalize(latent, dim=-1, eps=L2_EPS)
