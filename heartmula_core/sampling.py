"""Sampling and classifier-free guidance as small pure functions; nothing here waits on the device.

The draw is the official one, so that a seeded CPU run reproduces the official tokens: temperature,
top-k that keeps every logit tied with the k-th largest, then argmax(probs / q) with q ~ Exp(1) drawn
fresh for every (row, id). That "exponential race" is an exact multinomial draw without a host sync.
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
