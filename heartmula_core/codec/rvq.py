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


class ResidualVQEncoder(nn.Module):
    """Residual vector quantiser, encode side: vectors -> one code per quantizer (the decoder's codebooks).

    Each stage picks the nearest codebook row by Euclidean distance and subtracts it from the residual. The
    distance is computed as the official quantizer does, sqrt(clamp(|r|^2 + |e|^2 - 2 r.e, 1e-8)) in that
    order, because with small codebooks many distances agree to float32 rounding and any other order
    breaks those near-ties differently.
    """

    def __init__(self, num_quantizers: int, codebook_size: int, codebook_dim: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.empty(num_quantizers, codebook_size, codebook_dim))
        self.project_in = nn.Linear(dim, codebook_dim)

    @property
    def dim(self) -> int:
        return self.project_in.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., dim) -> codes (..., num_quantizers) int64."""
        residual = self.project_in(x)  # (..., codebook_dim)
        codes = []
        for codebook in self.codebooks:  # (size, codebook_dim)
            cross = (residual @ codebook.T) * -2  # (..., size)
            squared = residual.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1)
            distance = (squared + cross).clamp(min=1e-8).sqrt()
            index = (-distance).argmax(dim=-1)  # the first index on exact ties
            codes.append(index)
            residual = residual - codebook[index]
        return torch.stack(codes, dim=-1)
