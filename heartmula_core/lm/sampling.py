"""Sampling and classifier-free guidance as small pure functions; nothing here waits on the device.

The draw is the official one, so that a seeded CPU run reproduces the official tokens: temperature,
top-k that keeps every logit tied with the k-th largest, then argmax(probs / q) with q ~ Exp(1) drawn
fresh for every (row, id). That "exponential race" is an exact multinomial draw without a host sync.

On the CPU a frame's noise is drawn up front as uniforms instead (`FrameNoise`): torch's CPU
`exponential_` is q = float32(-log1p(-u)) with u a float64 `uniform_` draw from the same generator stream
(checked bit for bit in tests/core/test_sampling_race.py). One uniform draw per frame replaces eight serial
scalar-log draws, and `sample_topk_uniform` takes the log only where the race can be won: at the top-k ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import InvalidRequest

TIE_SLACK = 8
"""Ids the CPU sampler's window holds beyond the top-k, so that logits tied with the k-th largest are kept
(the official rule). A window whose last id still ties with the k-th falls back to the whole vocabulary."""


def cfg_guidance(logits: Tensor, scale: float) -> Tensor:
    """Guided logits from stacked [conditional; unconditional] rows, (2B, V) -> (B, V)."""
    cond, uncond = logits.chunk(2, dim=0)
    return uncond + (cond - uncond) * scale


def exponential_from_uniform(uniforms: Tensor) -> Tensor:
    """torch's CPU `exponential_(1)` from the float64 uniforms it draws: float32(-log1p(-u)), same shape."""
    return torch.log1p(-uniforms).neg().float()


def check_generators(generators: Sequence[torch.Generator | None], device: torch.device) -> None:
    """InvalidRequest unless every generator draws on `device` (None is torch's default generator of `device`).
    A CPU generator with a GPU model would cost a small blocking copy per draw, 8 per frame and variant, and
    draws other numbers than a GPU generator with the same seed: refused, not silently slow."""
    for i, gen in enumerate(generators):
        if gen is None:
            continue
        where = gen.device
        if where.type != device.type or (device.index is not None and where.index not in (None, device.index)):
            raise InvalidRequest(
                f"variant {i} has a generator on {where} but the model runs on {device}: make each generator on "
                f"the model's device, torch.Generator(device={str(device)!r}).manual_seed(seed)"
            )


def exponential_noise(rows: int, vocab: int, generators: Sequence[torch.Generator | None], device: torch.device) -> Tensor:
    """q ~ Exp(1), (rows, vocab) float32; row i drawn from generators[i] (None = torch's default generator),
    each on `device` (`check_generators`).

    Each row is its own (1, vocab) draw, the official shape, so a variant's numbers do not depend on the
    other rows of the batch.
    """
    if len(generators) != rows:
        raise ValueError(f"{len(generators)} generators for {rows} rows")
    draws = [torch.empty((1, vocab), dtype=torch.float32, device=device).exponential_(1, generator=gen) for gen in generators]
    return draws[0] if rows == 1 else torch.cat(draws, dim=0)


