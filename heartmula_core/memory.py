"""Device memory for the pipeline: how much a model needs, when the other model must leave the GPU, and
giving scratch memory back after a song or a failure."""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from pathlib import Path

import torch

from .accelerator import Accelerator, DeviceMemory
from .weights import checkpoint_files

log = logging.getLogger(__name__)

ACTIVATION_MARGIN_BYTES = 2 * 1024**3
"""GPU memory kept free for activations and KV caches beyond a model's weights when deciding to offload."""


def should_offload(free_bytes: int, needed_bytes: int, margin: int = ACTIVATION_MARGIN_BYTES) -> bool:
    """Whether the other model must leave the GPU for one of `needed_bytes` (plus activations) to fit in
    `free_bytes` (`DeviceMemory.available`: the driver's free memory and the allocator's unused blocks)."""
    return free_bytes < needed_bytes + margin


def weights_bytes(folder: Path, dtype: torch.dtype) -> int:
    """Roughly what a checkpoint takes in memory at `dtype` (file size, rescaled from float32 when smaller)."""
    size = sum(p.stat().st_size for p in checkpoint_files(folder))
    return size * torch.empty((), dtype=dtype).element_size() // 4 if dtype != torch.float32 else size


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes held by a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def on_cpu_but_wanted_on(device: torch.device, module: torch.nn.Module) -> bool:
    """True when `module` was moved to the CPU to make room and must go back to `device` before it runs."""
    return device.type != "cpu" and next(module.parameters()).device.type == "cpu"


def kv_cache_bytes(config, rows: int, slots: int, dtype: torch.dtype) -> int:
    """Bytes of the backbone KV caches (a `LlamaConfig`) for `rows` batch rows of `slots` positions each
    (`generation.cache_length`): keys and values for every layer."""
    per_row = 2 * config.num_layers * config.num_kv_heads * slots * config.head_dim
    return rows * per_row * torch.empty((), dtype=dtype).element_size()


def fits_now(device: torch.device, needed: int, accelerator: Accelerator) -> bool:
    """Whether `needed` more bytes (plus activations) fit in the device's available memory now; always on the CPU."""
    if device.type != "cuda":
        return True
    return not should_offload(accelerator.memory(device).available, needed)


def make_room(device: torch.device, needed: int, drop: torch.nn.Module | None, accelerator: Accelerator) -> None:
    """On CUDA, move `drop` (the other model) to the CPU when available memory cannot hold `needed` bytes."""
    if device.type != "cuda" or drop is None or next(drop.parameters()).device.type == "cpu":
        return
    memory: DeviceMemory = accelerator.memory(device)
    if should_offload(memory.available, needed):
        log.info("moving a model to the CPU to make room (%.1f GB available, %.1f GB needed)",
                 memory.available / 1e9, needed / 1e9)
        drop.to("cpu")
        free_memory(device)


def free_memory(device: torch.device) -> None:
    """Collect dropped tensors now and hand cached GPU blocks back to the driver."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@contextmanager
def freed_on_failure(device: torch.device):
    """On any failure (a cancel included) drop the scratch tensors of the failed step before re-raising."""
    try:
        yield
    except BaseException:
        free_memory(device)
        raise
