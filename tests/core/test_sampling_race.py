"""The CPU race from uniforms: the same numbers as torch's `exponential_`, the same picks as `sample_topk`."""

import pytest
import torch

from heartmula_core.generation import FramePicker
from heartmula_core.sampling import exponential_noise, race_noise, sample_topk, sample_topk_race, uniform_draws

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


@pytest.mark.parametrize("topk", [1, 2, 50, VOCAB])
def test_race_picks_what_the_full_draw_picks(topk):
    gen = torch.Generator().manual_seed(topk)
    logits = torch.randn(64, VOCAB, generator=gen) * 3
    logits[:8, :20] = 4.0  # ties with the k-th logit reach past the k-th place in these rows
    uniform = torch.rand(64, VOCAB, dtype=torch.float64, generator=gen)
    for temperature in (1.0, 0.7):
        full = sample_topk(logits, topk, temperature, race_noise(uniform))
        assert torch.equal(sample_topk_race(logits, topk, temperature, uniform), full)


def test_race_keeps_the_nan_of_a_zero_draw():
    """A uniform of exactly 0 gives q = 0 and a NaN ratio outside the top-k, which argmax picks, as officially."""
    logits = torch.randn(1, 100, generator=torch.Generator().manual_seed(0))
    uniform = torch.rand(1, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    outside = int(logits[0].argmin())
    uniform[0, outside] = 0.0
    assert sample_topk_race(logits, 5, 1.0, uniform).item() == sample_topk(logits, 5, 1.0, race_noise(uniform)).item()


def test_frame_picker_draws_each_frame_up_front_on_the_cpu():
    def picks(race: bool) -> list[int]:
        gens = [torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)]
        picker = FramePicker(VOCAB, cfg_scale=1.5, topk=50, temperature=1.0, generators=gens, device=CPU)
        picker.race_uniforms = race
        logits = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(9))
        out = []
        for frame in range(3):
            picker.start_frame(first=frame == 0, books=8)
            out += [picker(logits + book, book).tolist() for book in range(8)]
        return out

    assert picks(race=True) == picks(race=False)
