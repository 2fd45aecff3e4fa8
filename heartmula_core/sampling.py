"""Sampling and classifier-free guidance as small pure functions; nothing here waits on the device.

The draw is the official one, so that a seeded CPU run reproduces the official tokens: temperature,
top-k that keeps every logit tied with the k-th largest, then argmax(probs / q) with q ~ Exp(1) drawn
fresh for every (row, id). That "exponential race" is an exact multinomial draw without a host sync.

On the CPU a frame's noise is drawn up front from uniforms instead (`FrameNoise`): torch's CPU
`exponential_` is q = float32(-log1p(-u)) with u a float64 `uniform_` draw from the same generator stream
(checked bit for bit in tests/core/test_sampling_race.py). One uniform draw and one vectorised log
per frame replace eight serial scalar-log draws, the largest single cost of a tiny model's frame.
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


class FrameNoise:
    """A frame's race noise for every codebook call, drawn up front into buffers reused every frame.

    `draw()` returns (books, rows, vocab) float32, row i from generators[i] in the official per-call order
    (codebook after codebook, each a (1, vocab) draw), so a variant's numbers never depend on the others.
    On the CPU the draw is one float64 `uniform_` block per generator (the CPU stream fills it in order, so it
    holds exactly the per-codebook (1, vocab) draws) and one vectorised float32(-log1p(-u)) over the frame;
    elsewhere one `exponential_` per codebook and row.

    The buffers live as long as the object: reusing them avoids faulting in ~0.8 MB of fresh pages per frame,
    which cost as much as the draw itself on a small model, and gives compiled steps a fixed input address.
    """

    def __init__(self, books: int, vocab: int, generators: Sequence[torch.Generator | None], device: torch.device):
        self.generators = list(generators)
        self.device = device
        rows = len(self.generators)
        self.noise = torch.empty((books, rows, vocab), dtype=torch.float32, device=device)
        self.on_cpu = device.type == "cpu" and all(g is None or g.device.type == "cpu" for g in self.generators)
        if self.on_cpu:
            self._uniform = torch.empty((rows, books, vocab), dtype=torch.float64)  # row-major: one block each
            self._log = torch.empty_like(self._uniform)

    def draw(self) -> Tensor:
        if self.on_cpu:
            for row, gen in enumerate(self.generators):
                self._uniform[row].uniform_(generator=gen)
            torch.neg(self._uniform, out=self._log)
            torch.log1p(self._log, out=self._log)
            self.noise.copy_(self._log.neg_().transpose(0, 1))
            return self.noise
        for book in range(self.noise.shape[0]):
            self.noise[book] = exponential_noise(len(self.generators), self.noise.shape[2], self.generators, self.device)
        return self.noise


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
