"""The wav2vec2-conformer encoder MuQ uses (rotary variant, no attention mask).

Its "rotary" position embedding is not the usual RoPE on q and k: the rotation is applied to the
LayerNormed hidden state *before* the q/k projections, and v is projected from the un-rotated input.
Parameter names follow the official checkpoint (`ffn1_layer_norm`, `self_attn.linear_q`, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import AudioTowerConfig


def rotary_inv_freq(head_dim: int, base: float) -> torch.Tensor:
    """1 / base^(2i/d), computed in float32 exactly as the official buffer was (bit-equal)."""
    return 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))


def rotary_tables(length: int, head_dim: int, base: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each float32 (length, head_dim), for positions 0..length-1."""
    inv_freq = rotary_inv_freq(head_dim, base).to(device)
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)  # (T, d/2)
    angles = torch.cat((angles, angles), dim=-1)  # (T, d)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(dim, hidden)
        self.output_dense = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.silu(self.intermediate_dense(x)))


class RotarySelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x: LayerNormed (B, T, D); cos/sin: (T, head_dim) -> (B, T, D)."""
        b, t, d = x.shape
        heads = x.view(b, t, self.num_heads, d // self.num_heads)  # (B, T, H, hd)
        rotated = heads * cos[:, None] + rotate_half(heads) * sin[:, None]
        rotated = rotated.reshape(b, t, d)  # (B, T, D)

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.num_heads, -1).transpose(1, 2)  # (B, H, T, hd)

        q, k, v = split(self.linear_q(rotated)), split(self.linear_k(rotated)), split(self.linear_v(x))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, hd), scale 1/sqrt(hd), no mask
        return self.linear_out(out.transpose(1, 2).reshape(b, t, d))


class ConvModule(nn.Module):
    """LayerNorm -> pointwise conv -> GLU -> depthwise conv -> BatchNorm -> SiLU -> pointwise conv."""

    def __init__(self, dim: int, kernel: int, eps: float) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.pointwise_conv1 = nn.Conv1d(dim, 2 * dim, 1, bias=False)
        self.depthwise_conv = nn.Conv1d(dim, dim, kernel, padding=(kernel - 1) // 2, groups=dim, bias=False)
        self.batch_norm = nn.BatchNorm1d(dim, eps=eps)
        self.pointwise_conv2 = nn.Conv1d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer_norm(x).transpose(1, 2)  # (B, D, T)
        y = F.glu(self.pointwise_conv1(y), dim=1)  # (B, D, T): first half * sigmoid(second half)
        y = F.silu(self.batch_norm(self.depthwise_conv(y)))
        return self.pointwise_conv2(y).transpose(1, 2)  # (B, T, D)


class ConformerLayer(nn.Module):
    def __init__(self, cfg: AudioTowerConfig) -> None:
        super().__init__()
        dim, eps = cfg.encoder_dim, cfg.layer_norm_eps
        self.ffn1_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn1 = FeedForward(dim, cfg.ffn_dim)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.self_attn = RotarySelfAttention(dim, cfg.num_heads)
        self.conv_module = ConvModule(dim, cfg.depthwise_kernel, eps)
        self.ffn2_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn2 = FeedForward(dim, cfg.ffn_dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ffn1(self.ffn1_layer_norm(x))
        x = x + self.self_attn(self.self_attn_layer_norm(x), cos, sin)
        x = x + self.conv_module(x)
        x = x + 0.5 * self.ffn2(self.ffn2_layer_norm(x))
        return self.final_layer_norm(x)


class ConformerEncoder(nn.Module):
    def __init__(self, cfg: AudioTowerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList([ConformerLayer(cfg) for _ in range(cfg.encoder_depth)])
        self.layer_norm = nn.LayerNorm(cfg.encoder_dim, eps=cfg.layer_norm_eps)

    def rotary(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) tables (T, head_dim) for x (B, T, D), in x's dtype and on its device."""
        cos, sin = rotary_tables(x.shape[1], self.cfg.head_dim, self.cfg.rotary_base, x.device)
        return cos.to(x.dtype), sin.to(x.dtype)

    def forward(self, x: torch.Tensor, hidden_states: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(B, T, D) -> (B, T, D), the final LayerNorm applied.

        If `hidden_states` is a list, it receives the official `hidden_states` tuple: the input, each
        layer's output, and (instead of the last layer's raw output) the final LayerNormed output.
        """
        cos, sin = self.rotary(x)
        for layer in self.layers:
            if hidden_states is not None:
                hidden_states.append(x)
            x = layer(x, cos, sin)
        x = self.layer_norm(x)
        if hidden_states is not None:
            hidden_states.append(x)
        return x

    def layer_outputs(self, x: torch.Tensor, count: int) -> list[torch.Tensor]:
        """(B, T, D) -> [input, output of layer 1, ..., output of layer `count`], each (B, T, D).

        The first `count` + 1 entries of the official `hidden_states`, without running the later layers.
        """
        cos, sin = self.rotary(x)
        outputs = [x]
        for layer in self.layers[:count]:
            outputs.append(layer(outputs[-1], cos, sin))
        return outputs
