"""The generation loop: stop rule, masked ids, batched variants, caching, style, progress, cancel, validation.

Beyond the goldens (which fix one prompt each), these cases use other tags, longer lyrics and cfg 3, and
check internal consistency: cached decoding vs a full forward, a batch vs each variant alone.
"""

import threading

import pytest
import torch

from heartmula_core.lm.config import HeartMuLaConfig
from heartmula_core.errors import Cancelled, InvalidRequest
from heartmula_core.lm.generation import cache_length, generate_tokens
from heartmula_core.lm.heartmula import HeartMuLa, build_heartmula

from .heartmula_support import one_thread, sharp, tiny  # noqa: F401 (fixtures)

EOS, VOCAB = 8193, 8197
OTHER_TAGS = "Ambient,Synth Pad,  Slow Tempo,female vocal"
LONGER_LYRICS = "\n".join(
    ["[verse]"] + [f"line number {i} of a much longer song, with words that repeat and repeat" for i in range(12)]
    + ["[chorus]", "oh oh oh, here we go again", "[outro]", "fade away"]
)


def crafted(heartmula_ref, chain: int = 59, stops: tuple[int, ...] = (), extra=None) -> HeartMuLa:
    """A tiny-config model whose codes are fixed by hand.

    Backbone and decoder blocks are zeroed (identity), so the backbone state is the normalised sum of the
    previous frame's embeddings. Codebook 0 code t embeds on axis t, codes of books 1..7 on axis 63, text on
    axis 62. The head then maps: text -> code 0, code t -> t + 1 (t < chain), code t -> end of audio
    (t in stops). Books 1..7 always get code 5 (the decoder sees a positive input on axis 0).
    """
    config = HeartMuLaConfig.from_folder(heartmula_ref / "tiny" / "HeartMuLa-tiny")
    model = build_heartmula(config, "cpu")
    big = 100.0
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0 if name.endswith(".scale") else 0.0)
        emb = model.audio_embeddings.weight
        for t in range(60):
            emb[t, t] = 1.0
        emb[VOCAB:, 63] = 1.0
        model.text_embeddings.weight[:, 62] = 1.0
        model.unconditional_text_embedding.weight[:, 62] = 1.0
        head = model.codebook0_head.weight
        head[0, 62] = big
        for t in range(chain):
            head[t + 1, t] = big
        for t in stops:
            head[EOS, t] = big
        model.projection.weight[0, :] = 1.0
        model.audio_head[:, 0, 5] = big
        if extra is not None:
            extra(model)
    return model.eval()


def prompt_for(case, tags="pop", lyrics="la la"):
    return case.builder.build(tags, lyrics)


@pytest.mark.parametrize("k", [1, 5, 12])
@pytest.mark.parametrize("cfg", [1.0, 1.5])
def test_crafted_end_of_audio_at_frame_k_returns_k_frames(heartmula_ref, tiny, k, cfg):
    model = crafted(heartmula_ref, chain=k - 1, stops=(k - 1,))
    out = generate_tokens(model, prompt_for(tiny), frames=40, cfg_scale=cfg, topk=1)
    assert out.lengths == [k]
    assert out.tokens.shape == (1, k, 8)
    assert out.tokens[0, :, 0].tolist() == list(range(k))
    assert (out.tokens[0, :, 1:] == 5).all()


def test_frame_budget_ends_without_eos(heartmula_ref, tiny):
    model = crafted(heartmula_ref)
    out = generate_tokens(model, prompt_for(tiny), frames=7, topk=1)
    assert out.lengths == [7]
    assert out.tokens[0, :, 0].tolist() == list(range(7))


def test_masked_ids_are_never_emitted(heartmula_ref, tiny):
    """8192 beats everything in every codebook, and ids >= 8192 beat the chain in frame 0: none comes out;
    in frame 1 the next best, 8195 (end of audio), ends the song."""

    def prefer_specials(model):
        head = model.codebook0_head.weight
        head[8192, 62], head[8194, 62] = 300.0, 200.0  # frame 0 (text state): both masked
        head[8192, 63], head[8195, 63] = 300.0, 200.0  # later frames: 8192 masked, 8195 ends
        model.audio_head[:, 0, 8192] = 300.0

    model = crafted(heartmula_ref, extra=prefer_specials)
    out = generate_tokens(model, prompt_for(tiny), frames=10, topk=1)
    assert out.lengths == [1]
    assert out.tokens[0, 0].tolist() == [0, 5, 5, 5, 5, 5, 5, 5]


