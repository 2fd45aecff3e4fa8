"""Resuming a decode after windows whose audio is known (`codec.resume`, `BatchDecoder.resume`): a continuation's
kept windows are not decoded again, and what follows them equals a whole decode of the new codes with the same
seed: the same noise draws, in-context latents and crossfade. Tiny sharp codec, two Euler steps."""

from __future__ import annotations

import pytest
import torch

from heartmula_core.codec import decode_windows, load_heartcodec
from heartmula_core.codec.config import HOP_SAMPLES, OVERLAP_LATENTS, SAMPLES_PER_LATENT, WINDOW_LATENTS
from heartmula_core.codec.decoding import replay_join
from heartmula_core.codec.heartcodec import SQ_CHUNK_FRAMES
from heartmula_core.codec.resume import TAIL_LATENTS, TAIL_WARMUP, join_from_tails, sq_context_frames, tail_of
from heartmula_core.codec.stream import BatchDecoder
from heartmula_core.codec.windows import kept_windows, settled_samples
from heartmula_core.errors import InvalidRequest
from heartmula_core.song_decoder import codec_generator
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)

FAST = 2
SEED = 21


@pytest.fixture(scope="module")
def codec(heartmula_ref):
    return load_heartcodec(heartmula_ref / "tiny" / "HeartCodec-sharp")


def random_codes(frames: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 8192, (frames, 8), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def parent(codec):
    """A 1100-frame song (4 windows), decoded whole: its windows, latents included."""
    codes = random_codes(1100, seed=3)
    windows = list(decode_windows(codec, [codes], generators=[codec_generator(SEED)], steps=FAST))
    return codes, windows


def whole(codec, codes: torch.Tensor) -> torch.Tensor:
    windows = decode_windows(codec, [codes], generators=[codec_generator(SEED)], steps=FAST)
    return torch.cat([w.audio for w in windows], dim=1)


def test_the_tail_reaches_back_far_enough_on_the_chunk_grid(codec) -> None:
    """The SQ decoder's reach (~43 latent frames) fits in the warm-up, and the tail starts on a chunk boundary
    of the whole window, so it runs through the same chunk shapes."""
    assert sq_context_frames(codec.config) == pytest.approx(43.3, abs=0.1)
    assert sq_context_frames(codec.config) <= TAIL_WARMUP
    assert (WINDOW_LATENTS - TAIL_LATENTS) % SQ_CHUNK_FRAMES == 0 and TAIL_LATENTS == OVERLAP_LATENTS + TAIL_WARMUP


def test_a_tail_remakes_the_windows_overlap_samples(codec, parent) -> None:
    """The raw last 199,680 samples of a window, from its last 168 latent frames alone, equal the whole window's."""
    _, windows = parent
    latents = windows[1].latents
    (full,) = codec.window_audio(latents[None], [WINDOW_LATENTS * SAMPLES_PER_LATENT])
    join = join_from_tails(codec, torch.stack([tail_of(windows[0].latents), tail_of(latents)]))
    assert join.index == 2
    torch.testing.assert_close(join.pending, full[:, -join.pending.shape[1]:], rtol=0, atol=1e-7)


@pytest.mark.parametrize("kept_latents", [True, False], ids=["kept-latents", "replayed-flow"])
@pytest.mark.parametrize("cut", [700, 1050])  # two windows wholly inside (0, 1), then three (0, 1, 2)
def test_resumed_decode_equals_a_whole_decode_of_the_new_song(codec, parent, cut: int, kept_latents: bool) -> None:
    """A continuation keeps the parent's first `cut` frames and has new ones after: resumed after the windows
    wholly inside the cut, with the parent's audio for them, it gives the whole decode's audio."""
    codes, windows = parent
    child = torch.cat([codes[:cut], random_codes(1250 - cut, seed=cut)])
    m = kept_windows(cut)
    assert m == (2 if cut == 700 else 3)
    known = torch.cat([w.audio for w in windows], dim=1)[:, : settled_samples(cut)]
    if kept_latents:
        join = join_from_tails(codec, torch.stack([tail_of(w.latents) for w in windows[:m]]))
    else:
        join = replay_join(codec, codes[:cut], codec_generator(SEED), m, steps=FAST)
    decoder = BatchDecoder(codec, [codec_generator(SEED)], steps=FAST, guidance=1.25)
    decoder.resume([join])
    assert decoder.frames_wanted(0) == m * 320 + 373
    made = list(decoder.feed([child[:1100]])) + list(decoder.finish([child]))
    assert [w.index for w in made] == list(range(m, 4))  # the kept windows are not decoded again
    resumed = torch.cat([known] + [w.audio for w in made], dim=1)
    expected = whole(codec, child)
    assert resumed.shape == expected.shape
    torch.testing.assert_close(resumed, expected, rtol=0, atol=1e-7)
    assert torch.equal(resumed[:, : m * HOP_SAMPLES], known)  # the kept windows' samples are the parent's
    # the new codes did change what follows them (so the equality above says something)
    parent_audio = torch.cat([w.audio for w in windows], dim=1)
    after = slice(cut * 3840, parent_audio.shape[1])  # 3840 samples per code frame
    assert (expected[:, after] - parent_audio[:, after]).abs().max() > 1e-5


def test_bad_resumes_are_refused(codec, parent) -> None:
    codes, windows = parent
    tails = torch.stack([tail_of(w.latents) for w in windows[:2]])
    with pytest.raises(InvalidRequest, match="kept codec latents must be"):
        join_from_tails(codec, tails[:, :100])
    with pytest.raises(InvalidRequest, match="do not hold 3 whole codec windows"):
        replay_join(codec, codes[:1000], codec_generator(SEED), 3, steps=FAST)
    decoder = BatchDecoder(codec, [codec_generator(SEED)], steps=FAST, guidance=1.25)
    decoder.resume([join_from_tails(codec, tails)])
    with pytest.raises(InvalidRequest, match="end inside the windows it resumed after"):
        list(decoder.finish([codes[:600]]))


def test_variants_resumed_together_each_equal_their_whole_decode(codec, parent) -> None:
    """A redo's variants share the kept windows and the parent's seed, then go different ways: resumed as one
    batch from one join, each gives what it gives decoded whole (batching changes fp32 sums at most)."""
    codes, windows = parent
    children = [torch.cat([codes[:700], random_codes(300, seed=40 + i)]) for i in range(2)]
    join = join_from_tails(codec, torch.stack([tail_of(w.latents) for w in windows[:2]]))
    known = torch.cat([w.audio for w in windows], dim=1)[:, : settled_samples(700)]
    decoder = BatchDecoder(codec, [codec_generator(SEED), codec_generator(SEED)], steps=FAST, guidance=1.25)
    decoder.resume([join, join])
    made = list(decoder.finish(children))
    assert [(w.variant, w.index) for w in made] == [(0, 2), (1, 2)]
    for variant, child in enumerate(children):
        resumed = torch.cat([known] + [w.audio for w in made if w.variant == variant], dim=1)
        torch.testing.assert_close(resumed, whole(codec, child), rtol=0, atol=1e-6)
