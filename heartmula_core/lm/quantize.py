"""Weight-only int8 for the HeartMuLa LM: a quarter of the bfloat16 memory for every large matrix.

Each weight row (one output feature) is stored as int8 with one scale, w ~= q * scale, q = round(w / scale),
scale = max|w_row| / 127. Activations stay in the model's dtype: a layer computes (x @ q^T) * scale
(`int8_matmul`), so the full-precision weights never exist again. On the CPU with bfloat16/float16
activations that is torch's int8 weight-only kernel, which reads the int8 bytes directly: a memory-bound
step then reads half the bytes of bfloat16. Elsewhere q is converted one matrix at a time.
Quantised: every projection of the backbone and the decoder, the backbone-to-decoder projection and the
eight codebook heads (~98% of a 3B model's matmul weights). Kept as they are: embeddings (a lookup reads
one row, not the table), norms, and the small style projection.

The cost in quality is measured, not assumed: `benchmarks/bench_quant.py` reports token agreement and
logit error against the unquantised model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from .heartmula import HeartMuLa

INT8_MAX = 127
PACKED_DTYPES = (torch.bfloat16, torch.float16)
"""Activation dtypes the CPU int8 kernel is fast for (with float32 it is slower than converting q)."""
PACKED_K_MULTIPLE = 64
"""The CPU kernel reads the input features in vector blocks and has no tail loop: an input width that is not
a multiple of its block crashes the process (seen with 8, 17 and 24). 64 covers every block width and every
real HeartMuLa matrix (3072, 8192); smaller odd widths take the converting path."""


def int8_matmul(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    """(x @ q^T) * scale: x (..., in) float, q (out, in) int8, scale (out,) -> (..., out) in x's dtype."""
    out_features, in_features = q.shape
    if x.device.type == "cpu" and x.dtype in PACKED_DTYPES and in_features % PACKED_K_MULTIPLE == 0:
        rows = x.reshape(-1, in_features).contiguous()
        packed = torch._weight_int8pack_mm(rows, q, scale.to(x.dtype))
        return packed.reshape(*x.shape[:-1], out_features)
    return F.linear(x, q.to(x.dtype)) * scale


def quantize_rows(weight: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Symmetric int8 of `weight`, one scale per 1-D slice along `dim` (the input features of each output).

    Args:
        weight: float tensor; dim=-1 for an (out, in) Linear weight (one scale per output row), dim=1 for
            the (books, in, vocab) audio heads (one scale per output id).
    Returns:
        (q int8 of weight's shape, scale of weight's dtype with `dim` kept as size 1).
    """
    w = weight.float()
    scale = w.abs().amax(dim=dim, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / INT8_MAX
    q = torch.round(w / scale).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)
    return q, scale.to(weight.dtype)


class Int8Linear(nn.Module):
    """A bias-free nn.Linear with int8 weights: y = (x @ q^T) * scale, x (..., in) -> (..., out)."""

    def __init__(self, q: Tensor, scale: Tensor):
        super().__init__()
        self.register_buffer("weight", q)  # (out, in) int8
        self.register_buffer("scale", scale.reshape(-1))  # (out,)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        if linear.bias is not None:
            raise ValueError("Int8Linear has no bias; keep biased layers unquantised")
        q, scale = quantize_rows(linear.weight.detach())
        return cls(q, scale)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return int8_matmul(x, self.weight, self.scale)


def quantize_int8(model: HeartMuLa) -> HeartMuLa:
    """Replace the LM's large matrices by int8 ones, in place, one at a time; returns the model.

    Peak memory is the loaded model plus one matrix. The model then generates as before (same API);
    `HeartMuLa.is_quantized` says it is int8.
    """
    for stack in (model.backbone, model.decoder):
        for block in stack.layers:
            for parent, name in ((block.attn, "qkv_proj"), (block.attn, "output_proj"), (block.mlp, "w13"), (block.mlp, "w2")):
                _swap(parent, name)
    _swap(model, "projection")
    _swap(model, "codebook0_head")
    q, scale = quantize_rows(model.audio_head.detach().transpose(1, 2), dim=-1)  # one scale per output id
    model.audio_head = nn.Parameter(q.contiguous(), requires_grad=False)  # (books-1, V, D): rows are outputs
    model.audio_head_scale = scale.squeeze(-1)  # (books-1, V)
    return model


def _swap(parent: nn.Module, name: str) -> None:
    linear = getattr(parent, name)
    setattr(parent, name, Int8Linear.from_linear(linear))
    del linear  # the float weights go now, before the next matrix is quantised


def weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (what the model holds in memory, caches excluded)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
