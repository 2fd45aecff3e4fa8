"""The CPU frame noise from uniforms: the same numbers as torch's `exponential_`, so the same picks."""

import torch

from heartmula_core.lm.generation import FramePicker
from heartmula_core.lm.sampling import FrameNoise, exponential_noise, sample_topk

CPU = torch.device("cpu")
VOCAB = 8197


def test_frame_noise_is_torchs_cpu_exponential_bit_for_bit():
    """One frame of uniforms from a generator = the frame's per-codebook exponential_ draws, in order."""
    gens = [torch.Generator().manual_seed(s) for s in (11, 12)]
    noise = FrameNoise(8, VOCAB, gens, CPU)
    assert noise.uniform
    noise.draw()
    again = [torch.Generator().manual_seed(s) for s in (11, 12)]
    expected = torch.stack([exponential_noise(2, VOCAB, again, CPU) for _ in range(8)])
    assert torch.equal(noise.exponential(), expected)
    torch.manual_seed(3)  # None: torch's default generator, as in the official loop
    alone = FrameNoise(2, VOCAB, [None], CPU)
    alone.draw()
    torch.manual_seed(3)
    assert torch.equal(alone.exponential(), torch.stack([exponential_noise(1, VOCAB, [None], CPU) for _ in range(2)]))


def test_frame_picker_draws_each_frame_up_front_in_the_official_order():
    """A frame's picks from the up-front noise equal per-call exponential_ draws, frame after frame."""

    def generators() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)]

    logits = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(9))
    picker = FramePicker(VOCAB, books=8, cfg_scale=1.5, topk=50, temperature=1.0, generators=generators(), device=CPU)
    per_call = generators()
    for frame in range(3):
        picker.start_frame(first=frame == 0)
        for book in range(8):
            scores = picker.sampler_logits(logits + book).masked_fill(picker.banned, float("-inf"))
            expected = sample_topk(scores, 50, 1.0, exponential_noise(2, VOCAB, per_call, CPU))
            assert picker(logits + book, book).tolist() == expected.repeat(2).tolist()


def test_frame_noise_on_other_devices_draws_per_call():
    """The per-call path (used off the CPU) gives the numbers the CPU block draw stands for."""
    block = FrameNoise(8, VOCAB, [torch.Generator().manual_seed(4)], CPU)
    per_call = FrameNoise(8, VOCAB, [torch.Generator().manual_seed(4)], CPU, uniform=False)
    assert not per_call.uniform
    for _ in range(2):
        block.draw()
        per_call.draw()
        assert torch.equal(block.exponential(), per_call.exponential())
        assert torch.equal(per_call.book(3), per_call.exponential()[3])
