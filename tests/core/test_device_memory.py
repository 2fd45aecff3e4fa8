"""How much GPU memory the pipeline counts as free, and how much the codec needs: numbers in, decisions out.

The allocator's numbers are handed in as a `DeviceMemory` (what `Accelerator.memory` reads from torch.cuda on a
GPU), so these run anywhere; the placement test (test_placement.py) runs the same decisions inside a song.
"""

from __future__ import annotations

import torch

from heartmula_core.accelerator import Accelerator, DeviceMemory
from heartmula_core.codec import load_heartcodec
from heartmula_core.codec.checkpoint import loaded_bytes
from heartmula_core.memory import fits_now, module_bytes, should_offload, weights_bytes

GB = 1024**3
CUDA = torch.device("cuda")


class Numbers(Accelerator):
    """An accelerator whose memory is what the test says (its generators are torch's)."""

    def __init__(self, memory: DeviceMemory):
        self.numbers = memory

    def memory(self, device: torch.device) -> DeviceMemory:
        return self.numbers


def test_unused_allocator_blocks_count_as_free():
    # After a song the KV caches (here 6 GB) go back to PyTorch's cache, not to the driver.
    after_song = DeviceMemory(free=1 * GB, reserved=14 * GB, allocated=8 * GB)
    assert after_song.available == 7 * GB
    assert DeviceMemory(free=3 * GB, reserved=2 * GB, allocated=2 * GB).available == 3 * GB
    assert fits_now(CUDA, 4 * GB, Numbers(after_song))  # 4 GB + the 2 GB activation margin fit in 7
    assert not fits_now(CUDA, 6 * GB, Numbers(after_song))
    assert should_offload(free_bytes=after_song.free, needed_bytes=4 * GB)  # what counting the driver alone said


def test_cpu_never_asks_for_memory():
    class Refuses(Accelerator):
        def memory(self, device):
            raise AssertionError("asked for memory on the CPU")

    assert fits_now(torch.device("cpu"), 100 * GB, Refuses())


def test_codec_need_counts_the_loaded_tensors_at_their_dtype(heartmula_ref):
    folder = heartmula_ref / "tiny" / "HeartCodec-tiny"
    for dtype in (torch.float32, torch.bfloat16):
        held = module_bytes(load_heartcodec(folder, dtype))
        need = loaded_bytes(folder, dtype)
        assert abs(need - held) <= 0.01 * held, (dtype, need, held)
    # The file-size estimate counted the encoder and training state the loader skips: about twice as much.
    assert weights_bytes(folder, torch.float32) > 1.8 * loaded_bytes(folder, torch.float32)
    assert loaded_bytes(folder, torch.bfloat16) < loaded_bytes(folder, torch.float32)
