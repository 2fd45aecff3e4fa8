"""HeartCodec decoding behaviour beyond the goldens: seeds, lengths, the length fix, streaming, bad input."""

from __future__ import annotations

import math
import shutil
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file

from heartmula_core.codec import decode, decode_windows, load_heartcodec
from heartmula_core.codec.config import HOP_SAMPLES, WINDOW_SAMPLES
from heartmula_core.codec.windows import pad_codes, target_samples, window_count
from heartmula_core.errors import Cancelled, CheckpointMismatch, InvalidRequest, ModelNotAvailable
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)

FAST = 2  # Euler steps: these tests check the plumbing, the goldens check the numerics with 10


@pytest.fixture(scope="module")
def codec_dir(heartmula_ref):
    return heartmula_ref / "tiny" / "HeartCodec-sharp"


@pytest.fixture(scope="module")
def codec(codec_dir):
    return load_heartcodec(codec_dir)


def random_codes(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 8192, (frames, 8), generator=torch.Generator().manual_seed(seed))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def official_padded_length(frames: int) -> int:
    """The official rule as the reference README states it (including its defect)."""
    length = max(frames, 372)
    if (length - 104) % 320 != 0:
        length = math.ceil((length - 52) / 320) * 320 + 52
    return length


def test_padding_matches_official_except_the_length_defect() -> None:
    for frames in range(1, 3000):
        ours = pad_codes(torch.arange(frames)[:, None])
        assert ours.shape[0] == (window_count(frames) - 1) * 320 + 372 >= frames
        assert torch.equal(ours[:, 0], torch.arange(ours.shape[0]) % frames)  # cyclic repetition
        defect = frames > 372 and (frames - 104) % 320 == 0
        if not defect:
            assert ours.shape[0] == official_padded_length(frames)
        else:  # official decodes only the windows that fit; we add the window that covers the tail
            assert window_count(frames) == len(range(0, frames - 320 + 1, 320)) + 1


def test_rates(codec) -> None:
    assert codec.sample_rate == 48000 and codec.frame_rate == 12.5
    assert target_samples(400) == 1_536_000 and target_samples(1012) == 3_886_079


def test_same_seed_same_audio_other_seed_other_audio(codec) -> None:
    codes = random_codes(40)
    first = decode(codec, codes, generator=seeded(7), steps=FAST)
    again = decode(codec, codes, generator=seeded(7), steps=FAST)
    other = decode(codec, codes, generator=seeded(8), steps=FAST)
    assert first.shape == (2, target_samples(40)) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_global_rng_when_no_generator(codec) -> None:
    codes = random_codes(30)
    torch.manual_seed(5)
    from_global = decode(codec, codes, steps=1)
    assert torch.equal(from_global, decode(codec, codes, generator=seeded(5), steps=1))


def test_another_length_one_window(codec) -> None:
    audio = decode(codec, random_codes(250, seed=3), generator=seeded(1), steps=FAST)
    assert audio.shape == (2, target_samples(250)) == (2, 960_000)
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


def test_length_fix_decodes_every_code(codec) -> None:
    """T=424: official returns one window (1,428,480 samples) and drops 52 codes; we decode them all."""
    codes = random_codes(424, seed=4)
    windows = []
    audio = decode(codec, codes, generator=seeded(2), steps=1, progress=lambda done, total: windows.append(total))
    assert windows == [2, 2]
    assert audio.shape == (2, target_samples(424)) == (2, 1_628_160)
    # The first window is the one official decodes: same codes, same draws, so the same samples up to the
    # crossfade (checked against a one-window decode of the first 372 codes).
    one_window = decode(codec, codes[:372], generator=seeded(2), steps=1)
    assert torch.equal(audio[:, :HOP_SAMPLES], one_window[:, :HOP_SAMPLES])
    tail = audio[:, WINDOW_SAMPLES:]  # made only from the codes official drops
    assert tail.shape[1] == 199_680 and tail.std() > 0.1 * audio[:, :HOP_SAMPLES].std()


def test_stream_concatenates_to_decode(codec) -> None:
    codes = random_codes(400, seed=5)
    events = []
    chunks = []
    windows = decode_windows(codec, [codes], generators=[seeded(3)], steps=1, progress=lambda d, t: events.append(d))
    for window in windows:
        chunk = window.audio
        chunks.append(chunk)
        events.append(f"chunk {chunk.shape[1]}")
    assert events == [1, f"chunk {HOP_SAMPLES}", 2, f"chunk {target_samples(400) - HOP_SAMPLES}"]
    assert torch.equal(torch.cat(chunks, dim=1), decode(codec, codes, generator=seeded(3), steps=1))


