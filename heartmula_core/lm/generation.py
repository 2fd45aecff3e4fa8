"""The HeartMuLa generation loop: prefill the prompt, then one frame (8 codes, 80 ms) per backbone step.

Official rules kept exactly: frame 0 comes from the prompt step and is never checked; afterwards a
variant ends at the first frame where any code is >= audio_eos_id, and that frame is not kept.
Guidance is uncond + (cond - uncond) * scale, sampled once and given to both rows of the pair.

One deliberate difference: a code the codec cannot decode never reaches it. Id 8192 (which neither
decodes nor ends the song in the official loop) is masked in every codebook, and every id >= 8192 is
masked in frame 0, which the official loop never checks. No official golden contains such an id.

Variants (one per generator) run as one batch; each draws from its own generator in the official
shape, so a variant batched with others yields exactly the tokens it yields alone.

API notes for callers:
- `generate_tokens` returns `GeneratedTokens` (tokens (B, n, 8) plus each variant's length), not a bare
  tensor, because batched variants end at different frames.
- cfg_scale < 1 is refused (the official pipeline then batches two conditional rows and does not guide).
- The model's KV caches are sized to the song (`cache_length`) and reused by the next call when it fits the
  same size (`model.clear_caches()` frees them), so one model runs one generation at a time: callers serialise.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InvalidRequest, check_cancel
from .config import CODEC_CODEBOOK_SIZE
from .continuation import as_prefix, check_continuation, extend_prompt
from .graphs import GraphedFrame
from .heartmula import HeartMuLa
from .prompting import Prompt
from .sampling import FrameNoise, cfg_guidance, sample_topk, sample_topk_uniform


@dataclass(frozen=True)
class GeneratedTokens:
    """tokens (B, n, 8) int64, frame-major; variant b's song is tokens[b, :lengths[b]] (the rest is 0)."""

    tokens: torch.Tensor
    lengths: list[int]

    def variant(self, index: int) -> torch.Tensor:
        """The frames of one variant, (lengths[index], 8)."""
        return self.tokens[index, : self.lengths[index]]


class FramePicker:
    """Guidance, masking and sampling for every codebook call of a frame (a `CodePicker`).

    Rows are [cond variant 0..B-1, uncond variant 0..B-1] with guidance, [variant 0..B-1] without.
    """

    def __init__(
        self,
        vocab: int,
        *,
        books: int,
        cfg_scale: float,
        topk: int,
        temperature: float,
        generators: Sequence[torch.Generator | None],
        device: torch.device,
    ):
        self.guided = cfg_scale != 1.0
        self.cfg_scale, self.topk, self.temperature = cfg_scale, topk, temperature
        self.vocab = vocab
        ids = torch.arange(vocab, device=device)
        self.banned_first = ids >= CODEC_CODEBOOK_SIZE
        self.banned_later = ids == CODEC_CODEBOOK_SIZE
        self.banned = self.banned_first
        self.noise = FrameNoise(books, vocab, generators, device)  # refilled in place every frame

    def start_frame(self, first: bool) -> None:
        """Called before each frame's first codebook: masks for frame 0 or later ones, the frame's noise."""
        self.banned = self.banned_first if first else self.banned_later
        self.noise.draw()

    def sampler_logits(self, logits: Tensor) -> Tensor:
        """The logits the official sampler sees (guided when cfg is on), (R, V) -> (B, V)."""
        return cfg_guidance(logits, self.cfg_scale) if self.guided else logits

    def __call__(self, logits: Tensor, codebook: int) -> Tensor:
        scores = self.sampler_logits(logits).masked_fill(self.banned, float("-inf"))
        noise = self.noise.book(codebook)
        if self.noise.uniform:
            codes = sample_topk_uniform(scores, self.topk, self.temperature, noise)  # (B,)
        else:
            codes = sample_topk(scores, self.topk, self.temperature, noise)
        return torch.cat((codes, codes)) if self.guided else codes  # (2B,): both rows of each pair


CACHE_SLOTS_STEP = 256
"""Backbone KV caches grow in steps of this many positions, so songs of nearby lengths reuse one cache."""


