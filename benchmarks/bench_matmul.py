"""Is the LM frame at the memory wall, or is a kernel leaving bandwidth unused? The matrix products alone.

A frame's weight reads are matrix products with 2 rows (a guided pair): every projection of the backbone once,
then the projection, the decoder's and one audio head per decoder step (in frame order, so each matrix comes
from memory as in a real frame). This times that chain by itself, with torch's default path (`F.linear`, a
general matrix product, which for 2 rows reads weights well below the machine's bandwidth on some CPUs) and,
on the CPU, with oneDNN's prepacked weights (what `torch.compile` uses for linear layers with frozen weights).
Measured against the floor of the same bytes (`floor.py`): the gap between the two is a fixable cost, the
rest is the wall.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.bench_lm import build
from benchmarks.floor import last_level_cache_bytes, read_bandwidth
from heartmula_core.lm.heartmula import HeartMuLa
from heartmula_core.lm.llama import Transformer

ROWS = 2  # one variant with guidance
REPEATS = 7


def frame_matrices(model: HeartMuLa) -> list[Tensor]:
    """Every weight matrix one frame multiplies by, (out, in) each, in the order a frame reads them."""

    def stack(transformer: Transformer) -> list[Tensor]:
        return [
            weight
            for block in transformer.layers
            for weight in (block.attn.qkv_proj.weight, block.attn.output_proj.weight, block.mlp.w13.weight, block.mlp.w2.weight)
        ]

    matrices = [*stack(model.backbone), model.codebook0_head.weight]
    for book in range(model.num_codebooks - 1):
        matrices += [model.projection.weight, *stack(model.decoder), model.audio_head[book].t().contiguous()]
    return matrices


def _converted(matrices: list[Tensor], dtype: torch.dtype) -> list[Tensor]:
    """`matrices` in `dtype`, a matrix the chain repeats (the decoder's, once per step) still one tensor."""
    converted: dict[int, Tensor] = {}
    return [converted.setdefault(id(m), m.to(dtype)) for m in matrices]


def memory_bytes(matrices: list[Tensor], cache_size: int) -> int:
    """Bytes the chain must read from memory: every matrix it repeats once when those fit in a cache of
    `cache_size` bytes (a decoder step's weights, read again 6 times a frame), else each read."""
    distinct = {id(m): m.numel() * m.element_size() for m in matrices}
    counts = Counter(id(m) for m in matrices)
    repeated = sum(size for key, size in distinct.items() if counts[key] > 1)
    if repeated <= cache_size:
        return sum(distinct.values())
    return sum(m.numel() * m.element_size() for m in matrices)


def _onednn(matrices: list[Tensor]) -> Callable[[list[Tensor]], None] | None:
    """The chain through oneDNN's linear with weights packed once for ROWS rows; None where torch has no such op."""
    try:
        once: dict[int, Tensor] = {}  # a repeated matrix is packed once, as an engine would
        packed = [once.setdefault(id(m), torch.ops.mkldnn._reorder_linear_weight(m, ROWS)) for m in matrices]
    except (AttributeError, RuntimeError):
        return None

    def run(inputs: list[Tensor]) -> None:
        for x, weight in zip(inputs, packed):
            torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")

    return run


def _median_ms(run: Callable[[list[Tensor]], None], inputs: list[Tensor]) -> float:
    run(inputs)  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return sorted(times)[REPEATS // 2] * 1000


@torch.inference_mode()
def matmul_rows(configs: list[str], device: str, bandwidth: float | None = None) -> list[dict]:
    """Per config (CPU, float32 and bfloat16 weights): a frame's matrix products alone, `F.linear` vs packed,
    and the floor of their bytes at `bandwidth` (bytes/s; measured here when None)."""
    dev = torch.device(device)
    if dev.type != "cpu":
        return []
    bandwidth = bandwidth or read_bandwidth(dev)
    rows = []
    for config in configs:
        if config == "full":
            continue
        model = build(config, dev)[0]
        for dtype in (torch.float32, torch.bfloat16):
            matrices = _converted(frame_matrices(model), dtype)
            inputs = [torch.ones(ROWS, m.shape[1], dtype=dtype) for m in matrices]
            nbytes = sum(m.numel() * m.element_size() for m in matrices)
            from_memory = memory_bytes(matrices, last_level_cache_bytes(dev))
            linear_ms = _median_ms(lambda xs: [F.linear(x, m) for x, m in zip(xs, matrices)], inputs)
            packed = _onednn(matrices)
            packed_ms = _median_ms(packed, inputs) if packed else None
            floor_ms = from_memory / bandwidth * 1000
            rows.append({
                "part": "matmuls",
                "config": config,
                "dtype": str(dtype).removeprefix("torch."),
                "matrices MB/frame": round(nbytes / 1e6, 1),
                "from memory MB/frame": round(from_memory / 1e6, 1),
                "F.linear ms/frame": round(linear_ms, 2),
                "packed ms/frame": round(packed_ms, 2) if packed_ms else "",
                "floor ms/frame": round(floor_ms, 2),
                "floor/F.linear": f"{floor_ms / linear_ms:.0%}",
                "floor/packed": f"{floor_ms / packed_ms:.0%}" if packed_ms else "",
                "note": "" if packed else "no oneDNN linear in this torch",
            })
        del model
    return rows
