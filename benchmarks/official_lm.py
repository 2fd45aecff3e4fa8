"""The official LM algorithm run with our modules: the baseline of the same-run speed-up in `bench_lm.py`.

The stored official figures (tests/fixtures/heartmula/timing.json) come from another machine on another day; a
speed-up only means something when both sides run on the same machine in the same run (the medium figure first
recorded was 2.4x too high because that machine was busy). So the benchmark also times what the official code
computes, written with our own modules and weights, interleaved with our generation:

- every backbone step attends over the whole `max_seq_len`-slot KV cache (8192 for the medium config) with a
  causal mask (slots <= the query's position), and the depth decoder over its 8 slots, reset every frame;
- a frame's backbone input is the 9-column row (8 codes and the masked-out text column) embedded column by
  column and summed;
- every codebook call samples over the whole vocabulary: guidance, top-k, log_softmax, softmax and a fresh
  (1, vocab) Exp(1) draw (`sampling.sample_topk`), one variant and one frame at a time, eagerly.

What stays ours: the fused q/k/v and gate/up projections (the official code runs them as separate matmuls,
which reads the same bytes) and RMSNorm/RoPE as written in `llama.py`. The tokens equal ours for the same seed
(checked in tests/core/test_bench_lm.py), so both sides do the same job.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from heartmula_core.lm.generation import prefill
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula
from heartmula_core.lm.llama import Attention
from heartmula_core.lm.prompting import Prompt
from heartmula_core.lm.sampling import cfg_guidance, exponential_noise, sample_topk


class FullCacheAttention(nn.Module):
    """`Attention`'s projections over a KV cache of `length` slots, every step reading all of them (masked)."""

    def __init__(self, attention: Attention, length: int):
        super().__init__()
        self.inner, self.length = attention, length
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def setup(self, rows: int, dtype: torch.dtype, device: torch.device) -> None:
        shape = (rows, self.inner.num_kv_heads, self.length, self.inner.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    def reset(self) -> None:
        self.k.zero_()
        self.v.zero_()

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, input_pos: int) -> Tensor:
        q, k, v = self.inner.project(x, cos, sin)
        end = input_pos + x.shape[1]
        self.k[:, :, input_pos:end] = k
        self.v[:, :, input_pos:end] = v
        slots = torch.arange(self.length, device=x.device)
        mask = slots[None, :] <= torch.arange(input_pos, end, device=x.device)[:, None]  # (T, length)
        return self.inner.merge_heads(F.scaled_dot_product_attention(q, self.k, self.v, attn_mask=mask, enable_gqa=True))


def official_path_model(model: HeartMuLa) -> HeartMuLa:
    """A HeartMuLa sharing `model`'s weight tensors (no copy) whose attention layers read their whole cache:
    the backbone's `max_seq_len` slots, the decoder's one frame (8 slots). Float weights only."""
    twin = build_heartmula(model.config)  # meta, then the same tensors assigned
    twin.load_state_dict(model.state_dict(), assign=True)
    for stack, length in ((twin.backbone, model.config.backbone.max_seq_len), (twin.decoder, model.num_codebooks)):
        for block in stack.layers:
            block.attn = FullCacheAttention(block.attn, length)
    return twin.eval()


def _attentions(model: HeartMuLa, stack: str) -> list[FullCacheAttention]:
    return [block.attn for block in getattr(model, stack).layers]


@torch.inference_mode()
def official_generate(
    twin: HeartMuLa, prompt: Prompt, frames: int, generator: torch.Generator, cfg_scale: float = 1.5, topk: int = 50
) -> Tensor:
    """One variant's frames (n, 8), n <= frames, by the official loop on `official_path_model`'s twin.

    Frame 0 comes from the prompt step; afterwards the song ends at the first frame with a code >= the
    end-of-audio id, which is not kept. Temperature 1.0; noise from `generator` (the official code draws from
    torch's default generator after `manual_seed`: the same stream).
    """
    device, vocab = twin.device, twin.config.audio_vocab_size
    rows = 2 if cfg_scale != 1.0 else 1
    for attention in _attentions(twin, "backbone") + _attentions(twin, "decoder"):
        attention.setup(rows, twin.dtype, device)

    def pick(logits: Tensor, book: int) -> Tensor:
        scores = cfg_guidance(logits, cfg_scale) if rows == 2 else logits
        code = sample_topk(scores, topk, 1.0, exponential_noise(1, vocab, [generator], device))
        return code.repeat(rows)

    def frame(last_h: Tensor) -> Tensor:
        for attention in _attentions(twin, "decoder"):
            attention.reset()
        return twin.generate_frame(last_h, pick)  # (rows, 8)

    books, eos = twin.num_codebooks, prompt.gen.audio_eos_id
    codes = frame(prefill(twin, prompt, torch.zeros(1, twin.config.muq_dim, device=device), uncond_rows=rows - 1))
    out = [codes[0]]
    text_column = torch.zeros((rows, 1), dtype=torch.long, device=device)
    mask = torch.ones((rows, 1, books + 1), dtype=torch.bool, device=device)
    mask[..., books] = False
    for index in range(1, frames):
        tokens = torch.cat((codes, text_column), dim=1)[:, None]  # (rows, 1, 9)
        h = twin.embed(tokens, mask, uncond_rows=rows - 1)
        codes = frame(twin.backbone(h, prompt.length + index - 1)[:, -1])
        if bool((codes[0] >= eos).any()):
            break
        out.append(codes[0])
    return torch.stack(out)