def cache_length(prompt_length: int, frames: int, context: int) -> int:
    """Backbone KV slots a song needs: the prompt and every frame fed back (the last frame never is), rounded up
    to a multiple of CACHE_SLOTS_STEP and capped at the context.

    Sizing the cache to the song instead of the whole context is most of the LM's activation memory: the 3B
    model keeps 0.11 MB per position and row in bfloat16, so 8 variants (16 rows) at the full 8192 positions
    hold 15 GB where a 120 s song (about 1,800 positions with its prompt) needs under 4 GB.
    """
    needed = prompt_length + frames - 1
    return min(context, -(-needed // CACHE_SLOTS_STEP) * CACHE_SLOTS_STEP)


def check_length(prompt_length: int, frames: int, context: int) -> None:
    """InvalidRequest unless 1 <= frames and the prompt plus the frames fit the backbone's context."""
    if frames <= 0:
        raise InvalidRequest(f"frames must be at least 1 (got {frames})")
    if prompt_length + frames > context:
        raise InvalidRequest(
            f"prompt ({prompt_length} tokens) plus {frames} frames exceeds the model's context of {context}; "
            f"ask for at most {max(context - prompt_length, 0)} frames or shorten the lyrics"
        )


def check_request(model: HeartMuLa, prompt: Prompt, frames: int, cfg_scale: float, topk: int, temperature: float) -> None:
    """InvalidRequest for anything the model cannot do."""
    check_length(prompt.length, frames, model.config.backbone.max_seq_len)
    if prompt.tokens.shape[1] != model.num_codebooks + 1:
        raise InvalidRequest(f"prompt has {prompt.tokens.shape[1]} columns, the model reads {model.num_codebooks + 1}")
    if not cfg_scale >= 1.0:
        raise InvalidRequest(f"cfg scale must be >= 1.0 (got {cfg_scale})")
    if not 1 <= topk <= model.config.audio_vocab_size:
        raise InvalidRequest(f"topk must be between 1 and {model.config.audio_vocab_size} (got {topk})")
    if not temperature > 0:
        raise InvalidRequest(f"temperature must be > 0 (got {temperature})")


def _style_rows(style: Tensor | None, variants: int, muq_dim: int, device: torch.device) -> Tensor:
    if style is None:
        return torch.zeros((variants, muq_dim), device=device)  # the official input: no reference audio
    style = style.to(device=device, dtype=torch.float32)
    if style.dim() == 1:
        style = style.expand(variants, -1)
    if tuple(style.shape) != (variants, muq_dim):
        raise InvalidRequest(f"style must be ({muq_dim},) or ({variants}, {muq_dim}), got {tuple(style.shape)}")
    return style


def prefill(model: HeartMuLa, prompt: Prompt, style_rows: Tensor, uncond_rows: int) -> Tensor:
    """The prompt through the backbone at positions 0..L-1, filling the caches; the last state (R, D).

    Rows: len(style_rows) conditional ones, then `uncond_rows` unconditional ones.
    """
    rows = style_rows.shape[0] + uncond_rows
    tokens = prompt.tokens.to(model.device).expand(rows, -1, -1)  # (R, L, 9)
    mask = prompt.mask.to(model.device).expand(rows, -1, -1)
    h = model.embed_prompt(tokens, mask, prompt.muq_idx, style_rows, uncond_rows)
    return model.backbone(h, 0)[:, -1]


def decode_frame(model: HeartMuLa, codes: Tensor, input_pos: int, pick: FramePicker) -> Tensor:
    """One backbone step on the previous frame's codes (R, 8) at input_pos, then the next frame's codes (R, 8).

    The step's row holds the 8 codes with the text column empty and masked out, as in the official loop.
    """
    last_h = model.backbone(model.embed_frame(codes), input_pos)[:, -1]  # (R, D)
    return model.generate_frame(last_h, pick)


def decode_frame_at(model: HeartMuLa, codes: Tensor, pos: Tensor, pick: FramePicker) -> Tensor:
    """`decode_frame` at the position held in pos ((1,) int64 on the model's device): no shape depends on the
    position and nothing waits on the host (`Transformer.step`), so a CUDA graph can replay it (`graphs.py`)."""
    last_h = model.backbone.step(model.embed_frame(codes), pos)[:, -1]  # (R, D)
    return model.generate_frame(last_h, pick)


class FrameSteps:
    """Frame 0 (`HeartMuLa.generate_frame` on the prompt's last state) and later frames (`decode_frame`), run
    eagerly or through `torch.compile`.

    Compiled, a frame's ~700 small operations (the depth decoder's 7 steps, 8 samplings) become a few fused
    kernels: the eager cost of a small model's frame is dispatch, not arithmetic. The draw stays outside the
    graph (`FramePicker.start_frame`, eager), so the noise is the official stream bit for bit; the compiled
    maths may round differently in the last bit (fused reductions), which tests bound by comparing tokens.
    The backbone position is a dynamic size after the second frame, so one song compiles at most twice; the
    first later song with another cache size (`cache_length`) compiles once more, with that size dynamic too.
    On the CPU the graph is driven from C++ (inductor's `cpp_wrapper`): a frame is about 250 kernel and
    library calls, and calling each from Python is a sizeable share of a small model's frame (the timings are
    in benchmarks/RESULTS.md, "What moved the tiny LM"; they are kept there because in code they go stale).
    With `static` the later frames run `decode_frame_at` (the position on the device, every shape fixed);
    with `cuda_graph` (a CUDA device only) that static step, compiled or not, is recorded once per song as a
    CUDA graph and replayed (`graphs.GraphedFrame`): on a GPU the eager step is bound by the host's launches,
    not by the device. The static step without the graph is the graph's reference: replays must equal it.
    """

    def __init__(
        self, compiled: bool = False, device: torch.device | None = None, cuda_graph: bool = False, static: bool = False
    ):
        self.first: Callable[[HeartMuLa, Tensor, FramePicker], Tensor] = HeartMuLa.generate_frame
        self.next: Callable[[HeartMuLa, Tensor, int, FramePicker], Tensor] = decode_frame
        if cuda_graph and (device is None or device.type != "cuda"):
            raise InvalidRequest(f"CUDA graphs need a CUDA device; this model runs on {device}")
        cpp_wrapper = device is not None and device.type == "cpu"
        if compiled:
            self.first = _compiled(HeartMuLa.generate_frame, cpp_wrapper)
            self.next = _compiled(decode_frame, cpp_wrapper)
        if static or cuda_graph:
            step = _compiled(decode_frame_at, cpp_wrapper) if compiled else decode_frame_at
            self.next = GraphedFrame(step) if cuda_graph else _at_position(step)


def _at_position(step: Callable[[HeartMuLa, Tensor, Tensor, FramePicker], Tensor]) -> Callable:
    """`step` (position as a (1,) tensor) called like `decode_frame` (position as an int)."""

    def at(model: HeartMuLa, codes: Tensor, input_pos: int, pick: FramePicker) -> Tensor:
        return step(model, codes, torch.full((1,), input_pos, dtype=torch.long, device=codes.device), pick)

    return at


@functools.cache
def _compiled(step: Callable, cpp_wrapper: bool) -> Callable:
    # One wrapper per step function (and wrapper kind) for the whole process: dynamo caches its graphs on the
    # function, guarded by the model and the shapes, so later songs with the same model reuse them.
    return torch.compile(step, fullgraph=True, options={"cpp_wrapper": cpp_wrapper})


@torch.inference_mode()
def generate_tokens(
    model: HeartMuLa,
    prompt: Prompt,
    *,
    frames: int,
    cfg_scale: float = 1.5,
    topk: int = 50,
    temperature: float = 1.0,
    generators: list[torch.Generator] | None = None,
    style: Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    compiled: bool = False,
    on_frame: Callable[[Tensor, Tensor], None] | None = None,
    prefix: Tensor | None = None,
    cuda_graph: bool = False,
    static_step: bool = False,
) -> GeneratedTokens:
    """Generate up to `frames` frames of audio codes for a prompt, for one or more variants at once.

    Args:
        model: a loaded HeartMuLa.
        prompt: from `PromptBuilder.build`.
        frames: the most frames to produce (80 ms each); fewer when every variant ends earlier.
        cfg_scale: classifier-free guidance scale (>= 1; 1 turns guidance off and halves the batch).
        topk, temperature: sampling; topk=1 is greedy.
        generators: one per variant (B = len(generators)); None is one variant drawing from torch's
            default generator, like the official code after `torch.manual_seed`.
        style: (512,) or (B, 512) style vector for the conditional rows' style slot; None = zeros (official).
        progress: called as progress(frames_done, frames) after every frame.
        cancel: checked before every frame; when set, raises `Cancelled`.
        compiled: run the frame steps through `torch.compile` (see `FrameSteps`): the first song with a
            model compiles for a while, later ones run faster.
        on_frame: called after every frame as on_frame(tokens, lengths) with the frames made so far (B, n, 8)
            and each variant's length once it has ended (`frames` while it runs), both on the model's device
            (views: read them during the call). Variant b's first min(n, lengths[b]) frames are final: a
            consumer can use them before the song ends (the pipeline decodes codec windows with them).
            With a prefix, these tokens and lengths start with the kept frames.
        prefix: kept frames (P, 8) int64 to continue from (`continuation.py`): prefilled after the prompt in
            one pass, every variant continues them; up to `frames` new frames follow.
        cuda_graph: replay the later frames from a CUDA graph recorded at the song's second frame (a CUDA
            device only; see `FrameSteps`); with `compiled`, the graph replays the compiled step.
        static_step: run the later frames through the step a CUDA graph records (`decode_frame_at`) without
            recording it: the same tokens as the graph, on any device (a check, slower than the default).
    Returns:
        GeneratedTokens: tokens (B, n, 8) int64 with n = the longest variant, and each variant's length; with
        a prefix each variant is the whole song, the P kept frames then its new ones.
    """
    kept = 0
    if prefix is not None:
        prefix = as_prefix(prefix, model.num_codebooks)
        kept = prefix.shape[0]
        check_continuation(prompt.length, kept, frames, model.config.backbone.max_seq_len)
        prompt = extend_prompt(prompt, prefix)
    check_request(model, prompt, frames, cfg_scale, topk, temperature)
    gens: list[torch.Generator | None] = list(generators) if generators else [None]
    variants, books, device = len(gens), model.num_codebooks, model.device
    guided = cfg_scale != 1.0
    uncond_rows = variants if guided else 0
    rows = variants + uncond_rows
    style_rows = _style_rows(style, variants, model.config.muq_dim, device)
    pick = FramePicker(
        model.config.audio_vocab_size,
        books=books,
        cfg_scale=cfg_scale,
        topk=topk,
        temperature=temperature,
        generators=gens,
        device=device,
    )
    steps = FrameSteps(compiled, device, cuda_graph, static_step)  # refuses a CUDA graph off CUDA before any work
    eos = prompt.gen.audio_eos_id
    # A host sync per frame is free on the CPU; on an accelerator it would stall the queue of kernels.
    stop_check_every = 1 if device.type == "cpu" else 8

    check_cancel(cancel, "generation")
    model.setup_caches(rows, cache_length(prompt.length, frames, model.config.backbone.max_seq_len))
    last_h = prefill(model, prompt, style_rows, uncond_rows)

    # The song: the kept frames (if any), then the new ones; `frame` below counts new frames only.
    out = torch.zeros((variants, kept + frames, books), dtype=torch.long, device=device)
    if kept:
        out[:, :kept] = prefix.to(device)
    lengths = torch.full((variants,), kept + frames, dtype=torch.long, device=device)
    alive = torch.ones(variants, dtype=torch.bool, device=device)

    pick.start_frame(first=True)
    codes = steps.first(model, last_h, pick)  # (R, 8)
    out[:, kept] = codes[:variants]
    if progress is not None:
        progress(1, frames)
    if on_frame is not None:
        on_frame(out[:, : kept + 1], lengths)
    for frame in range(1, frames):
        check_cancel(cancel, "generation")
        pick.start_frame(first=False)
        codes = steps.next(model, codes, prompt.length + frame - 1, pick)
        out[:, kept + frame] = codes[:variants]
        ended = alive & (codes[:variants] >= eos).any(dim=-1)
        lengths.masked_fill_(ended, kept + frame)
        alive &= ~ended
        if progress is not None:
            progress(frame + 1, frames)
        if on_frame is not None:
            on_frame(out[:, : kept + frame + 1], lengths)
        if frame % stop_check_every == 0 and not bool(alive.any()):
            break

    lengths_list = [int(n) for n in lengths.tolist()]
    n = max(lengths_list)
    kept = torch.arange(n, device=device)[None, :] < lengths[:, None]  # (B, n)
    return GeneratedTokens(tokens=out[:, :n] * kept[..., None], lengths=lengths_list)
