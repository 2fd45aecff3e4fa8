"""How fast an LM frame could be: the machine's weight-read bandwidth and the bytes one frame has to read.

A frame of a small batch (one variant is 2 rows with guidance) is a chain of matrix-vector products: each
weight is used for a couple of multiply-adds per byte, so the time is the bytes read over the rate memory
delivers them, not the arithmetic. `read_bandwidth` measures that rate with a float32 matrix-vector product
over a matrix much larger than the last-level cache (the CPU's L3, a GPU's L2), with the thread count in use.
`frame_weight_bytes` counts what one frame reads from the model itself, at the dtype it is stored in; the
floor is their ratio. A row at 100% of its floor is at the wall: going faster means reading fewer bytes
(bfloat16, int8), not doing fewer operations. A model small enough to stay in the cache between frames
can beat its floor (the floor assumes every byte comes from memory).
"""

from __future__ import annotations

import time

import torch

from heartmula_core.lm.config import LlamaConfig
from heartmula_core.lm.heartmula import HeartMuLa
from heartmula_core.lm.quantize import weight_bytes

PROBE_BYTES = {"cpu": 256 * 2**20, "cuda": 2 * 2**30}
"""Matrix sizes for the probe: 8x a 32 MB L3 on the CPU, 30x an H100/H200's L2."""
PROBE_COLUMNS = 4096


def read_bandwidth(device: str | torch.device = "cpu", nbytes: int | None = None, repeats: int = 7) -> float:
    """Bytes per second a float32 matrix-vector product reads its matrix at: the best of `repeats` (a floor
    is what the machine can do; the load of other processes only slows it). Uses torch's thread count."""
    device = torch.device(device)
    nbytes = nbytes or PROBE_BYTES.get(device.type, PROBE_BYTES["cuda"])
    rows = max(1, nbytes // (4 * PROBE_COLUMNS))
    matrix = torch.full((rows, PROBE_COLUMNS), 0.5, device=device)
    vector = torch.full((PROBE_COLUMNS,), 0.5, device=device)
    best = float("inf")
    for rep in range(repeats + 1):  # the first pass faults the pages in and warms the library
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mv(matrix, vector)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if rep:
            best = min(best, time.perf_counter() - start)
    return matrix.numel() * matrix.element_size() / best


def frame_weight_parts(model: HeartMuLa) -> tuple[int, int, int]:
    """(bytes read once a frame, bytes read per decoder step, embedding bytes gathered), at the stored dtypes.

    Once: the backbone, the codebook-0 head and the audio heads (step k reads head k, so all of them once in
    all). Per decoder step (codebooks 1..7): the decoder and the backbone-to-decoder projection. Gathered: the
    embedding rows of the frame's 8 codes into the backbone and of codes 0..6 into the decoder.
    """
    steps = model.num_codebooks - 1
    heads = model.audio_head.numel() * model.audio_head.element_size()
    if model.audio_head_scale is not None:
        heads += model.audio_head_scale.numel() * model.audio_head_scale.element_size()
    once = weight_bytes(model.backbone) + weight_bytes(model.codebook0_head) + heads
    per_step = weight_bytes(model.decoder) + weight_bytes(model.projection)
    row = model.audio_embeddings.weight[0]
    return once, per_step, (model.num_codebooks + steps) * row.numel() * row.element_size()


def frame_weight_bytes(model: HeartMuLa) -> int:
    """Bytes of weights one frame reads (`frame_weight_parts`; int8 matrices count with their scales). The rows
    of a guided pair read the same weights, so the count does not depend on the batch."""
    once, per_step, gathered = frame_weight_parts(model)
    return once + (model.num_codebooks - 1) * per_step + gathered


def cache_bytes(config: LlamaConfig, rows: int, slots: int, itemsize: int) -> int:
    """Bytes of keys and values one attention pass over `slots` cached positions reads, all layers."""
    return 2 * config.num_layers * rows * config.num_kv_heads * config.head_dim * slots * itemsize


def frame_cache_bytes(model: HeartMuLa, rows: int, backbone_slots: int, whole_decoder: bool) -> int:
    """KV cache bytes one frame reads: the backbone over `backbone_slots`, the decoder's 7 steps over their filled
    prefixes (2..8 slots) or, as the official code does, over all 8 slots each (`whole_decoder`)."""
    itemsize = model.dtype.itemsize
    steps = model.num_codebooks - 1
    decoder_slots = steps * model.num_codebooks if whole_decoder else sum(range(2, model.num_codebooks + 1))
    backbone = cache_bytes(model.config.backbone, rows, backbone_slots, itemsize)
    return backbone + cache_bytes(model.config.decoder, rows, decoder_slots, itemsize)


def floor_columns(weights: int, cache: int, bandwidth: float, ms: float) -> dict:
    """The floor columns of a row measured at `ms` per frame."""
    floor_ms = (weights + cache) / bandwidth * 1000
    return {
        "weights MB/frame": round(weights / 1e6, 1),
        "KV MB/frame": round(cache / 1e6, 1),
        "floor ms/frame": round(floor_ms, 2),
        "floor/measured": f"{floor_ms / ms:.0%}",
    }


def bandwidth_row(device: str, bandwidth: float) -> dict:
    """The line that says what the floors are measured against."""
    nbytes = PROBE_BYTES.get(torch.device(device).type, PROBE_BYTES["cuda"])
    count = torch.get_num_threads()
    threads = f", {count} thread{'s' if count > 1 else ''}" if torch.device(device).type == "cpu" else ""
    return {
        "part": "bandwidth",
        "device": device,
        "weight-read GB/s": round(bandwidth / 1e9, 2),
        "how": f"float32 matrix-vector product over a {nbytes // 2**20} MB matrix, best of 7{threads}",
    }
