"""What the pipeline asks of the device it runs on beyond tensors: how much memory is free, and seeded generators.

`Accelerator` asks torch (the CUDA driver and PyTorch's caching allocator). A caller may hand the pipeline
another one: the placement test (tests/core/fake_cuda.py) runs the whole pipeline on a stand-in for a GPU with
memory numbers of its choosing, so nothing device-specific is read from `torch.cuda` anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceMemory:
    """A GPU's memory now, in bytes.

    free: what the driver reports free (`torch.cuda.mem_get_info`);
    reserved: what PyTorch's caching allocator holds (`torch.cuda.memory_reserved`);
    allocated: what live tensors use of it (`torch.cuda.memory_allocated`).
    """

    free: int
    reserved: int = 0
    allocated: int = 0

    @property
    def available(self) -> int:
        """What a new allocation can get: the driver's free memory plus the blocks the allocator holds unused
        (after a song the KV caches go back to the allocator, not to the driver, and no `empty_cache` follows)."""
        return self.free + max(0, self.reserved - self.allocated)


class Accelerator:
    """The device calls the pipeline makes, answered by torch. Subclass to stand in for a device."""

    def memory(self, device: torch.device) -> DeviceMemory:
        """The CUDA device's memory now (only asked for CUDA devices)."""
        free, _ = torch.cuda.mem_get_info(device)
        return DeviceMemory(free, torch.cuda.memory_reserved(device), torch.cuda.memory_allocated(device))

    def generator(self, device: torch.device, seed: int) -> torch.Generator:
        """A generator on `device` seeded with `seed` (the LM draws its noise on the model's device)."""
        return torch.Generator(device=device).manual_seed(seed)
