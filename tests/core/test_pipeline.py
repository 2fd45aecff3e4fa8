"""MusicPipeline end to end on the tiny checkpoints: length and format, batched variants, seeds, progress,
cancellation, lazy load / unload, and re-decoding saved tokens. Songs are a few seconds long to stay fast."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from heartmula_core.errors import Cancelled, InvalidRequest
from heartmula_core.hub import Catalogue, MusicModels
from heartmula_core.memory import should_offload
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import FRAME_RATE, MusicRequest, variant_seed
from heartmula_core.progress import Phase
from heartmula_core.result import AudioChunk

SAMPLE_RATE = 48_000
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FRAME_RATE)
FAST_STEPS = 2  # codec Euler steps where the test is not about the audio itself
SONG = dict(tags="pop,piano,happy", lyrics="[verse]\nthe sun is up\nwe walk along\n[chorus]\nla la la")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models are far too small for intra-op threads, which only fight other processes for the CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_models(heartmula_ref: Path) -> MusicModels:
    tiny = heartmula_ref / "tiny"
    catalogue = Catalogue(
        offline=True,
        cache_dir=heartmula_ref / "no-cache-here",
        folders={"lm": tiny / "HeartMuLa-tiny", "gen": tiny / "HeartMuLaGen-tiny", "codec": tiny / "HeartCodec-tiny"},
    )
    return catalogue.music_models()


@pytest.fixture(scope="module")
def sharp_models(heartmula_ref: Path) -> MusicModels:
    tiny = heartmula_ref / "tiny"
    return MusicModels(tiny / "HeartMuLa-sharp", tiny / "HeartMuLaGen-tiny", tiny / "HeartCodec-sharp")


@pytest.fixture(scope="module")
def pipeline(tiny_models) -> MusicPipeline:
    return MusicPipeline(tiny_models, decode_steps=FAST_STEPS)


def test_six_second_song_end_to_end(tiny_models):
    events = []
    result = MusicPipeline(tiny_models).generate(MusicRequest(**SONG, seconds=6, seed=1), progress=events.append)
    (audio,), (tokens,) = result.audio, result.tokens
    assert result.sample_rate == SAMPLE_RATE
    assert audio.dtype == np.float32 and audio.shape[0] == 2 and np.isfinite(audio).all()
    assert abs(audio.shape[1] - 6 * SAMPLE_RATE) <= SAMPLES_PER_FRAME
    assert tokens.dtype == np.int64 and tokens.shape == (75, 8) and 0 <= tokens.min() and tokens.max() < 8192
    assert result.seeds == [1] and result.request.seed == 1
    assert {"loading", "prompt", "tokens", "decoding", "total"} <= result.timings.keys()
    # progress: every phase shows up in order, the overall fraction never goes back, and ends at 100%
    phases = [e.phase for e in events]
    assert phases[0] is Phase.LOADING and phases[-1] is Phase.DONE
    assert [p for i, p in enumerate(phases) if i == 0 or p is not phases[i - 1]] == [
        Phase.LOADING, Phase.PROMPT, Phase.TOKENS, Phase.LOADING, Phase.DECODING, Phase.DONE]
    overall = [e.overall for e in events]
    assert overall == sorted(overall) and overall[-1] == 1.0
    frames = [e for e in events if e.phase is Phase.TOKENS]
    assert [e.done for e in frames] == list(range(1, 76)) and frames[-1].eta == 0.0
    # No ETA over the first frame's warm-up; from the third frame on (2% of 75 measured after the first), one.
    assert [e.eta for e in frames[:2]] == [None, None]
    assert all(e.eta is not None and e.eta >= 0 for e in frames[2:])


def test_batched_variants_equal_one_at_a_time(sharp_models):
    pipe = MusicPipeline(sharp_models, decode_steps=FAST_STEPS)
    song = dict(SONG, seconds=2)
    batched = pipe.generate(MusicRequest(**song, variants=2, seed=5))
    assert batched.seeds == [5, variant_seed(5, 1)]
    assert not np.array_equal(batched.tokens[0], batched.tokens[1])
    for i, seed in enumerate(batched.seeds):
        alone = pipe.generate(MusicRequest(**song, variants=1, seed=seed))
        np.testing.assert_array_equal(alone.tokens[0], batched.tokens[i])
        # the codec decodes the variants as one batch: the same audio within the parity tolerance (bit for
        # bit on the CPUs we run on, but a kernel may sum a larger batch in another order)
        np.testing.assert_allclose(batched.audio[i], alone.audio[0], rtol=0, atol=1e-6)
        assert batched.audio[i].shape == alone.audio[0].shape
    # a saved take decodes to the same audio, whole or streamed
    again = pipe.decode(batched.tokens[1], batched.seeds[1])
    np.testing.assert_array_equal(again, batched.audio[1])
    streamed = list(pipe.decode_stream(batched.tokens[1], batched.seeds[1]))
    np.testing.assert_array_equal(np.concatenate(streamed, axis=1), batched.audio[1])


def test_on_audio_chunks_concatenate_to_each_variant(pipeline):
    chunks: list[AudioChunk] = []
    # seed 1: the tiny LM makes 450 frames (two codec windows) for variant 0 and ends variant 1 at 341 (one)
    result = pipeline.generate(MusicRequest(**SONG, seconds=36, variants=2, seed=1), on_audio=chunks.append)
    assert [len(t) for t in result.tokens] == [450, 341]
    for i, audio in enumerate(result.audio):
        mine = [c for c in chunks if c.variant == i]
        assert [c.final for c in mine] == [False, True] if i == 0 else [True]
        assert all(c.samples.dtype == np.float32 and c.samples.shape[0] == 2 for c in mine)
        np.testing.assert_array_equal(np.concatenate([c.samples for c in mine], axis=1), audio)


def test_first_window_streams_while_tokens_are_made(tiny_models, pipeline):
    """Window 0 is decoded between LM frames as soon as frame 373 exists; the song equals the one decoded
    after the LM (same tokens, same audio within fp32 noise)."""
    frames_at_chunk, frames = [], [0]

    def progress(event):
        if event.phase is Phase.TOKENS:
            frames[0] = event.done

    request = MusicRequest(**SONG, seconds=36, seed=1)  # 450 frames: window 0 streams, window 1 at the end
    result = pipeline.generate(request, progress=progress, on_audio=lambda c: frames_at_chunk.append(frames[0]))
    assert len(result.tokens[0]) == 450 and frames_at_chunk == [373, 450]
    assert result.timings["decoding"] > 0 and result.timings["tokens"] > 0
    after = MusicPipeline(tiny_models, decode_steps=FAST_STEPS, decode_during_tokens=False).generate(request)
    np.testing.assert_array_equal(after.tokens[0], result.tokens[0])
    np.testing.assert_allclose(after.audio[0], result.audio[0], rtol=0, atol=1e-6)


def test_cancel_from_on_audio_stops_the_stream(pipeline):
    cancel, chunks = threading.Event(), []

    def on_audio(chunk: AudioChunk) -> None:
        chunks.append(chunk)
        cancel.set()

    with pytest.raises(Cancelled):
        pipeline.generate(MusicRequest(**SONG, seconds=36, seed=1), cancel=cancel, on_audio=on_audio)
    assert len(chunks) == 1 and not chunks[0].final
    # cancelled on a variant's last chunk: still no result
    cancel.clear()
    with pytest.raises(Cancelled):
        pipeline.generate(MusicRequest(**SONG, seconds=1, seed=6), cancel=cancel, on_audio=on_audio)
    assert chunks[-1].final


def cancel_when(phase: Phase, after: int):
    """A (progress callback, cancel event, events) triple that sets the event at the `after`-th event of `phase`."""
    cancel, events = threading.Event(), []

    def progress(event):
        if cancel.is_set():
            events.append(("after-cancel", event))
            return
        events.append(event)
        if event.phase is phase and event.done >= after:
            cancel.set()

    return progress, cancel, events


def test_cancel_mid_tokens(pipeline):
    progress, cancel, events = cancel_when(Phase.TOKENS, after=3)
    with pytest.raises(Cancelled):
        pipeline.generate(MusicRequest(**SONG, seconds=6, seed=2), progress=progress, cancel=cancel)
    # stopped at the very next frame: no further frame was computed, no decoding started
    assert not [e for e in events if isinstance(e, tuple)]
    assert max(e.done for e in events if e.phase is Phase.TOKENS) == 3
    assert Phase.DECODING not in {e.phase for e in events}
    # the pipeline is still usable afterwards
    assert pipeline.generate(MusicRequest(**SONG, seconds=1, seed=2)).tokens[0].shape == (13, 8)


def test_cancel_mid_decoding(pipeline):
    progress, cancel, events = cancel_when(Phase.DECODING, after=1)
    with pytest.raises(Cancelled):
        pipeline.generate(MusicRequest(**SONG, seconds=2, variants=2, seed=3), progress=progress, cancel=cancel)
    decoded = [e for e in events if e.phase is Phase.DECODING]
    assert len(decoded) == 1 and decoded[0].done < decoded[0].total
    assert not [e for e in events if isinstance(e, tuple)]


def test_lazy_load_and_unload_free_the_models(tiny_models):
    pipe = MusicPipeline(tiny_models, decode_steps=FAST_STEPS)
    assert pipe.lm is None and pipe.codec is None
    pipe.generate(MusicRequest(**SONG, seconds=1, seed=4))
    lm, codec = weakref.ref(pipe.lm), weakref.ref(pipe.codec)
    assert lm() is not None and codec() is not None
    pipe.unload()
    gc.collect()
    assert lm() is None and codec() is None
    assert pipe.lm is None and pipe.codec is None
    pipe.load()
    assert pipe.lm is not None and pipe.codec is not None


def test_too_long_for_the_context(pipeline):
    # the tiny LM's context is 2048 positions: 200 s (2500 frames) cannot fit
    with pytest.raises(InvalidRequest, match=r"at most \d+ s"):
        pipeline.generate(MusicRequest(**SONG, seconds=200))


def test_random_seed_is_recorded(pipeline):
    result = pipeline.generate(MusicRequest(**SONG, seconds=1))
    assert result.request.seed == result.seeds[0]
    again = pipeline.generate(MusicRequest(**SONG, seconds=1, seed=result.seeds[0]))
    np.testing.assert_array_equal(again.tokens[0], result.tokens[0])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tags=" "), "tags are empty"),
        (dict(lyrics=""), "lyrics are empty"),
        (dict(seconds=0), "seconds must be positive"),
        (dict(seconds=float("nan")), "finite"),
        (dict(variants=9), "variants must be 1 to 8"),
        (dict(variants=0), "variants must be 1 to 8"),
        (dict(seed=-1), "seed must be"),
        (dict(seed=1.5), "whole number"),
        (dict(cfg=0.5), "cfg must be"),
        (dict(topk=0), "topk must be"),
        (dict(temperature=0), "temperature must be"),
        (dict(style=[0.0] * 10), "style must be a vector of 512"),
        (dict(style=[float("inf")] * 512), "non-finite"),
        (dict(format="aiff"), "format must be one of"),
    ],
)
def test_bad_requests(change, message):
    with pytest.raises(InvalidRequest, match=message):
        MusicRequest(**{**SONG, **change})


def test_request_normalises_values():
    request = MusicRequest(**SONG, seconds=3, style=np.ones(512, dtype=np.float64), format=".FLAC", topk=np.int64(7))
    assert request.frames == 38 and MusicRequest(**SONG, seconds=1).frames == 13 and request.format == "flac" and request.topk == 7
    assert request.style.dtype == np.float32 and request.style.shape == (512,)
    assert variant_seed(11, 0) == 11 and len({variant_seed(11, i) for i in range(8)}) == 8


def test_offload_decision():
    gb = 1024**3
    assert should_offload(free_bytes=10 * gb, needed_bytes=9 * gb)
    assert not should_offload(free_bytes=40 * gb, needed_bytes=9 * gb)