class FrameNoise:
    """A frame's race noise for every codebook call, drawn up front into buffers reused every frame.

    Row i comes from generators[i] in the official per-call order (codebook after codebook, each a (1, vocab)
    draw), so a variant's numbers never depend on the others. `book(b)` is codebook b's noise, (rows, vocab):
    - on the CPU (`uniform` True) the float64 uniforms behind `exponential_`: one `uniform_` block per
      generator and frame (the CPU stream fills it in order, so it holds exactly the per-codebook draws);
    - elsewhere Exp(1) itself, float32, one `exponential_` per codebook and row.

    The buffers live as long as the object: reusing them avoids faulting in fresh pages every frame, which
    cost as much as the draw itself on a small model, and gives compiled steps a fixed input address.
    """

    def __init__(
        self,
        books: int,
        vocab: int,
        generators: Sequence[torch.Generator | None],
        device: torch.device,
        uniform: bool | None = None,
    ):
        """`uniform` None picks by device: uniforms on the CPU. Generators must draw on `device`
        (`check_generators`: InvalidRequest otherwise)."""
        check_generators(generators, device)
        self.generators = list(generators)
        self.device = device
        rows = len(self.generators)
        on_cpu = device.type == "cpu"
        if uniform and not on_cpu:
            raise ValueError("uniform noise is the CPU generator's: it needs a CPU device and CPU generators")
        self.uniform = on_cpu if uniform is None else uniform
        if self.uniform:
            self._draws = torch.empty((rows, books, vocab), dtype=torch.float64)  # row-major: one block each
        else:
            self._draws = torch.empty((books, rows, vocab), dtype=torch.float32, device=device)

    def draw(self) -> None:
        """Refill every codebook's noise for the next frame."""
        if self.uniform:
            for row, gen in enumerate(self.generators):
                self._draws[row].uniform_(generator=gen)
            return
        # Straight into the buffer, one (1, vocab) draw per codebook and row in the official order: a frame's
        # noise is 8 launches per variant on a GPU, where a fresh tensor, a cat and a copy per codebook tripled
        # the host's launches outside the frame's CUDA graph.
        for book in range(self._draws.shape[0]):
            for row, gen in enumerate(self.generators):
                self._draws[book, row : row + 1].exponential_(1, generator=gen)

    def book(self, book: int) -> Tensor:
        """Codebook `book`'s noise of the current frame, (rows, vocab): uniforms if `uniform`, else Exp(1)."""
        return self._draws[:, book] if self.uniform else self._draws[book]

    def exponential(self) -> Tensor:
        """The current frame's Exp(1) noise, (books, rows, vocab) float32 (for checks: sampling uses `book`)."""
        if self.uniform:
            return exponential_from_uniform(self._draws).transpose(0, 1)
        return self._draws


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


def sample_topk_uniform(logits: Tensor, topk: int, temperature: float, uniforms: Tensor) -> Tensor:
    """`sample_topk` with noise = exponential_from_uniform(uniforms), worked out on the top-k ids only.

    Ids outside the top-k have probability 0 and cannot win the race, so the race needs q only at the
    top-k + TIE_SLACK ids `topk` returns (the log of a whole vocabulary of float64 uniforms, and the softmax
    over it, are most of a small model's sampling time). When the window's last id still ties with the k-th
    largest, more tied ids may lie outside it: then the whole vocabulary is used, so the result is the
    official draw in every case. Ties in the race go to the lowest id, as `argmax` over the vocabulary does.
    Shapes: logits (N, V) float32, uniforms (N, V) float64 -> (N,) int64.
    """
    if temperature != 1.0:
        logits = logits / temperature
    width = topk + TIE_SLACK
    if width >= logits.shape[-1]:
        return sample_topk(logits, topk, 1.0, exponential_from_uniform(uniforms))
    values, ids = torch.topk(logits, width, dim=-1)  # (N, W), largest first
    kth = values[:, topk - 1 : topk]  # (N, 1)

    def race_in_window(values: Tensor, ids: Tensor, uniforms: Tensor) -> Tensor:
        scores = values.masked_fill(values < values[:, topk - 1 : topk], float("-inf"))  # (N, W)
        probs = torch.softmax(torch.log_softmax(scores, dim=-1), dim=-1)
        ratio = probs / exponential_from_uniform(uniforms.gather(-1, ids))
        winners = ratio == ratio.amax(dim=-1, keepdim=True)
        return torch.where(winners, ids, logits.shape[-1]).amin(dim=-1)

    def race_in_vocabulary(values: Tensor, ids: Tensor, uniforms: Tensor) -> Tensor:
        return sample_topk(logits, topk, 1.0, exponential_from_uniform(uniforms))

    whole_window = (values[:, -1:] < kth).all()
    operands = (values, ids, uniforms)
    if torch.compiler.is_compiling():  # the rare fallback as a branch inside the graph, not a graph break
        return torch.cond(whole_window, race_in_window, race_in_vocabulary, operands)
    return race_in_window(*operands) if bool(whole_window) else race_in_vocabulary(*operands)
