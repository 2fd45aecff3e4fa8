"""Residual vector quantiser, decode side: codes -> summed codebook vectors -> project_out."""

from __future__ import annotations

import torch
from torch import nn


class ResidualVQDecoder(nn.Module):
    """Looks up one row per quantizer, sums them, and projects to the condition width.

    The official checkpoint keeps each codebook in its own `layers.i._codebook.embed` [1, size, cdim]
    buffer; the loader stacks them into `codebooks` so the lookup is a single gather.
    """

    def __init__(self, num_quantizers: int, codebook_size: int, codebook_dim: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.empty(num_quantizers, codebook_size, codebook_dim))
        self.project_out = nn.Linear(codebook_dim, dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [T, num_quantizers] int64 (frame-major) -> [T, dim]."""
        quantizers = torch.arange(self.codebooks.shape[0], device=codes.device)
        vectors = self.codebooks[quantizers[:, None], codes.T]  # (Q, T, codebook_dim)
        return self.project_out(vectors.sum(0))