def test_batched_variants_end_on_their_own(heartmula_ref, tiny):
    """A coin flip between 'next code' and 'end' at codes 2, 4 and 6: variants end at different frames."""
    model = crafted(heartmula_ref, stops=(2, 4, 6))
    prompt = prompt_for(tiny)
    seeds = [0, 1, 2, 3, 4, 5]
    batched = generate_tokens(
        model, prompt, frames=12, topk=50, generators=[torch.Generator().manual_seed(s) for s in seeds]
    )
    alone = [generate_tokens(model, prompt, frames=12, topk=50, generators=[torch.Generator().manual_seed(s)]) for s in seeds]
    assert batched.lengths == [a.lengths[0] for a in alone]
    assert len(set(batched.lengths)) > 1
    for i, a in enumerate(alone):
        assert torch.equal(batched.variant(i), a.tokens[0])
        assert (batched.tokens[i, batched.lengths[i] :] == 0).all()


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_batched_variants_equal_each_seed_alone(sharp, cfg):
    prompt = sharp.builder.build(OTHER_TAGS, LONGER_LYRICS)
    seeds = [7, 8]
    batched = generate_tokens(
        sharp.model, prompt, frames=10, cfg_scale=cfg, generators=[torch.Generator().manual_seed(s) for s in seeds]
    )
    for i, s in enumerate(seeds):
        alone = generate_tokens(sharp.model, prompt, frames=10, cfg_scale=cfg, generators=[torch.Generator().manual_seed(s)])
        assert torch.equal(batched.variant(i), alone.tokens[0])
    assert not torch.equal(batched.tokens[0], batched.tokens[1])


def test_same_seed_same_tokens_and_topk1_is_greedy(sharp):
    prompt = sharp.builder.build(OTHER_TAGS, "[verse]\nshort song")
    run = lambda seed, k: generate_tokens(  # noqa: E731
        sharp.model, prompt, frames=6, cfg_scale=3.0, topk=k, generators=[torch.Generator().manual_seed(seed)]
    ).tokens
    assert torch.equal(run(1, 50), run(1, 50))
    assert torch.equal(run(1, 1), run(2, 1))  # greedy: the seed does not matter


@torch.inference_mode()
def test_cached_decoding_equals_full_forward(sharp):
    """Backbone states of a cached run (prefill + one step per frame) equal one uncached forward over the
    whole sequence, and the greedy codebook-0 codes of generate_tokens follow from that forward."""
    model = sharp.model
    prompt = sharp.builder.build(OTHER_TAGS, LONGER_LYRICS)
    frames = 6
    out = generate_tokens(model, prompt, frames=frames, cfg_scale=1.0, topk=1)
    codes = out.tokens[0]  # (6, 8)

    rows = torch.zeros((frames - 1, 9), dtype=torch.long)
    rows[:, :8] = codes[:-1]
    row_mask = torch.zeros((frames - 1, 9), dtype=torch.bool)
    row_mask[:, :8] = True
    style = torch.zeros(1, 512)
    h_prompt = model.embed_prompt(prompt.tokens[None], prompt.mask[None], prompt.muq_idx, style, 0)
    h_rows = model.embed(rows[None], row_mask[None])

    assert torch.equal(model.embed_frame(rows[:, :8]), h_rows[0][:, None])  # the per-frame shortcut: same bits

    model.setup_caches(1)
    cached = [model.backbone(h_prompt, 0)[:, -1]]
    for f in range(frames - 1):
        cached.append(model.backbone(h_rows[:, f : f + 1], prompt.length + f)[:, -1])
    model.clear_caches()
    full = model.backbone(torch.cat((h_prompt, h_rows), dim=1), 0)[0, prompt.length - 1 :]  # (6, D)

    torch.testing.assert_close(torch.cat(cached), full, rtol=1e-4, atol=1e-5)
    logits = model.codebook0_head(full).masked_fill(torch.arange(VOCAB) >= 8192, float("-inf"))
    assert logits.argmax(-1).tolist() == codes[:, 0].tolist()