def test_batch_equals_each_song_alone(codec) -> None:
    """Three songs of different lengths (2, 1 and 3 windows) in one batch: each gets its own length and the
    audio it gets alone; windows come index by index, in batch order, and the progress counts all of them."""
    codes = [random_codes(400, seed=6), random_codes(250, seed=7), random_codes(700, seed=8)]
    events = []
    windows = list(decode_windows(
        codec, codes, generators=[seeded(20 + i) for i in range(3)], steps=FAST, progress=lambda d, t: events.append((d, t))
    ))
    assert [(w.variant, w.index, w.last) for w in windows] == [
        (0, 0, False), (1, 0, True), (2, 0, False), (0, 1, True), (2, 1, False), (2, 2, True)]
    assert events == [(done, 6) for done in range(1, 7)]
    for song, song_codes in enumerate(codes):
        alone = decode(codec, song_codes, generator=seeded(20 + song), steps=FAST)
        batched = torch.cat([w.audio for w in windows if w.variant == song], dim=1)
        assert batched.shape == alone.shape == (2, target_samples(song_codes.shape[0]))
        torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)
    # a [B, T, 8] tensor is a batch too, and songs with other seeds differ
    pair = list(decode_windows(codec, torch.stack([codes[1], codes[1]]), generators=[seeded(1), seeded(2)], steps=1))
    assert [w.variant for w in pair] == [0, 1]
    assert pair[0].audio.shape == pair[1].audio.shape and not torch.allclose(pair[0].audio, pair[1].audio)


def test_batch_needs_one_generator_per_song(codec) -> None:
    with pytest.raises(InvalidRequest, match="one generator per song"):
        next(decode_windows(codec, [random_codes(10), random_codes(10)], generators=[seeded(1)]))


def test_cancel_before_and_between_windows(codec) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        decode(codec, random_codes(40), cancel=cancel)
    cancel.clear()
    with pytest.raises(Cancelled):
        decode(codec, random_codes(400), steps=1, cancel=cancel, progress=lambda done, total: cancel.set())


@pytest.mark.parametrize(
    "codes",
    [
        torch.full((10, 8), 8192),
        torch.full((10, 8), -1),
        torch.zeros(8, 10, dtype=torch.long),
        torch.zeros(10, dtype=torch.long),
        torch.zeros(0, 8, dtype=torch.long),
        torch.zeros(10, 8),
    ],
    ids=["too_large", "negative", "codebook_major", "1d", "zero_frames", "float"],
)
def test_bad_codes(codec, codes: torch.Tensor) -> None:
    with pytest.raises(InvalidRequest):
        decode(codec, codes)


def test_bad_steps(codec) -> None:
    with pytest.raises(InvalidRequest):
        decode(codec, random_codes(10), steps=0)


def test_bfloat16_estimator(codec_dir, codec) -> None:
    half = load_heartcodec(codec_dir, dtype="bfloat16")
    assert half.estimator.proj_in.ffn_1.weight.dtype == torch.bfloat16
    assert half.decoder.layers[0].weight.dtype == torch.float32
    codes = random_codes(40)
    audio = decode(half, codes, generator=seeded(1), steps=FAST)
    reference = decode(codec, codes, generator=seeded(1), steps=FAST)
    assert audio.dtype == torch.float32 and torch.isfinite(audio).all()
    assert (audio - reference).abs().max() < 0.1 * reference.abs().max()


def test_loader_errors(tmp_path, codec_dir) -> None:
    with pytest.raises(ModelNotAvailable):
        load_heartcodec(tmp_path / "missing")
    broken = tmp_path / "codec"
    broken.mkdir()
    shutil.copy(codec_dir / "config.json", broken / "config.json")
    state = load_file(codec_dir / "model.safetensors")
    state["flow_matching.estimator.surprise"] = torch.zeros(1)
    save_file(state, broken / "model.safetensors")
    with pytest.raises(CheckpointMismatch, match="surprise"):
        load_heartcodec(broken)


def test_sq_decoder_chunks_and_prefix_match_one_pass(codec, heartmula_ref) -> None:
    """Chunked decoding carries each causal layer's context, and a prefix needs only its frames + look-ahead."""
    import numpy as np

    with np.load(heartmula_ref / "golden" / "heartcodec_sharp.npz") as golden:
        latents = torch.from_numpy(golden["c_sq_decode_in"])  # (2, 128, 50)
    with torch.inference_mode():
        whole = codec.decoder(latents)
        for chunk in (1, 7, 16):
            torch.testing.assert_close(codec.decoder(latents, chunk_frames=chunk), whole, rtol=0, atol=1e-7)
        prefix = codec.decoder(latents, frames=21, chunk_frames=4)
    assert prefix.shape == (2, 1, 21 * 1920)
    torch.testing.assert_close(prefix, whole[..., : 21 * 1920], rtol=0, atol=1e-7)
