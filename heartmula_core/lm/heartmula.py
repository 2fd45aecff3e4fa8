"""The HeartMuLa token LM: a backbone over 9-column token rows and a depth decoder for codebooks 1..7.

Each frame of 8 audio codes (12.5 frames per second) comes from one backbone step: codebook 0 from
`codebook0_head`, then codebooks 1..7 from the small decoder, which runs over [backbone state, c0, c1, ...]
with a fresh cache every frame. A row of the backbone's input has 9 columns: 8 audio codes and 1 text
token; a mask says which columns are present. Classifier-free guidance runs conditional and
unconditional rows side by side: in the rows this module is told are unconditional, every text
embedding (and the style slot) is replaced by the learned `unconditional_text_embedding`.

Parameter names are the official checkpoint's; only the fused projections of `llama.py` are mapped
at load time (`load_heartmula`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import CheckpointMismatch
from ..weights import describe_mismatch, load_state_dict_strict, parse_dtype, read_state_dict
from .config import HeartMuLaConfig
from .llama import Transformer
from .packed import MIN_PACKED_BYTES, PackedLinear, can_pack, pack, swap_packed, worth_packing
from .quantize import check_int8_kernel, int8_matmul, quantize_rows, swap_int8

# pick(logits (R, audio_vocab) float32, codebook index) -> codes (R,) int64, one per row.
CodePicker = Callable[[Tensor, int], Tensor]


class HeartMuLa(nn.Module):
    def __init__(self, config: HeartMuLaConfig):
        super().__init__()
        self.config = config
        dim, dec_dim = config.backbone.embed_dim, config.decoder.embed_dim
        vocab, books = config.audio_vocab_size, config.audio_num_codebooks
        self.backbone = Transformer(config.backbone)
        self.decoder = Transformer(config.decoder)
        self.text_embeddings = nn.Embedding(config.text_vocab_size, dim)
        # One table for all codebooks: codebook k's id t is row t + k * vocab.
        self.audio_embeddings = nn.Embedding(vocab * books, dim)
        self.unconditional_text_embedding = nn.Embedding(1, dim)
        self.projection = nn.Linear(dim, dec_dim, bias=False)
        self.codebook0_head = nn.Linear(dim, vocab, bias=False)
        self.audio_head = nn.Parameter(torch.empty(books - 1, dec_dim, vocab))  # codebooks 1..7
        self.muq_linear = nn.Linear(config.muq_dim, dim)
        # Set by `quantize_int8`: audio_head then holds int8 (books-1, vocab, dec_dim), one row per
        # output id like a Linear weight, and this its scales (books-1, vocab).
        self.register_buffer("audio_head_scale", None)
        # Set by `pack_weights`: the audio heads packed for oneDNN, codebooks 1..7 (audio_head is then empty).
        self.audio_heads_packed: nn.ModuleList | None = None
        self._codebook_offsets: Tensor | None = None  # built on first use (never on meta)

    @property
    def num_codebooks(self) -> int:
        return self.config.audio_num_codebooks

    @property
    def device(self) -> torch.device:
        return self.text_embeddings.weight.device  # a table that is never quantised or packed

    @property
    def dtype(self) -> torch.dtype:
        """The activations' dtype (embeddings are never quantised)."""
        return self.text_embeddings.weight.dtype

    @property
    def is_quantized(self) -> bool:
        return self.audio_head_scale is not None

    def quantize_int8(self) -> HeartMuLa:
        """Replace the large matrices by int8 ones (`quantize.py`), in place, one at a time; returns the model.

        Peak memory is the loaded model plus one matrix. The model then generates as before (same API);
        `is_quantized` says it is int8.
        """
        if self.is_packed:
            raise ValueError("quantize_int8: the weights are packed for oneDNN already; load with packed=False")
        for stack in (self.backbone, self.decoder):
            for block in stack.layers:
                for parent, name in ((block.attn, "qkv_proj"), (block.attn, "output_proj"),
                                     (block.mlp, "w13"), (block.mlp, "w2")):
                    swap_int8(parent, name)
        swap_int8(self, "projection")
        swap_int8(self, "codebook0_head")
        q, scale = quantize_rows(self.audio_head.detach().transpose(1, 2), dim=-1)  # one scale per output id
        self.audio_head = nn.Parameter(q.contiguous(), requires_grad=False)  # (books-1, V, D): rows are outputs
        self.audio_head_scale = scale.squeeze(-1)  # (books-1, V)
        return self

    @property
    def is_packed(self) -> bool:
        return any(isinstance(module, PackedLinear) for module in self.modules())

    def pack_weights(self, rows: int = 2, min_bytes: int = MIN_PACKED_BYTES) -> HeartMuLa:
        """Pack the matrices of at least `min_bytes` for oneDNN's CPU products (`packed.py`), in place, one at
        a time (peak memory: the model plus one matrix); returns the model. `rows` is the batch the products
        are tuned for (2 per variant with guidance); any batch works. Does nothing where packing does not
        apply: off the CPU, int8 weights (their own kernel), or already packed."""
        if self.is_quantized or self.is_packed or not can_pack(self.device, self.dtype):
            return self
        for stack in (self.backbone, self.decoder):
            for block in stack.layers:
                for parent, name in ((block.attn, "qkv_proj"), (block.attn, "output_proj"),
                                     (block.mlp, "w13"), (block.mlp, "w2")):
                    swap_packed(parent, name, rows, min_bytes)
        swap_packed(self, "projection", rows, min_bytes)
        swap_packed(self, "codebook0_head", rows, min_bytes)
        heads = self.audio_head.detach()  # (books-1, dec_dim, vocab): each head's weight is its transpose
        if worth_packing(heads[0].t(), min_bytes):
            self.audio_heads_packed = nn.ModuleList(PackedLinear(pack(head.t(), rows)) for head in heads)
            self.audio_head = nn.Parameter(heads.new_empty(len(heads), 0, 0), requires_grad=False)
        return self

    def setup_caches(self, rows: int, length: int | None = None) -> None:
        """KV caches for `rows` batch rows: the backbone's of `length` slots (default max_seq_len), the
        decoder's of one frame. Safe to call again, with another row count too."""
        self.backbone.setup_caches(rows, self.device, self.dtype, length)
        self.decoder.setup_caches(rows, self.device, self.dtype, self.num_codebooks)

    def clear_caches(self) -> None:
        self.backbone.clear_caches()
        self.decoder.clear_caches()

    # -- embeddings ------------------------------------------------------------------------------------

    def audio_embed(self, codes: Tensor, codebook: int) -> Tensor:
        """Embeddings of one codebook's ids, codes (...) -> (..., D)."""
        return self.audio_embeddings(codes + codebook * self.config.audio_vocab_size)

    def embed(self, tokens: Tensor, mask: Tensor, uncond_rows: int = 0) -> Tensor:
        """Sum of the present columns' embeddings, tokens/mask (R, T, 9) -> (R, T, D).

        The last `uncond_rows` rows are unconditional: their text embeddings are the learned
        unconditional one. Columns are stacked [audio 0..7, text] and summed in that order (the
        official order, so sums are bit-equal).
        """
        books = self.num_codebooks
        audio = self.audio_embeddings(tokens[..., :books] + self._offsets(tokens.device))  # (R, T, 8, D)
        text = self.text_embeddings(tokens[..., books:])  # (R, T, 1, D)
        if uncond_rows:
            text[-uncond_rows:] = self.unconditional_text_embedding.weight
        return (torch.cat((audio, text), dim=2) * mask.unsqueeze(-1)).sum(dim=2)

    def embed_frame(self, codes: Tensor) -> Tensor:
        """Backbone input for one frame of codes, (R, 8) -> (R, 1, D).

        The same numbers as `embed` with the text column masked out (adding its zero changes no bit),
        in fewer operations: this runs once per frame.
        """
        return self.audio_embeddings(codes + self._offsets(codes.device))[:, None].sum(dim=2)  # (R, 1, 8, D) -> (R, 1, D)

    def _offsets(self, device: torch.device) -> Tensor:
        """Row offset of each codebook in `audio_embeddings`: [0, V, 2V, ...]."""
        if self._codebook_offsets is None or self._codebook_offsets.device != device:
            books, vocab = self.num_codebooks, self.config.audio_vocab_size
            self._codebook_offsets = torch.arange(books, device=device) * vocab
        return self._codebook_offsets

    def embed_prompt(self, tokens: Tensor, mask: Tensor, muq_idx: int, style: Tensor, uncond_rows: int) -> Tensor:
        """Backbone input for the prompt, tokens/mask (R, L, 9), style (R - uncond_rows, muq_dim) -> (R, L, D).

        The style slot (row `muq_idx`) holds muq_linear(style) in the conditional rows; in the others it
        already holds the unconditional embedding, as every text column of those rows does (`embed`).
        """
        h = self.embed(tokens, mask, uncond_rows)
        cond_rows = h.shape[0] - uncond_rows
        h[:cond_rows, muq_idx] = self.muq_linear(style.to(h.dtype))
        return h

    # -- one frame -------------------------------------------------------------------------------------

    def generate_frame(self, last_h: Tensor, pick: CodePicker) -> Tensor:
        """The 8 codes of one frame from the backbone's last hidden state.

        Args:
            last_h: (R, D) final-normed backbone state at the frame's position.
            pick: turns each codebook's logits (R, audio_vocab) into codes (R,): guidance and sampling
                live there, so every row of a guided pair receives the same code.
        Returns:
            codes (R, 8) int64, codebook-major within the frame.
        """
        code = pick(self.codebook0_head(last_h).float(), 0)  # (R,)
        codes = [code]
        x = torch.stack((last_h, self.audio_embed(code, 0)), dim=1)  # (R, 2, D): positions 0 and 1
        pos = 0
        for book in range(1, self.num_codebooks):
            h = self.decoder(self.projection(x), pos)[:, -1]  # (R, dec_dim)
            code = pick(self.audio_logits(h, book).float(), book)  # (R, vocab) -> (R,)
            codes.append(code)
            pos += x.shape[1]
            x = self.audio_embed(code, book)[:, None]  # (R, 1, D); the last code is never fed back
        return torch.stack(codes, dim=1)

    def audio_logits(self, h: Tensor, book: int) -> Tensor:
        """Codebook `book`'s logits (1..7) from decoder states, (R, dec_dim) -> (R, vocab)."""
        if self.audio_heads_packed is not None:
            return self.audio_heads_packed[book - 1](h)
        if self.audio_head_scale is None:
            return torch.mm(h, self.audio_head[book - 1])  # (dec_dim, vocab)
        return int8_matmul(h, self.audio_head[book - 1], self.audio_head_scale[book - 1])

    def checkpoint_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of an official checkpoint for this config: key -> shape."""
        shapes = {}
        for name, param in self.named_parameters():
            if not name.startswith(("backbone.", "decoder.")):
                shapes[name] = tuple(param.shape)
        shapes.update(self.backbone.checkpoint_shapes("backbone."))
        shapes.update(self.decoder.checkpoint_shapes("decoder."))
        return shapes


def build_heartmula(config: HeartMuLaConfig, device: torch.device | str = "meta") -> HeartMuLa:
    """An uninitialised HeartMuLa (on `meta` by default: no memory until weights are assigned)."""
    with torch.device(device):
        return HeartMuLa(config)


def load_heartmula(
    folder: str | Path,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    int8: bool = False,
    packed: bool = True,
) -> HeartMuLa:
    """Load an official `HeartMuLa-oss-*` folder (config.json + single or sharded safetensors).

    Built on `meta`, checked key for key and shape for shape against the checkpoint (CheckpointMismatch
    names what is missing, unexpected or mis-shaped), then the tensors are assigned: the model never
    sits in memory twice. Unknown flavors raise CheckpointMismatch, missing files ModelNotAvailable.
    With `int8`, the large matrices are quantised one by one (`HeartMuLa.quantize_int8`) on the CPU, before the
    model moves to `device`: the device never holds the full-precision matrices. With `packed` (the default),
    a model on the CPU gets its large matrices packed for oneDNN (`HeartMuLa.pack_weights`): the same tokens
    on the official goldens, and a frame's matrix products several times faster.
    """
    folder = Path(folder)
    dtype = parse_dtype(dtype)
    model = build_heartmula(HeartMuLaConfig.from_folder(folder))
    state = read_state_dict(folder)
    problem = describe_mismatch(model.checkpoint_shapes(), {k: tuple(v.shape) for k, v in state.items()})
    if problem:
        raise CheckpointMismatch(f"{folder} does not match its config.json: {problem}")
    model.backbone.fuse_checkpoint(state, "backbone.")
    model.decoder.fuse_checkpoint(state, "decoder.")
    load_state_dict_strict(model, state, dtype=dtype, device="cpu" if int8 else device, source=str(folder))
    del state
    if int8:
        model.quantize_int8()
        model.to(device)
        check_int8_kernel(model.device)
    elif packed:
        model.pack_weights()
    return model
