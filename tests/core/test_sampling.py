"""Sampling: top-k keeps ties, the exponential race is a multinomial draw, guidance, per-variant noise."""

import torch

from heartmula_core.lm.sampling import cfg_guidance, exponential_noise, sample_topk

CPU = torch.device("cpu")


def test_topk_keeps_every_logit_tied_with_the_kth():
    logits = torch.full((4000, 10), -5.0)
    logits[:, 0] = 2.0
    logits[:, 1:4] = 1.0  # three-way tie at the 2nd largest
    noise = torch.empty(4000, 10).exponential_(generator=torch.Generator().manual_seed(0))
    picks = sample_topk(logits, topk=2, temperature=1.0, noise=noise)
    assert set(picks.tolist()) == {0, 1, 2, 3}


def test_exponential_race_matches_softmax_probabilities():
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5, -3.0]]).expand(20000, -1)
    noise = torch.empty(20000, 5).exponential_(generator=torch.Generator().manual_seed(1))
    picks = sample_topk(logits, topk=5, temperature=1.0, noise=noise)
    freq = torch.bincount(picks, minlength=5).float() / 20000
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.015, rtol=0)


def test_topk_one_is_argmax_and_temperature_sharpens():
    logits = torch.randn(64, 100, generator=torch.Generator().manual_seed(2))
    noise = torch.empty(64, 100).exponential_(generator=torch.Generator().manual_seed(3))
    assert torch.equal(sample_topk(logits, 1, 1.0, noise), logits.argmax(-1))
    assert torch.equal(sample_topk(logits, 100, 1e-4, noise), logits.argmax(-1))


def test_cfg_guidance_rows():
    cond, uncond = torch.tensor([[1.0, 3.0]]), torch.tensor([[2.0, 1.0]])
    guided = cfg_guidance(torch.cat([cond, uncond]), 1.5)
    torch.testing.assert_close(guided, uncond + (cond - uncond) * 1.5)


def test_noise_rows_come_from_their_own_generator():
    gens = [torch.Generator().manual_seed(s) for s in (5, 6)]
    batch = exponential_noise(2, 50, gens, CPU)
    alone = exponential_noise(1, 50, [torch.Generator().manual_seed(6)], CPU)
    assert torch.equal(batch[1:], alone)
    torch.manual_seed(5)
    assert torch.equal(exponential_noise(1, 50, [None], CPU), batch[:1])  # None: torch's default generator
