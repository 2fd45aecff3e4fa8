"""The CPU sampler's top-k window (`sample_topk_uniform`) makes the whole-vocabulary draw's picks, ties included."""

import pytest
import torch

from heartmula_core.lm.sampling import TIE_SLACK, exponential_from_uniform, sample_topk, sample_topk_uniform


def reference(logits: torch.Tensor, topk: int, temperature: float, uniforms: torch.Tensor) -> torch.Tensor:
    """The official rule over the whole vocabulary, with the Exp(1) noise the uniforms stand for."""
    return sample_topk(logits, topk, temperature, exponential_from_uniform(uniforms))


def draws(rows: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=gen) * 3
    uniforms = torch.rand(rows, vocab, dtype=torch.float64, generator=gen)
    return logits, uniforms


@pytest.mark.parametrize(("topk", "temperature"), [(1, 1.0), (2, 1.0), (50, 1.0), (50, 0.7), (400, 1.3), (8180, 1.0)])
def test_window_equals_the_whole_vocabulary(topk, temperature):
    logits, uniforms = draws(300, 8197, seed=topk)
    logits[:, 8192:] = float("-inf")  # the ids frame 0 bans
    picks = sample_topk_uniform(logits, topk, temperature, uniforms)
    assert torch.equal(picks, reference(logits, topk, temperature, uniforms))
    if topk > 1:
        assert len(set(picks.tolist())) > 50  # a real draw, not a constant


@pytest.mark.parametrize("tied", [2, TIE_SLACK + 1, TIE_SLACK + 2, 40])
def test_ties_with_the_kth_logit_stay_in(tied):
    """`tied` ids share the 3rd-largest logit: the window holds them all up to TIE_SLACK + 1, beyond that the
    whole vocabulary is used; both give the official picks, and every tied id can win."""
    logits, uniforms = draws(3000, 500, seed=tied)
    logits = logits.clamp(max=5.0)
    logits[:, :2] = 9.0
    logits[:, 100 : 100 + tied] = 8.0
    picks = sample_topk_uniform(logits, 3, 1.0, uniforms)
    assert torch.equal(picks, reference(logits, 3, 1.0, uniforms))
    assert set(picks.tolist()) == {0, 1, *range(100, 100 + tied)}


def test_equal_races_go_to_the_lowest_id_as_argmax_does():
    logits = torch.zeros(1, 500)
    logits[0, [7, 3, 11]] = 4.0  # equal probabilities
    uniforms = torch.full((1, 500), 0.5, dtype=torch.float64)  # equal noise
    assert sample_topk_uniform(logits, 3, 1.0, uniforms).tolist() == [3]
    assert reference(logits, 3, 1.0, uniforms).tolist() == [3]


def test_compiled_window_and_fallback_equal_eager():
    """Under torch.compile the fallback is a branch of the graph (torch.cond): both branches run right."""

    def pick(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        return sample_topk_uniform(logits, 3, 1.0, uniforms)

    compiled = torch.compile(pick, fullgraph=True, options={"cpp_wrapper": True})
    logits, uniforms = draws(4, 500, seed=5)
    tied = logits.clone()
    tied[:, :2] = 9.0
    tied[:, 100 : 100 + TIE_SLACK + 4] = 8.0  # more ties than the window holds
    for case in (logits, tied):
        assert torch.equal(compiled(case, uniforms), reference(case, 3, 1.0, uniforms))
