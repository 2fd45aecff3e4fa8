"""The flow-matching estimator: a two-stage Llama-style transformer with adaptive (timestep) norms.

Input [B, T, in_channels] = cat(noisy latent, in-context latent, condition); output [B, T, out_channels],
the velocity. Stage 1 runs at width D = heads * head_dim, stage 2 at 2D (same head count, doubled head
size). Every block is modulated by a shared timestep projection plus its own `scale_shift_table`
(PixArt's "adaLN-single"), and each stage ends with a modulated, affine-free LayerNorm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeartCodecConfig

NORM_EPS = 1e-6
ROPE_BASE = 10_000.0
TIMESTEP_CHANNELS = 512  # width of the sinusoidal timestep features
TIMESTEP_SCALE = 1000.0  # t in [0, 1] is embedded as 1000 t
MAX_PERIOD = 10_000.0


class ProjectLayer(nn.Module):
    """Conv1d over time (k=3, same padding) scaled by k^-0.5 (weight and bias alike), then a Linear."""

    def __init__(self, d_in: int, d_out: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.ffn_1 = nn.Conv1d(d_in, d_out, kernel_size, padding=kernel_size // 2)
        self.ffn_2 = nn.Linear(d_out, d_out)
        self.scale = kernel_size**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, d_in] -> [B, T, d_out]."""
        h = self.ffn_1(x.transpose(1, 2)).transpose(1, 2) * self.scale  # (B, T, d_out)
        return self.ffn_2(h)

    def conv_part(self, x: torch.Tensor, channels: slice, bias: bool = False) -> torch.Tensor:
        """The conv over the input channels `channels` alone (it is linear: the parts sum to the whole conv):
        x [B, T, len(channels)] -> [B, T, d_out], unscaled; `bias` adds the conv's bias (to one part only)."""
        weight = self.ffn_1.weight[:, channels]
        out = F.conv1d(x.transpose(1, 2), weight, self.ffn_1.bias if bias else None, padding=self.ffn_1.padding)
        return out.transpose(1, 2)  # (B, T, d_out)

    def finish(self, conv: torch.Tensor) -> torch.Tensor:
        """The rest of `forward` after the conv: [B, T, d_out] (the summed conv parts) -> [B, T, d_out]."""
        return self.ffn_2(conv * self.scale)


