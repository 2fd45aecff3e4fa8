"""The Llama-3.2-style transformer the HeartMuLa LM is made of (backbone and depth decoder).

Pre-norm blocks: x += attn(RMSNorm(x)); x += mlp(RMSNorm(x)); a final RMSNorm. Grouped-query attention
with llama3-scaled RoPE on adjacent pairs, SwiGLU MLP, no biases, and a static KV cache.

Two things differ from the official torchtune modules on purpose, neither changes the maths:
- attention reads only the filled part of the KV cache (the official code attends over all
  `max_seq_len` slots with a mask every step, which is most of its CPU time);
- q/k/v and the MLP's gate/up projections are stored fused (one matmul each). Checkpoints keep the
  official separate tensors; `fuse_checkpoint` / `checkpoint_shapes` map between the two at load time.

`Transformer.step` is the other way to run one new row: the position is a tensor on the device and attention
reads every slot of the cache through a mask, as the official code does. Every shape and address is then the
same at every position, which is what a CUDA graph needs to replay a frame (`lm/graphs.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import LlamaConfig

# Fused parameter -> the official checkpoint tensors it concatenates (along dim 0, in this order).
FUSED_PARAMS: dict[str, tuple[str, ...]] = {
    "attn.qkv_proj.weight": ("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight"),
    "mlp.w13.weight": ("mlp.w1.weight", "mlp.w3.weight"),
}


def llama3_inv_freq(cfg: LlamaConfig) -> Tensor:
    """RoPE frequencies theta_i = base^(-2i/head_dim) with llama3 long-context scaling, fp32 [head_dim // 2].

    Low frequencies (wavelength beyond the old context) are divided by the scale factor, high ones kept,
    and the band between blended linearly. Every step is fp32 tensor arithmetic, as in the official table.
    """
    hd = cfg.head_dim
    theta = 1.0 / (cfg.rope_base ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
    wavelen = 2 * math.pi / theta
    high_freq_wavelen = cfg.rope_old_context_len / cfg.rope_high_freq_factor
    low_freq_wavelen = cfg.rope_old_context_len / cfg.rope_low_freq_factor
    smooth = (cfg.rope_old_context_len / wavelen - cfg.rope_low_freq_factor) / (
        cfg.rope_high_freq_factor - cfg.rope_low_freq_factor
    )
    blended = (1 - smooth) * theta / cfg.rope_scale_factor + smooth * theta
    scaled = torch.where(wavelen > low_freq_wavelen, theta / cfg.rope_scale_factor, blended)
    return torch.where(wavelen < high_freq_wavelen, theta, scaled)


def rope_tables(cfg: LlamaConfig, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per-position RoPE factors, fp32, each (max_seq_len, 1, head_dim), laid out for `apply_rope`.

    cos is repeated per pair (c0, c0, c1, c1, ...) and sin signed (-s0, s0, -s1, s1, ...), so a rotation is
    two multiplies and an add over whole rows.
    """
    inv_freq = llama3_inv_freq(cfg)
    angles = torch.outer(torch.arange(cfg.max_seq_len, dtype=inv_freq.dtype), inv_freq)  # (S, hd/2)
    cos = angles.cos().repeat_interleave(2, dim=-1)  # (S, hd)
    sin = torch.stack((-angles.sin(), angles.sin()), dim=-1).flatten(-2)  # (S, hd)
    return cos[:, None].to(device), sin[:, None].to(device)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) of x (B, T, heads, head_dim) by the angles of cos/sin (T, 1, hd).

    Gives (x0 cos - x1 sin, x1 cos + x0 sin) bit for bit: negating sin is exact.
    """
    xf = x.float()
    # view + flip rather than Tensor.unflatten, whose Python wrapper cost more than the flip on small models
    swapped = xf.view(*xf.shape[:-1], -1, 2).flip(-1).view(xf.shape)  # (x1, x0, x3, x2, ...)
    return (xf * cos + swapped * sin).type_as(x)


class KVCache:
    """Pre-allocated keys and values of one attention layer, (batch, kv_heads, length, head_dim) each.

    Not a module on purpose: caches are never part of a checkpoint. Slots are written in order and only
    the filled prefix is ever read, so a cache is reused across generations without clearing.
    """

    def __init__(self, batch: int, kv_heads: int, length: int, head_dim: int, dtype: torch.dtype, device: torch.device):
        shape = (batch, kv_heads, length, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    def matches(self, batch: int, length: int, dtype: torch.dtype, device: torch.device) -> bool:
        return (
            self.k.shape[0] == batch and self.k.shape[2] == length and self.k.dtype == dtype and self.k.device == device
        )

    def update(self, input_pos: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k, v (B, kv_heads, T, head_dim) at slots input_pos..input_pos+T-1; return the filled prefix."""
        end = input_pos + k.shape[2]
        if end > self.k.shape[2]:
            raise ValueError(f"KV cache overflow: position {end - 1} >= cache length {self.k.shape[2]}")
        self.k[:, :, input_pos:end] = k
        self.v[:, :, input_pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]

    def write(self, pos: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write one step's k, v (B, kv_heads, 1, head_dim) at slot pos ((1,) int64 on the cache's device), with
        no host sync; return the whole cache (slots past pos hold stale or zero values: mask them)."""
        self.k.index_copy_(2, pos, k)
        self.v.index_copy_(2, pos, v)
        return self.k, self.v


def attend(q: Tensor, k: Tensor, v: Tensor, input_pos: int) -> Tensor:
    """Causal GQA attention of queries at input_pos.. over keys at 0..S-1; q (B, H, T, hd), k/v (B, KV, S, hd).

    `enable_gqa` repeats each kv head over consecutive query heads (kv head j serves heads j*r..j*r+r-1),
    which is the official (expanded, not interleaved) mapping.
    """
    t, s = q.shape[2], k.shape[2]
    if t == 1:  # one new query sees every filled slot
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    if s == t:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    rows = torch.arange(input_pos, input_pos + t, device=q.device)[:, None]
    mask = rows >= torch.arange(s, device=q.device)[None, :]  # (T, S), True = attend
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * scale, normalised in fp32 and cast back before the scale."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.scale


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        qkv_dim = (cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim
        self.qkv_proj = nn.Linear(cfg.embed_dim, qkv_dim, bias=False)
        self.output_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.embed_dim, bias=False)
        self.cache: KVCache | None = None

    def project(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rotated queries and keys and the values of x (B, T, D): (B, H, T, hd), (B, KV, T, hd), (B, KV, T, hd)."""
        b, t, _ = x.shape
        h, kv = self.num_heads, self.num_kv_heads
        qkv = self.qkv_proj(x).view(b, t, h + 2 * kv, self.head_dim)  # (B, T, H + 2KV, hd)
        qk = apply_rope(qkv[:, :, : h + kv], cos, sin)  # q and k heads rotated in one go
        q = qk[:, :, :h].transpose(1, 2)  # (B, H, T, hd)
        k = qk[:, :, h:].transpose(1, 2)  # (B, KV, T, hd)
        v = qkv[:, :, h + kv :].transpose(1, 2)  # (B, KV, T, hd)
        return q, k, v

    def merge_heads(self, out: Tensor) -> Tensor:
        """The output projection of attention's result, (B, H, T, hd) -> (B, T, D)."""
        b, _, t, _ = out.shape
        return self.output_proj(out.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, input_pos: int) -> Tensor:
        q, k, v = self.project(x, cos, sin)
        if self.cache is not None:
            k, v = self.cache.update(input_pos, k, v)  # (B, KV, input_pos + T, hd)
        elif input_pos != 0:
            raise ValueError("an uncached forward must start at position 0")
        return self.merge_heads(attend(q, k, v, input_pos))

    def step(self, x: Tensor, cos: Tensor, sin: Tensor, pos: Tensor, visible: Tensor) -> Tensor:
        """One new row per batch at position pos ((1,) int64), reading the whole cache: x (B, 1, D) -> (B, 1, D).

        `visible` (1, slots) bool marks the filled slots 0..pos; the shapes never depend on the position.
        """
        b, h, kv = x.shape[0], self.num_heads, self.num_kv_heads
        q, k, v = self.project(x, cos, sin)
        k, v = self.cache.write(pos, k, v)  # (B, KV, slots, hd)
        # One query per head: the r heads sharing kv head j (heads j*r..j*r+r-1, as `enable_gqa` maps them) go
        # in as r query rows of that kv head, so no kernel repeats the whole cache per head and the masked,
        # memory-efficient kernels apply (GQA with a mask would fall back to the plain maths path on a GPU).
        grouped = q.reshape(b, kv, h // kv, self.head_dim)  # (B, KV, r, hd)
        out = F.scaled_dot_product_attention(grouped, k, v, attn_mask=visible)  # (B, KV, r, hd)
        return self.merge_heads(out.reshape(b, h, 1, self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x), with w1 and w3 fused into one matmul."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.w13 = nn.Linear(cfg.embed_dim, 2 * cfg.intermediate_dim, bias=False)
        self.w2 = nn.Linear(cfg.intermediate_dim, cfg.embed_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.sa_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.mlp = FeedForward(cfg)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, input_pos: int) -> Tensor:
        x = x + self.attn(self.sa_norm(x), cos, sin, input_pos)
        return x + self.mlp(self.mlp_norm(x))

    def step(self, x: Tensor, cos: Tensor, sin: Tensor, pos: Tensor, visible: Tensor) -> Tensor:
        """`forward` for one row at a device position (`Attention.step`), (B, 1, D) -> (B, 1, D)."""
        x = x + self.attn.step(self.sa_norm(x), cos, sin, pos, visible)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    """A stack of blocks plus the final norm; token embeddings and the output head live in the caller."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.config = cfg
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self._rope: tuple[Tensor, Tensor] | None = None  # (cos, sin), built on first use, never on meta

    def setup_caches(self, batch: int, device: torch.device, dtype: torch.dtype, length: int | None = None) -> None:
        """Allocate a KV cache of `length` slots (default max_seq_len) per layer; a no-op if one already fits.

        Safe to call again with another batch size, length, dtype or device: the caches are replaced.
        """
        length = self.config.max_seq_len if length is None else length
        if not 0 < length <= self.config.max_seq_len:
            raise ValueError(f"cache length {length} outside 1..{self.config.max_seq_len}")
        for layer in self.layers:
            cache = layer.attn.cache
            if cache is None or not cache.matches(batch, length, dtype, device):
                layer.attn.cache = KVCache(batch, self.config.num_kv_heads, length, self.config.head_dim, dtype, device)
        # The RoPE tables too, before any step runs: a compiled step that first saw them missing would be
        # compiled again once they exist.
        self.rope(device)

    def clear_caches(self) -> None:
        """Free the KV caches (the next forward is uncached until `setup_caches` is called again)."""
        for layer in self.layers:
            layer.attn.cache = None

    def rope(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self._rope is None or self._rope[0].device != device:
            self._rope = rope_tables(self.config, device)
        return self._rope

    def forward(self, x: Tensor, input_pos: int = 0) -> Tensor:
        """x (B, T, D) at positions input_pos..input_pos+T-1 -> final-normed hidden states (B, T, D)."""
        t = x.shape[1]
        if input_pos + t > self.config.max_seq_len:
            raise ValueError(f"position {input_pos + t - 1} beyond max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope(x.device)
        cos, sin = cos[input_pos : input_pos + t], sin[input_pos : input_pos + t]  # (T, 1, hd)
        for layer in self.layers:
            x = layer(x, cos, sin, input_pos)
        return self.norm(x)

    def step(self, x: Tensor, pos: Tensor) -> Tensor:
        """One row per batch at the position held in pos ((1,) int64 on x's device), cached: x (B, 1, D) ->
        final-normed (B, 1, D).

        The same maths as `forward(x, int(pos))`, but nothing waits on the host and no shape depends on the
        position: the KV cache is written with `index_copy_` and attention reads all of its slots through a
        mask. It costs a read of the unfilled slots too (the cache is sized to the song, `cache_length`).
        """
        cache = self.layers[0].attn.cache
        if cache is None:
            raise ValueError("Transformer.step needs the KV caches (setup_caches)")
        cos, sin = self.rope(x.device)
        cos, sin = cos.index_select(0, pos), sin.index_select(0, pos)  # (1, 1, hd)
        visible = (torch.arange(cache.k.shape[2], device=x.device) <= pos)[None]  # (1, slots), True = attend
        for layer in self.layers:
            x = layer.step(x, cos, sin, pos, visible)
        return self.norm(x)

    # -- checkpoint mapping -------------------------------------------------------------------------------

    def _split_sizes(self, fused: str) -> list[int]:
        c = self.config
        if fused == "attn.qkv_proj.weight":
            return [c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim, c.num_kv_heads * c.head_dim]
        return [c.intermediate_dim, c.intermediate_dim]

    def checkpoint_shapes(self, prefix: str) -> dict[str, tuple[int, ...]]:
        """The official checkpoint's key -> shape for this stack (fused tensors listed as their parts)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for name, param in self.named_parameters():
            head, index, suffix = (name.split(".", 2) + ["", ""])[:3]  # "layers", "N", "attn.q_proj.weight"
            if head == "layers" and suffix in FUSED_PARAMS:
                for part, rows in zip(FUSED_PARAMS[suffix], self._split_sizes(suffix), strict=True):
                    shapes[f"{prefix}layers.{index}.{part}"] = (rows, *param.shape[1:])
            else:
                shapes[prefix + name] = tuple(param.shape)
        return shapes

    def fuse_checkpoint(self, state: dict[str, Tensor], prefix: str) -> None:
        """Replace the official separate tensors in `state` (in place) by the fused ones this module stores.

        Call after the strict key check: every part is expected to be present.
        """
        for i in range(self.config.num_layers):
            for fused, parts in FUSED_PARAMS.items():
                keys = [f"{prefix}layers.{i}.{p}" for p in parts]
                state[f"{prefix}layers.{i}.{fused}"] = torch.cat([state.pop(k) for k in keys], dim=0)
