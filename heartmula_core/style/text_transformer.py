"""MuLan's text transformer: pre-LN blocks with cosine-similarity attention and GEGLU, no masks.

Differences from a textbook transformer that matter for parity: LayerNorms have a learned scale and no
bias; q and k are L2-normalised per head and multiplied by learned per-dimension scales, and the logits
use a fixed scale of 8 whatever the head size; the kv projection is split k first, then v; GEGLU takes
the first half of its projection as the value and the second as the gate. No layer sees a padding mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_SCALE = 8.0
NORM_EPS = 1e-5


class ScaleOnlyLayerNorm(nn.Module):
    """LayerNorm with a learned scale and a bias fixed at zero."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight, None, NORM_EPS)


class CosineAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = ScaleOnlyLayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.q_scale = nn.Parameter(torch.ones(dim_head))
        self.k_scale = nn.Parameter(torch.ones(dim_head))
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        y = self.norm(x)
        k, v = self.to_kv(y).chunk(2, dim=-1)

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, t, self.heads, -1).transpose(1, 2)  # (B, H, L, dh)

        q, k, v = split(self.to_q(y)), split(k), split(v)
        q = F.normalize(q, dim=-1) * self.q_scale
        k = F.normalize(k, dim=-1) * self.k_scale
        out = F.scaled_dot_product_attention(q, k, v, scale=LOGIT_SCALE)  # (B, H, L, dh)
        return self.to_out(out.transpose(1, 2).reshape(b, t, -1))


class GEGLUFeedForward(nn.Module):
    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        hidden = int(dim * mult * 2 / 3)
        self.norm = ScaleOnlyLayerNorm(dim)
        self.proj_in = nn.Linear(dim, 2 * hidden, bias=False)
        self.proj_out = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj_in(self.norm(x)).chunk(2, dim=-1)
        return self.proj_out(F.gelu(gate) * value)


class TextTransformerLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.attn = CosineAttention(dim, heads, dim_head)
        self.ff = GEGLUFeedForward(dim, ff_mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.ff(x)


class TextTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([TextTransformerLayer(dim, heads, dim_head, ff_mult) for _ in range(depth)])

    def forward(self, x: torch.Tensor, layer_outputs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(B, L, D) -> (B, L, D); no final norm. `layer_outputs`, if given, receives every layer's output."""
        for layer in self.layers:
            x = layer(x)
            if layer_outputs is not None:
                layer_outputs.append(x)
        return x