@torch.inference_mode()
def test_style_changes_only_the_conditional_rows(sharp):
    model, prompt = sharp.model, sharp.prompt
    tokens, mask = prompt.tokens.expand(2, -1, -1), prompt.mask.expand(2, -1, -1)
    style = torch.randn(1, 512, generator=torch.Generator().manual_seed(0))
    h = model.embed_prompt(tokens, mask, prompt.muq_idx, style, uncond_rows=1)
    torch.testing.assert_close(h[0, prompt.muq_idx], model.muq_linear(style[0]))
    torch.testing.assert_close(h[1, prompt.muq_idx], model.unconditional_text_embedding.weight[0])

    plain = generate_tokens(model, prompt, frames=4, topk=1)
    zeros = generate_tokens(model, prompt, frames=4, topk=1, style=torch.zeros(512))
    styled = generate_tokens(model, prompt, frames=4, topk=1, style=style[0] * 3)
    assert torch.equal(plain.tokens, zeros.tokens)
    assert not torch.equal(plain.tokens, styled.tokens)


def test_progress_every_frame_and_cancel(tiny):
    seen = []
    out = generate_tokens(tiny.model, tiny.prompt, frames=5, topk=1, progress=lambda d, t: seen.append((d, t)))
    assert out.lengths == [5]
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    cancel = threading.Event()

    def stop_at_three(done, total):
        if done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        generate_tokens(tiny.model, tiny.prompt, frames=50, topk=1, progress=stop_at_three, cancel=cancel)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 0}, "frames"),
        ({"frames": -3}, "frames"),
        ({"frames": 2048}, "context"),
        ({"frames": 4, "cfg_scale": 0.5}, "cfg"),
        ({"frames": 4, "topk": 0}, "topk"),
        ({"frames": 4, "temperature": 0.0}, "temperature"),
        ({"frames": 4, "style": torch.zeros(3, 512)}, "style"),
    ],
)
def test_bad_requests_raise_invalid_request(tiny, kwargs, message):
    with pytest.raises(InvalidRequest, match=message):
        generate_tokens(tiny.model, tiny.prompt, **kwargs)


def test_longest_request_that_fits_the_context(tiny):
    """prompt + frames == context is allowed (the cache has exactly enough slots); one more is refused."""
    context = tiny.model.config.backbone.max_seq_len
    prompt = tiny.builder.build("pop", " ".join(["la"] * 2030))  # 2041 rows with the tiny tokenizer
    frames = context - prompt.length
    assert 1 <= frames <= 10
    out = generate_tokens(tiny.model, prompt, frames=frames, topk=1)
    assert out.lengths == [frames]
    with pytest.raises(InvalidRequest, match="context"):
        generate_tokens(tiny.model, prompt, frames=frames + 1)


def test_kv_cache_is_sized_to_the_song(tiny):
    """The backbone cache holds the prompt and the fed-back frames, in steps of 256, not the whole context."""
    context = tiny.model.config.backbone.max_seq_len
    assert cache_length(95, 1, context) == 256 and cache_length(95, 162, context) == 256  # 95 + 161 slots
    assert cache_length(95, 163, context) == 512
    assert cache_length(2041, 7, context) == context  # capped: exactly the context, as the test above uses

    slots = lambda: [layer.attn.cache.k.shape[2] for layer in tiny.model.backbone.layers]  # noqa: E731
    short = generate_tokens(tiny.model, tiny.prompt, frames=5, topk=1)
    assert slots() == [cache_length(tiny.prompt.length, 5, context)] * len(tiny.model.backbone.layers)
    assert slots()[0] < context
    # A longer song gets a larger cache and the same first frames (attention reads only the filled slots).
    longer = generate_tokens(tiny.model, tiny.prompt, frames=200, topk=1)
    assert slots()[0] == 512 and longer.lengths[0] > 5
    assert torch.equal(longer.tokens[:, :5], short.tokens)
