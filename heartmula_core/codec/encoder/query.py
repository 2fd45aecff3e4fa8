"""The query transformer: four feature streams at 25 Hz -> one vector per 12.5 Hz token frame.

The fused features are cut into groups of `interval` frames, each followed by a learned cls token
([f0, f1, cls, f2, f3, cls, ...]); a bidirectional transformer runs over that sequence and the cls
positions are the output. Blocks have no pre-norm: x + scale * attn(x), then x + scale * ff(x)
(LayerScale). Attention LayerNorms q and k per head and applies RoPE to the first `rotary_dim` channels of
each head (partial RoPE when head_dim > 64), positions counted over the interleaved sequence. The official
linears are weight-normed; the loader folds g * v / ||v|| into plain weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import QueryConfig

ROPE_BASE = 10_000.0


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class PartialRotary(nn.Module):
    """RoPE on the first `dim` channels of each head; the rest pass through. `inv_freq` is checkpoint data."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("inv_freq", 1.0 / ROPE_BASE ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, L, head_dim) -> same shape, rotated in float32."""
        positions = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)
        angles = torch.outer(positions, self.inv_freq.float())  # (L, dim / 2)
        angles = torch.cat((angles, angles), dim=-1)  # (L, dim)
        rot, rest = x[..., : self.dim].float(), x[..., self.dim :]
        rot = rot * angles.cos() + rotate_half(rot) * angles.sin()
        return torch.cat((rot.to(x.dtype), rest), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: QueryConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.to_qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.q_norm = nn.LayerNorm(cfg.head_dim)
        self.k_norm = nn.LayerNorm(cfg.head_dim)
        self.to_out = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, rope: PartialRotary) -> torch.Tensor:
        """x (B, L, dim) -> (B, L, dim), full bidirectional attention."""
        b, length, dim = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, length, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, hd)

        q, k, v = map(heads, self.to_qkv(x).chunk(3, dim=-1))
        q, k = rope(self.q_norm(q)), rope(self.k_norm(k))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, L, hd), scale 1/sqrt(hd)
        return self.to_out(out.transpose(1, 2).reshape(b, length, dim))


class SigmoidGLU(nn.Module):
    """proj (dim -> 8 dim) split into values | gates, values * sigmoid(gates), then out (4 dim -> dim)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 8 * dim)
        self.out = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, gates = self.proj(x).chunk(2, dim=-1)
        return self.out(values * torch.sigmoid(gates))


class QueryBlock(nn.Module):
    def __init__(self, cfg: QueryConfig) -> None:
        super().__init__()
        self.attn = Attention(cfg)
        self.attn_scale = nn.Parameter(torch.empty(cfg.dim))
        self.ff = SigmoidGLU(cfg.dim)
        self.ff_scale = nn.Parameter(torch.empty(cfg.dim))
        self.rope = PartialRotary(cfg.rotary_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn_scale * self.attn(x, self.rope)
        return x + self.ff_scale * self.ff(x)


class QueryEncoder(nn.Module):
    def __init__(self, cfg: QueryConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.cls_token = nn.Parameter(torch.empty(1, cfg.dim))
        self.acoustic_proj = nn.Linear(cfg.acoustic_channels, cfg.dim)
        self.semantic_proj = nn.Linear(cfg.acoustic_channels, cfg.dim)
        self.wavlm_proj = nn.Linear(cfg.wavlm_channels, cfg.dim)
        self.fuse = nn.Linear(3 * cfg.dim + cfg.whisper_channels, cfg.dim)
        self.blocks = nn.ModuleList([QueryBlock(cfg) for _ in range(cfg.num_layers)])

    def forward(
        self, acoustic: torch.Tensor, semantic: torch.Tensor, whisper: torch.Tensor, wavlm: torch.Tensor
    ) -> torch.Tensor:
        """Streams (B, T, channels) at 25 Hz -> (B, T / interval, dim), one vector per token frame."""
        fused = self.fuse(
            torch.cat(
                [self.acoustic_proj(acoustic), self.semantic_proj(semantic), whisper, self.wavlm_proj(wavlm)],
                dim=-1,
            )  # whisper enters unprojected, as in the official model
        )  # (B, T, dim)
        b, t, dim = fused.shape
        step = self.cfg.interval
        groups = fused.reshape(b, t // step, step, dim)  # (B, G, interval, dim)
        cls = self.cls_token.expand(b, t // step, 1, dim)
        x = torch.cat([groups, cls], dim=2).reshape(b, t // step * (step + 1), dim)  # [f0, f1, cls, ...]
        for block in self.blocks:
            x = block(x)
        return x[:, step :: step + 1]  # (B, G, dim): the cls positions
