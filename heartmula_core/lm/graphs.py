"""Later frames replayed from a CUDA graph: one launch per frame instead of about two thousand.

On a GPU the eager frame step is bound by the host, not the device: a frame of the 3B model is about 2,000
small kernels (28 backbone blocks, 7 depth-decoder steps of 3 blocks, 8 samplings), and launching them one by
one from Python took 70 ms a frame on an H200 whose weight-read floor is under 3 ms (benchmarks/RESULTS.md).
A CUDA graph records the launches once and replays them with none of that cost.

A graph replays fixed kernels on fixed addresses, so what changes between frames must live in tensors the
graph reads: the previous frame's codes and the position (copied into this object's input buffers before each
replay), and the sampling noise (`FrameNoise` refills its buffers in place, outside the graph, from the
variants' generators, so the draws are those of the eager loop). The backbone runs `Transformer.step`, whose
shapes do not depend on the position. The graph is recorded at the song's first later frame, after two eager
warm-up runs of that same frame (they write the same keys and values the replay writes again), and belongs to
that song: its caches, rows and picker.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .heartmula import HeartMuLa

# step(model, codes (R, 8), pos (1,) int64, pick) -> the next frame's codes (R, 8): `generation.decode_frame_at`.
StaticFrameStep = Callable[[HeartMuLa, Tensor, Tensor, Callable], Tensor]

WARMUP_RUNS = 2
"""Eager runs before recording: the first creates the cuBLAS handles and workspaces, which a capture cannot."""


class GraphedFrame:
    """Callable like `generation.decode_frame`: (model, codes (R, 8), input_pos, pick) -> codes (R, 8).

    The returned codes are the graph's output buffer: read or copy them before the next call.
    """

    def __init__(self, step: StaticFrameStep):
        self.step = step
        self.graph: torch.cuda.CUDAGraph | None = None
        self.codes: Tensor | None = None  # the graph's inputs
        self.pos: Tensor | None = None
        self.out: Tensor | None = None  # the graph's output

    def __call__(self, model: HeartMuLa, codes: Tensor, input_pos: int, pick: Callable) -> Tensor:
        if self.graph is None:
            self._record(model, codes, input_pos, pick)
        else:
            self.codes.copy_(codes)
            self.pos.fill_(input_pos)
        self.graph.replay()
        return self.out

    def _record(self, model: HeartMuLa, codes: Tensor, input_pos: int, pick: Callable) -> None:
        if codes.device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device, not {codes.device}")
        self.codes = codes.clone()
        self.pos = torch.full((1,), input_pos, dtype=torch.long, device=codes.device)
        side = torch.cuda.Stream(codes.device)
        side.wait_stream(torch.cuda.current_stream(codes.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self.step(model, self.codes, self.pos, pick)
        torch.cuda.current_stream(codes.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA work during the recording (a download, the page) is not an error
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.out = self.step(model, self.codes, self.pos, pick)
