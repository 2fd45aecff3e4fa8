"""MusicPipeline continuing a kept take (issue 18): the song starts with the kept frames, the kept part's audio
equals the parent's up to the last codec window wholly inside it, variants each continue with their own seed,
and bad continuations are one clear error. Tiny checkpoints; two codec Euler steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartmula_core.codec.windows import settled_samples
from heartmula_core.errors import InvalidRequest
from heartmula_core.hub import MusicModels
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import FRAME_RATE, MusicRequest, cut_at
from heartmula_core.progress import Phase

from .heartmula_support import one_thread  # noqa: F401 (fixture)

FAST_STEPS = 2
SONG = dict(tags="pop,piano,happy", lyrics="[verse]\nthe sun is up\nwe walk along\n[chorus]\nla la la")
pytestmark = pytest.mark.usefixtures("one_thread")

MORE = "\n[verse]\nthe night comes in\n[chorus]\nla la la"


@pytest.fixture(scope="module")
def pipeline(heartmula_ref: Path) -> MusicPipeline:
    tiny = heartmula_ref / "tiny"
    # The tiny LM runs to 450 frames; the sharp codec hears its codes (the tiny one barely does), so new codes
    # audibly change the audio after the cut.
    models = MusicModels(tiny / "HeartMuLa-tiny", tiny / "HeartMuLaGen-tiny", tiny / "HeartCodec-sharp")
    return MusicPipeline(models, decode_steps=FAST_STEPS)


@pytest.fixture(scope="module")
def parent(pipeline):
    """A 36 s take (450 frames, two codec windows)."""
    result = pipeline.generate(MusicRequest(**SONG, seconds=36, seed=1))
    assert len(result.tokens[0]) == 450
    return result


def test_redo_from_a_time_keeps_the_start_and_its_audio(pipeline, parent):
    cut = cut_at(31.0)  # round(31 x 12.5) = 388 frames: codec window 0 (frames 0..371) lies wholly inside
    assert cut == round(31.0 * FRAME_RATE) == 388
    request = MusicRequest(**SONG, seconds=36, seed=5, variants=2, prefix=parent.tokens[0], cut=cut,
                           decode_seed=parent.decode_seeds[0])
    assert request.kept == cut and request.frames == 450 - cut
    child = pipeline.generate(request)
    assert child.decode_seeds == [parent.seeds[0]] * 2 and child.seeds != child.decode_seeds
    kept = settled_samples(cut)
    assert kept == 1_228_800  # window 0 up to where window 1 fades in (25.6 s)
    for tokens, audio in zip(child.tokens, child.audio):
        assert np.array_equal(tokens[:cut], parent.tokens[0][:cut])
        assert not np.array_equal(tokens[cut:cut + 20], parent.tokens[0][cut:cut + 20])  # the rest is made again
        # the kept part sounds as before (batched with another variant: equal within fp32 noise)
        np.testing.assert_allclose(audio[:, :kept], parent.audio[0][:, :kept], rtol=0, atol=1e-7)
        assert np.abs(audio[:, kept + 300_000:] - parent.audio[0][:, kept + 300_000:audio.shape[1]]).max() > 1e-5  # 100x the kept part's bound
    assert not np.array_equal(child.tokens[0][cut:], child.tokens[1][cut:])  # each variant its own seed


def test_extend_keeps_the_whole_take_and_new_lyrics_follow(pipeline, parent):
    request = MusicRequest(tags=SONG["tags"], lyrics=SONG["lyrics"] + MORE, seconds=40, seed=9,
                           prefix=parent.tokens[0], decode_seed=parent.decode_seeds[0])
    assert request.kept == 450 and request.frames == 50
    chunks = []
    child = pipeline.generate(request, on_audio=chunks.append)
    tokens, audio = child.tokens[0], child.audio[0]
    assert np.array_equal(tokens[:450], parent.tokens[0]) and len(tokens) > 450
    kept = settled_samples(450)
    np.testing.assert_allclose(audio[:, :kept], parent.audio[0][:, :kept], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks], axis=1), audio)


def test_kept_audio_is_reused_and_equals_a_whole_decode(pipeline, parent):
    """Handed the parent's audio (and its kept codec latents), the kept window is not decoded again: its samples
    are the parent's, they come before anything else, and the song equals the one decoded whole."""
    base = dict(tags=SONG["tags"], lyrics=SONG["lyrics"] + MORE, seconds=40, seed=9, prefix=parent.tokens[0],
                decode_seed=parent.decode_seeds[0])
    kept = settled_samples(450)  # window 0 (frames 0..371) lies wholly inside the 450 kept frames
    frames_through_sq: list[int] = []
    hook = pipeline.codec.decoder.register_forward_hook(
        lambda _module, _args, audio: frames_through_sq.append(audio.shape[-1] // 1920))  # [b * 2, 1, frames x 1920]
    try:
        whole = pipeline.generate(MusicRequest(**base))
        events: list[tuple] = []
        reused = pipeline.generate(
            MusicRequest(**base, kept_audio=parent.audio[0], kept_latents=parent.codec_tails[0]),
            progress=lambda e: events.append((e.phase, e.done)), on_audio=lambda c: events.append(("audio", c)),
        )
        replayed = pipeline.generate(MusicRequest(**base, kept_audio=parent.audio[0]))
    finally:
        hook.remove()
    # the SQ decoder ran over window 0 and 1 for the whole decode; only over window 0's 168-frame tail after
    assert frames_through_sq == [744, 360, 168, 360, 168, 360]  # window 1 ends the 40 s song: 360 frames
    for child in (reused, replayed):
        assert np.array_equal(child.tokens[0], whole.tokens[0])
        np.testing.assert_allclose(child.audio[0], whole.audio[0], rtol=0, atol=1e-7)
        assert np.array_equal(child.audio[0][:, :kept], parent.audio[0][:, :kept])
        assert child.codec_tails[0].shape == (2, 168, 256)
        np.testing.assert_array_equal(child.codec_tails[0][:1], parent.codec_tails[0][:1])
    # the kept part is heard first: before the models load, before any new frame is made
    assert events[0][0] == "audio" and np.array_equal(events[0][1].samples, parent.audio[0][:, :kept])
    first_frame = next(i for i, e in enumerate(events) if e[0] == Phase.TOKENS and e[1] >= 1)
    assert [i for i, e in enumerate(events) if e[0] == "audio"][0] < first_frame
    chunks = [e[1].samples for e in events if e[0] == "audio"]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), reused.audio[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kept_audio": np.zeros((2, 10), np.float32)}, "kept audio needs the decode seed"),
        ({"kept_audio": np.zeros((1, 10), np.float32), "decode_seed": 1}, r"stereo samples \[2, samples\]"),
        ({"kept_audio": np.full((2, 10), np.nan, np.float32), "decode_seed": 1}, "NaN or infinite"),
        ({"kept_latents": np.zeros((1, 168, 256), np.float32)}, "kept codec latents need the kept audio"),
    ],
)
def test_bad_kept_audio(change, message):
    with pytest.raises(InvalidRequest, match=message):
        MusicRequest(**SONG, seconds=40, prefix=np.zeros((400, 8), np.int64), **change)


