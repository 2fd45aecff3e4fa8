"""Sampling and classifier-free guidance as small pure functions; nothing here waits on the device.

The draw is the official one, so that a seeded CPU run reproduces the official tokens: temperature,
top-k that keeps every logit tied with the k-th largest, then argmax(probs / q) with q ~ Exp(1) drawn
fresh for every (row, id). That "exponential race" is an exact multinomial draw without a host sync.

On the CPU the race is run from the uniforms instead (`uniform_draws`, `sample_topk_race`): torch's CPU
`exponential_` is q = float32(-log1p(-u)) with u a float64 `uniform_` draw from the same generator stream
(checked bit for bit in tests/core/test_sampling.py), and only the logits that survive top-k need their q.
That saves the serial scalar log of every (row, id), which was most of a tiny model's frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def cfg_guidance(logits: Tensor, scale: float) -> Tensor:
    """Guided logits from stacked [conditional; unconditional] rows, (2B, V) -> (B, V)."""
    cond, uncond = logits.chunk(2, dim=0)
    return uncond + (cond - uncond) * scale


def exponential_noise(rows: int, vocab: int, generators: Sequence[torch.Generator | None], device: torch.device) -> Tensor:
    """q ~ Exp(1), (rows, vocab) float32; row i drawn from generators[i] (None = torch's default generator).

    Each row is its own (1, vocab) draw, the official shape, so a variant's numbers do not depend on the
    other rows of the batch.
    """
    if len(generators) != rows:
        raise ValueError(f"{len(generators)} generators for {rows} rows")
    draws = []
    for gen in generators:
        where = device if gen is None else gen.device
        draw = torch.empty((1, vocab), dtype=torch.float32, device=where).exponential_(1, generator=gen)
        draws.append(draw.to(device, non_blocking=True))
    return draws[0] if rows == 1 else torch.cat(draws, dim=0)


def uniform_draws(books: int, vocab: int, generators: Sequence[torch.Generator | None]) -> Tensor:
    """One frame of race uniforms on the CPU, (books, rows, vocab) float64, row i from generators[i].

    Each generator draws its (books, vocab) block in one call: the CPU stream fills it in order, so it holds
    exactly the `books` consecutive (1, vocab) draws the per-codebook calls would have made.
    """
    draws = [torch.empty((books, vocab), dtype=torch.float64).uniform_(generator=gen) for gen in generators]
    return draws[0][:, None] if len(draws) == 1 else torch.stack(draws, dim=1)


def race_noise(uniform: Tensor) -> Tensor:
    """The Exp(1) noise of torch's CPU `exponential_` from its float64 uniforms: float32(-log1p(-u))."""
    return torch.log1p(-uniform).neg_().float()


def sample_topk_race(logits: Tensor, topk: int, temperature: float, uniform: Tensor) -> Tensor:
    """`sample_topk(logits, topk, temperature, race_noise(uniform))`, bit for bit, with far fewer logs.

    logits (N, V) float32, uniform (N, V) float64 -> (N,) int64. Ids outside the top-k have probability 0,
    so their ratio is 0 whatever q is, except that q = 0 gives NaN (as in the official draw): float32(u) is
    0 exactly when float32(-log1p(-u)) is, so it stands in for q there. When ties with the k-th logit
    reach past the k-th place, every id's q is computed.
    """
    vocab = logits.shape[-1]
    if temperature != 1.0:
        logits = logits / temperature
    if topk >= vocab:
        return sample_topk(logits, topk, 1.0, race_noise(uniform))
    top = torch.topk(logits, topk + 1, dim=-1)  # one extra place: do ties reach past the k-th?
    kth = top.values[:, topk - 1 : topk]  # (N, 1)
    if bool((top.values[:, topk:] == kth).any()):
        return sample_topk(logits, topk, 1.0, race_noise(uniform))
    probs = torch.softmax(torch.log_softmax(logits.masked_fill(logits < kth, float("-inf")), dim=-1), dim=-1)
    kept = top.indices[:, :topk]  # (N, k): exactly the ids with probability > 0
    noise = uniform.float().scatter_(1, kept, race_noise(uniform.gather(1, kept)))
    return torch.argmax(probs / noise, dim=-1)


def sample_topk(logits: Tensor, topk: int, temperature: float, noise: Tensor) -> Tensor:
    """One id per row from the top-k of softmax(logits / temperature), (N, V) float32 -> (N,) int64.

    Ties with the k-th largest logit stay in; `noise` (N, V) is the Exp(1) draw of the race.
    With topk = 1 this is argmax (ties aside).
    """
    if temperature != 1.0:  # x / 1 is x: skip a pass per codebook call
        logits = logits / temperature
    kth = torch.topk(logits, topk, dim=-1).values[:, -1:]  # (N, 1)
    logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(torch.log_softmax(logits, dim=-1), dim=-1)
    return torch.argmax(probs / noise, dim=-1)
