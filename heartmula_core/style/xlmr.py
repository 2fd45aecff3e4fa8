"""XLM-RoBERTa encoder (BERT-style post-LN transformer), our own small implementation.

Only what MuQ-MuLan's text tower uses: embeddings with padding-aware positions, the post-LN layers and
the last hidden state (the pooler is never called). Parameter names follow the official checkpoint so
the fine-tuned weights inside MuQ-MuLan load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidRequest
from .config import TextModelConfig


class Embeddings(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.pad_id = cfg.pad_token_id
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, D)."""
        longest = self.position_embeddings.num_embeddings - self.pad_id - 1
        if ids.shape[1] > longest:
            # The official model has no truncation; it would index past its position table.
            raise InvalidRequest(f"style text too long: {ids.shape[1]} tokens, at most {longest}")
        # RoBERTa positions: real tokens count up from pad_id + 1, padding sits at pad_id.
        real = (ids != self.pad_id).long()
        positions = torch.cumsum(real, dim=1) * real + self.pad_id
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.num_heads, -1).transpose(1, 2)  # (B, H, L, hd)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, L, hd)
        return out.transpose(1, 2).reshape(b, t, d)


class SelfOutput(nn.Module):
    def __init__(self, dim_in: int, dim: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(dim_in, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.self = SelfAttention(cfg.hidden_size, cfg.num_heads)
        self.output = SelfOutput(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # exact (erf) GELU


class Layer(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Intermediate(cfg)
        self.output = SelfOutput(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, bias)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer(cfg) for _ in range(cfg.num_layers)])


class XLMRobertaEncoder(nn.Module):
    def __init__(self, cfg: TextModelConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, hidden_states: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """ids, mask: (B, L) -> last hidden state (B, L, D). Padded positions still get vectors.

        If `hidden_states` is a list it receives the embeddings output and each layer's output.
        """
        x = self.embeddings(ids)
        # Additive key mask, broadcast over heads and queries: (B, 1, 1, L).
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            if hidden_states is not None:
                hidden_states.append(x)
            x = layer(x, bias)
        if hidden_states is not None:
            hidden_states.append(x)
        return x