def timestep_features(t: torch.Tensor, channels: int = TIMESTEP_CHANNELS) -> torch.Tensor:
    """Sinusoidal features of the flow time, t [B] in [0, 1] -> [B, channels] float32, cos half first."""
    half = channels // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = (t.float() * TIMESTEP_SCALE)[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class AdaLNSingle(nn.Module):
    """Timestep -> embedding `emb` [B, D] (for the final norm) and block modulation [B, 6D]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(TIMESTEP_CHANNELS, dim)
        self.linear_2 = nn.Linear(dim, dim)
        self.linear = nn.Linear(dim, 6 * dim)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = timestep_features(t).to(self.linear_1.weight.dtype)
        emb = self.linear_2(F.silu(self.linear_1(feats)))
        return emb, self.linear(F.silu(emb))


def rope_tables(length: int, head_dim: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [length, head_dim // 2] for RoPE over positions 0..length-1 (float32)."""
    inv_freq = 1.0 / ROPE_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float32, device=device), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) of x [B, H, T, head_dim]."""
    pairs = x.float().unflatten(-1, (-1, 2))  # (B, H, T, head_dim/2, 2)
    x0, x1 = pairs.unbind(-1)
    rotated = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return rotated.flatten(-2).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = NORM_EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with RoPE, no biases."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        def split(h: torch.Tensor) -> torch.Tensor:
            return h.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, T, head_dim)

        q = apply_rope(split(self.q_proj(x)), *rope)
        k = apply_rope(split(self.k_proj(x)), *rope)
        out = F.scaled_dot_product_attention(q, k, split(self.v_proj(x)))  # (B, heads, T, head_dim)
        return self.o_proj(out.transpose(1, 2).flatten(2))  # (B, T, dim)


class SwiGLU(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = 256 * math.ceil(int(8 * dim / 3) / 256)
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """Pre-norm transformer block; norms modulated by scale_shift_table + the stage's timestep modulation."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.empty(6, dim))
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp_norm = RMSNorm(dim)
        self.mlp = SwiGLU(dim)

    def forward(self, x: torch.Tensor, mod: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x [B, T, dim], mod [B, 6 * dim]."""
        table = self.scale_shift_table[None] + mod.unflatten(-1, (6, -1))  # (B, 6, dim)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = table[:, :, None].unbind(1)  # each (B, 1, dim)
        x = x + gate_a * self.attn(self.attn_norm(x) * (1 + scale_a) + shift_a, rope)
        return x + gate_m * self.mlp(self.mlp_norm(x) * (1 + scale_m) + shift_m)


class Stage(nn.Module):
    """A stack of blocks sharing one AdaLNSingle, closed by a modulated LayerNorm (no affine).

    The two stages' module names differ in the checkpoint (`transformer_blocks` vs `transformer_blocks_2`, ...);
    the loader renames them into `stage1.*` / `stage2.*`.
    """

    def __init__(self, dim: int, heads: int, layers: int) -> None:
        super().__init__()
        self.heads = heads
        self.adaln_single = AdaLNSingle(dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.scale_shift_table = nn.Parameter(torch.empty(2, dim))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """x [B, T, dim], t [B] (or [1]: one time for every row); `rope` = this stage's `rope_tables` for T
        (computed here when None)."""
        emb, mod = self.adaln_single(t)
        rope = rope if rope is not None else self.rope(x.shape[1], x.device)
        for block in self.blocks:
            x = block(x, mod, rope)
        shift, scale = (self.scale_shift_table[None] + emb[:, None])[:, :, None].unbind(1)  # each (B, 1, dim)
        return F.layer_norm(x, (x.shape[-1],), eps=NORM_EPS) * (1 + scale) + shift

    def rope(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return rope_tables(length, self.scale_shift_table.shape[-1] // self.heads, device)


@dataclass(frozen=True)
class WindowInputs:
    """What the estimator makes, once per window, of the inputs that stay fixed through its Euler steps.

    The input projections are convolutions, which are linear: their part over the fixed channels (in-context
    latent and condition, bias included) is computed here once instead of at every step. Equal to the full
    computation up to fp32 summation order (about 1e-7).

    Attributes:
        proj_in: [rows, T, D] proj_in's conv over the fixed channels.
        connection: [rows, T, 2D] connection_proj's conv over the same channels.
        rope1, rope2: the two stages' RoPE tables for T positions.
    """

    proj_in: torch.Tensor
    connection: torch.Tensor
    rope1: tuple[torch.Tensor, torch.Tensor]
    rope2: tuple[torch.Tensor, torch.Tensor]


class Estimator(nn.Module):
    """Velocity estimator v(x_t, t | in-context, condition)."""

    def __init__(self, config: HeartCodecConfig) -> None:
        super().__init__()
        dim, heads = config.inner_dim, config.num_attention_heads
        self.proj_in = ProjectLayer(config.in_channels, dim)
        self.stage1 = Stage(dim, heads, config.num_layers)
        self.connection_proj = ProjectLayer(config.in_channels + dim, 2 * dim)
        self.stage2 = Stage(2 * dim, heads, config.num_layers_2)
        self.proj_out = ProjectLayer(2 * dim, config.out_channels)
        self.in_channels, self.out_channels = config.in_channels, config.out_channels

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x [B, T, in_channels], t [B] flow time in [0, 1] -> velocity [B, T, out_channels]."""
        s = self.stage1(self.proj_in(x), t)
        h = self.stage2(self.connection_proj(torch.cat([x, s], dim=-1)), t)
        return self.proj_out(h)

    def prepare(self, fixed: torch.Tensor) -> WindowInputs:
        """fixed [B, T, in_channels - out_channels] = cat(in-context latent, condition), the inputs after the
        noisy latent that do not change during a window's Euler steps."""
        latent, inputs = self.out_channels, self.in_channels
        return WindowInputs(
            proj_in=self.proj_in.conv_part(fixed, slice(latent, inputs), bias=True),
            connection=self.connection_proj.conv_part(fixed, slice(latent, inputs), bias=True),
            rope1=self.stage1.rope(fixed.shape[1], fixed.device),
            rope2=self.stage2.rope(fixed.shape[1], fixed.device),
        )

    def velocity(self, x: torch.Tensor, t: torch.Tensor, window: WindowInputs) -> torch.Tensor:
        """`forward` for inputs cat(x, fixed) given `prepare(fixed)`: x [B, T, out_channels] noisy latent,
        t the flow time shared by every row (0-d or [1]) -> velocity [B, T, out_channels].

        The timestep embedding is computed once, for one row, and broadcast: it costs less, and a row's
        result then does not depend on how many rows the batch has (a [B, D] matmul can round differently
        for another B)."""
        latent, inputs = self.out_channels, self.in_channels
        t = t.reshape(1)
        h = self.proj_in.finish(self.proj_in.conv_part(x, slice(0, latent)) + window.proj_in)
        s = self.stage1(h, t, window.rope1)
        connection = self.connection_proj
        h = connection.conv_part(x, slice(0, latent)) + connection.conv_part(s, slice(inputs, None))
        h = self.stage2(connection.finish(h + window.connection), t, window.rope2)
        return self.proj_out(h)
