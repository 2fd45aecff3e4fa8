"""Weights packed once for oneDNN's CPU matrix products: the guided frame's small batches at memory speed.

A frame multiplies 2 rows per variant (the guided pair) by every weight matrix. Through `F.linear` those
2-row products read the weights at a fraction of the machine's memory rate; oneDNN's linear on weights
reordered once into its blocked layout (`mkldnn._reorder_linear_weight`) reads them close to it
(benchmarks/RESULTS.md, "the quiet run": a medium frame's matrix products took 31.7 ms through `F.linear` and
9.4 ms packed). The packed kernel sums in another order, so results differ from `F.linear` in the last bits,
as a compiled frame's do; tests bound that by comparing tokens with the official goldens.

Small or narrow matrices gain nothing (the tiny test models' are slower packed: 3.2 vs 3.0 ms a frame with
only their 32-wide heads packed): only matrices of at least `MIN_PACKED_BYTES` and `MIN_PACKED_INPUTS` input
features are packed. `HeartMuLa.pack_weights` applies this to the model, which knows its
layers; the packed product is a custom op so that `torch.compile` keeps it as one call in its graph.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PACKED_DTYPES = (torch.float32, torch.bfloat16)
MIN_PACKED_BYTES = 1 << 20
"""Matrices smaller than this stay with `F.linear`: below about 1 MB the packed call's overhead wins."""
MIN_PACKED_INPUTS = 256
"""Nor are matrices with fewer input features packed (the medium test model's 512 gain 3.5x; the tiny
models' 32 and 64 lose)."""


def can_pack(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether weights of `dtype` on `device` can be packed: the CPU, with torch's oneDNN, float32 or bfloat16."""
    return device.type == "cpu" and dtype in PACKED_DTYPES and torch.backends.mkldnn.is_available()


def worth_packing(weight: Tensor, min_bytes: int = MIN_PACKED_BYTES) -> bool:
    """Whether a weight (out, in) gains from packing; `min_bytes=0` packs every matrix (the tests' way to run
    the packed kernel on the small reference checkpoints)."""
    if min_bytes == 0:
        return True
    return weight.shape[1] >= MIN_PACKED_INPUTS and weight.numel() * weight.element_size() >= min_bytes


@torch.library.custom_op("heartmula::packed_linear", mutates_args=())
def packed_linear(x: Tensor, packed: Tensor) -> Tensor:
    """x (..., in) @ w^T for a weight w (out, in) packed by `pack`: (..., out), in x's dtype."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")


@packed_linear.register_fake
def _packed_linear_shape(x: Tensor, packed: Tensor) -> Tensor:
    return x.new_empty(*x.shape[:-1], packed.shape[0])


def pack(weight: Tensor, rows: int) -> Tensor:
    """A weight (out, in) reordered for oneDNN's linear, tuned for batches of `rows` rows (any count works)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)


class PackedLinear(nn.Module):
    """A bias-free nn.Linear whose weight is packed for oneDNN: x (..., in) -> (..., out)."""

    def __init__(self, packed: Tensor):
        super().__init__()
        self.register_buffer("packed", packed, persistent=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, rows: int) -> PackedLinear:
        if linear.bias is not None:
            raise ValueError("PackedLinear takes bias-free layers only")
        return cls(pack(linear.weight, rows))

    @property
    def out_features(self) -> int:
        return self.packed.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return packed_linear(x, self.packed)


def swap_packed(parent: nn.Module, name: str, rows: int, min_bytes: int = MIN_PACKED_BYTES) -> bool:
    """Replace the bias-free nn.Linear `parent.<name>` by its `PackedLinear` when it is worth packing (the
    unpacked weight goes at once); returns whether it was replaced."""
    linear = getattr(parent, name)
    if not isinstance(linear, nn.Linear) or not worth_packing(linear.weight, min_bytes):
        return False
    setattr(parent, name, PackedLinear.from_linear(linear, rows))
    return True
