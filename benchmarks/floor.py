"""How fast an LM frame could be: the machine's weight-read bandwidth and the bytes one frame has to read.

A frame of a small batch (one variant is 2 rows with guidance) is a chain of matrix-vector products: each
weight is used for a couple of multiply-adds per byte, so the time is the bytes read over the rate memory
delivers them, not the arithmetic. `read_bandwidth` measures that rate with a float32 matrix-vector product
over a matrix much larger than the last-level cache (the CPU's L3, a GPU's L2), with the thread count in use.
`frame_weight_bytes` counts what one frame reads from the model itself, at the dtype it is stored in; the
floor is their ratio. A row at 100% of its floor is at the wall: going faster means reading fewer bytes
(bfloat16, int8), not doing fewer operations.

The decoder runs 7 times a frame: when its weights fit in the last-level cache, only the first step reads them
from memory (`frame_memory_bytes`), so the floor counts them once. (Counting all 7 reads, the medium test
model's floor was 15 ms where its prepacked matrix products alone took 9.4: a floor the kernel beat.) A model
small enough to stay in the cache between frames can still beat its floor.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from heartmula_core.lm.config import LlamaConfig
from heartmula_core.lm.heartmula import HeartMuLa
from heartmula_core.lm.quantize import weight_bytes

PROBE_BYTES = {"cpu": 256 * 2**20, "cuda": 2 * 2**30}
"""Matrix sizes for the probe: 8x a 32 MB L3 on the CPU, 30x an H100/H200's L2."""
PROBE_COLUMNS = 4096


def read_bandwidth(device: str | torch.device = "cpu", nbytes: int | None = None, repeats: int = 7) -> float:
    """Bytes per second the fastest matrix-vector kernel torch has here reads a matrix at: the best of `repeats`
    (a floor is what the machine can do; the load of other processes only slows it). Uses torch's thread count.

    On the CPU that is the better of `torch.mv` and oneDNN's linear on weights packed for 2 rows (the guided
    pair): the packed kernel reads about 1.5x faster than `torch.mv` on an AVX-512 EPYC, so a probe with
    `torch.mv` alone gives floors that a real kernel beats."""
    device = torch.device(device)
    nbytes = nbytes or PROBE_BYTES.get(device.type, PROBE_BYTES["cuda"])
    rows = max(1, nbytes // (4 * PROBE_COLUMNS))
    matrix = torch.full((rows, PROBE_COLUMNS), 0.5, device=device)
    vector = torch.full((PROBE_COLUMNS,), 0.5, device=device)
    readers = [lambda: torch.mv(matrix, vector)]
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        pair = torch.full((2, PROBE_COLUMNS), 0.5)
        packed = torch.ops.mkldnn._reorder_linear_weight(matrix, 2)
        readers.append(lambda: torch.ops.mkldnn._linear_pointwise(pair, packed, None, "none", [], ""))
    best = float("inf")
    for read in readers:
        for rep in range(repeats + 1):  # the first pass faults the pages in and warms the library
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            read()
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
    if model.audio_heads_packed is not None:
        heads += weight_bytes(model.audio_heads_packed)
    once = weight_bytes(model.backbone) + weight_bytes(model.codebook0_head) + heads
    per_step = weight_bytes(model.decoder) + weight_bytes(model.projection)
    row = model.audio_embeddings.weight[0]
    return once, per_step, (model.num_codebooks + steps) * row.numel() * row.element_size()


def frame_weight_bytes(model: HeartMuLa) -> int:
    """Bytes of weights one frame reads (`frame_weight_parts`; int8 matrices count with their scales). The rows
    of a guided pair read the same weights, so the count does not depend on the batch."""
    once, per_step, gathered = frame_weight_parts(model)
    return once + (model.num_codebooks - 1) * per_step + gathered


def last_level_cache_bytes(device: str | torch.device = "cpu") -> int:
    """The largest cache of the device: a GPU's L2, a CPU's last level (Linux sysfs of CPU 0; 0 when unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).L2_cache_size)
    sizes = [0]
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip().upper()
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes)


def frame_memory_bytes(model: HeartMuLa, cache_size: int) -> int:
    """Bytes of weights one frame must read from memory: as `frame_weight_bytes`, but a decoder step's weights
    count once when they fit in a cache of `cache_size` bytes (steps 2-7 then find them there)."""
    once, per_step, gathered = frame_weight_parts(model)
    reads = 1 if per_step <= cache_size else model.num_codebooks - 1
    return once + reads * per_step + gathered


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


def floor_columns(weights: int, cache: int, bandwidth: float, ms: float, from_memory: int | None = None) -> dict:
    """The floor columns of a row measured at `ms` per frame: `weights` bytes read in all, `from_memory` of them
    from memory (`frame_memory_bytes`; default all), and `cache` bytes of keys and values."""
    from_memory = weights if from_memory is None else from_memory
    floor_ms = (from_memory + cache) / bandwidth * 1000
    return {
        "weights MB/frame": round(weights / 1e6, 1),
        "from memory MB/frame": round(from_memory / 1e6, 1),
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
        "how": f"float32 matrix-vector product over a {nbytes // 2**20} MB matrix, best of 7{threads}"
        + (" (torch.mv or oneDNN packed)" if torch.device(device).type == "cpu" else ""),
    }