def test_kept_audio_shorter_than_its_kept_windows_is_refused(pipeline):
    request = MusicRequest(**SONG, seconds=40, prefix=np.zeros((400, 8), np.int64), decode_seed=1,
                           kept_audio=np.zeros((2, 48_000), np.float32))
    with pytest.raises(InvalidRequest, match="the kept audio is 1 s long; the kept part's whole codec windows need 25.6 s"):
        pipeline.generate(request)
    with pytest.raises(InvalidRequest, match="kept audio needs a prefix"):
        MusicRequest(**SONG, seconds=40, kept_audio=np.zeros((2, 10), np.float32), decode_seed=1)


def test_without_the_parents_seed_the_kept_audio_is_not_the_parents(pipeline, parent):
    """What the decode seed is for: the same kept codes decoded with other noise sound different."""
    child = pipeline.generate(MusicRequest(**SONG, seconds=31, seed=5, prefix=parent.tokens[0], cut=cut_at(30.0)))
    kept = settled_samples(cut_at(30.0))
    assert np.abs(child.audio[0][:, :kept] - parent.audio[0][:, :kept]).max() > 1e-4


def test_too_long_a_continuation_is_one_clear_error(pipeline, parent):
    with pytest.raises(InvalidRequest, match="does not fit the model's context .* kept part included"):
        pipeline.generate(MusicRequest(**SONG, seconds=200, prefix=parent.tokens[0]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prefix": np.full((10, 8), 8193)}, "codes the codec cannot decode"),
        ({"prefix": np.zeros((10, 8)), }, "integer codes"),
        ({"prefix": np.zeros((10, 8), np.int64), "cut": 11}, "the cut must keep 1 to 10 frames"),
        ({"prefix": np.zeros((10, 8), np.int64), "seconds": 0.8}, "already 0.8 s long"),
        ({"cut": 3}, "a cut needs a prefix"),
        ({"decode_seed": -1}, "decode seed must be"),
    ],
)
def test_bad_continuations(change, message):
    with pytest.raises(InvalidRequest, match=message):
        MusicRequest(**{**SONG, "seconds": 5, **change})


def test_the_request_keeps_its_own_copy_of_the_prefix():
    codes = np.ones((10, 8), np.int64)
    request = MusicRequest(**SONG, seconds=5, prefix=codes, cut=4)
    codes[:] = 7
    assert (request.kept_codes == 1).all() and request.kept_codes.shape == (4, 8)
