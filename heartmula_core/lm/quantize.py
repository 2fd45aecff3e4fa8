"""Weight-only int8 for the HeartMuLa LM: a quarter of the bfloat16 memory for every large matrix.

Each weight row (one output feature) is stored as int8 with one scale, w ~= q * scale, q = round(w / scale),
scale = max|w_row| / 127. Activations stay in the model's dtype: a layer computes (x @ q^T) * scale
(`int8_matmul`), so the full-precision weights never exist again. That is torch's int8 weight-only kernel
`torch._weight_int8pack_mm`, which reads the int8 bytes directly, wherever it fits:
- on the CPU with bfloat16/float16 activations (and an input width the kernel can take): a memory-bound step
  then reads half the bytes of bfloat16;
- on CUDA always: it converts the activations to float32 and reads each weight row once per activation row,
  so for a guided song (2 rows per variant) it moves about as many bytes as bfloat16, more with more variants.
  On a GPU int8 is a memory option (the 3B LM in 4 GB instead of 8), not a speed one; `benchmarks/gpu_check.py`
  measures both.
Elsewhere (float32 on the CPU, odd widths, other devices) q is converted one matrix at a time.
`HeartMuLa.quantize_int8` applies this to the model, which knows its own layers.
Quantised: every projection of the backbone and the decoder, the backbone-to-decoder projection and the
eight codebook heads (~98% of a 3B model's matmul weights). Kept as they are: embeddings (a lookup reads
one row, not the table), norms, and the small style projection.

The cost in quality is measured, not assumed: `benchmarks/bench_quant.py` reports token agreement and
logit error against the unquantised model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    on_cpu = x.device.type == "cpu" and x.dtype in PACKED_DTYPES and in_features % PACKED_K_MULTIPLE == 0
    if on_cpu or x.device.type == "cuda":
        rows = x.reshape(-1, in_features).contiguous()
        packed = torch._weight_int8pack_mm(rows, q, scale.to(x.dtype))
        return packed.reshape(*x.shape[:-1], out_features)
    return F.linear(x, q.to(x.dtype)) * scale


def check_int8_kernel(device: torch.device) -> None:
    """Raise RuntimeError, saying what to do, when `device` is a GPU that torch's int8 kernel does not run on
    (an older torch): better a clear error at load time than one in the middle of the first song."""
    if device.type != "cuda":
        return
    x = torch.zeros((1, PACKED_K_MULTIPLE), dtype=torch.bfloat16, device=device)
    q = torch.zeros((1, PACKED_K_MULTIPLE), dtype=torch.int8, device=device)
    try:
        torch._weight_int8pack_mm(x, q, torch.ones(1, dtype=torch.bfloat16, device=device))
    except (NotImplementedError, RuntimeError) as exc:
        raise RuntimeError(
            f"int8 weights on {device} need torch's CUDA int8 kernel (_weight_int8pack_mm), which torch "
            f"{torch.__version__} does not have here ({exc}); load the LM in bfloat16 instead"
        ) from exc


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


def swap_int8(parent: nn.Module, name: str) -> None:
    """Replace the bias-free nn.Linear `parent.<name>` by its `Int8Linear`; the float weights go at once."""
    linear = getattr(parent, name)
    setattr(parent, name, Int8Linear.from_linear(linear))
    del linear  # the float weights go now, before the next matrix is quantised


def weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (what the model holds in memory, caches excluded)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
