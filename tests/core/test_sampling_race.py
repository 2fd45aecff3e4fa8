"""The CPU frame noise from uniforms: the same numbers as torch's `exponential_`, so the same picks."""

import torch

from heartmula_core.generation import FramePicker
from heartmula_core.sampling import exponential_noise, race_noise, uniform_draws

CPU = torch.device("cpu")
VOCAB = 8197


def test_race_noise_is_torchs_cpu_exponential_bit_for_bit():
    """One frame of uniforms from a generator = the frame's per-codebook exponential_ draws, in order."""
    gens = [torch.Generator().manual_seed(s) for s in (11, 12)]
    uniforms = uniform_draws(8, VOCAB, gens)  # (books, rows, vocab)
    again = [torch.Generator().manual_seed(s) for s in (11, 12)]
    expected = torch.stack([exponential_noise(2, VOCAB, again, CPU) for _ in range(8)])
    assert torch.equal(race_noise(uniforms), expected)
    torch.manual_seed(3)  # None: torch's default generator, as in the official loop
    alone = uniform_draws(2, VOCAB, [None])
    torch.manual_seed(3)
    assert torch.equal(race_noise(alone), torch.stack([exponential_noise(1, VOCAB, [None], CPU) for _ in range(2)]))


def test_frame_picker_draws_each_frame_up_front_on_the_cpu():
    def picks(race: bool) -> list[int]:
        gens = [torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)]
        picker = FramePicker(VOCAB, cfg_scale=1.5, topk=50, temperature=1.0, generators=gens, device=CPU)
        picker.frame_noise = race
        logits = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(9))
        out = []
        for frame in range(3):
            picker.start_frame(first=frame == 0, books=8)
            out += [picker(logits + book, book).tolist() for book in range(8)]
        return out

    assert picks(race=True) == picks(race=False)
