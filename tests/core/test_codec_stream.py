"""Decoding codec windows while the codes are still being made (`codec.stream.BatchDecoder`,
`song_decoder.SongDecoder`): the streamed windows equal the one-shot decode of the final codes."""

from __future__ import annotations

import threading

import pytest
import torch

from heartmula_core.codec import decode_windows, load_heartcodec
from heartmula_core.codec.stream import BatchDecoder, frames_to_stream
from heartmula_core.errors import Cancelled, InvalidRequest
from heartmula_core.song_decoder import SongDecoder, codec_generator
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)

FAST = 2  # Euler steps: the goldens check the numerics with 10


@pytest.fixture(scope="module")
def codec(heartmula_ref):
    return load_heartcodec(heartmula_ref / "tiny" / "HeartCodec-sharp")


def random_codes(frames: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 8192, (frames, 8), generator=torch.Generator().manual_seed(seed))


def one_shot(codec, songs: list[torch.Tensor], seeds: list[int]) -> list[torch.Tensor]:
    windows = list(decode_windows(codec, songs, generators=[codec_generator(s) for s in seeds], steps=FAST))
    return [torch.cat([w.audio for w in windows if w.variant == song], dim=1) for song in range(len(songs))]


def test_window_needs_its_codes_and_one_more_frame() -> None:
    assert [frames_to_stream(k) for k in range(3)] == [373, 693, 1013]


def test_windows_fed_frame_by_frame_equal_the_one_shot_decode(codec) -> None:
    """Four songs fed as an LM makes them, the known frames after every frame: one ends exactly where its
    window 1 ends (692), one at 424 (the official decoder's defect length), one below a window (250), one runs
    on (700). Windows are decoded as soon as they are final and not last; the rest at finish."""
    lengths, seeds = [692, 424, 250, 700], [5, 6, 7, 8]
    codes = [random_codes(700, seed=10 + i) for i in range(4)]
    decoder = BatchDecoder(codec, [codec_generator(s) for s in seeds], steps=FAST, guidance=1.25)
    early, windows = [], []
    for made in range(1, 701):
        for window in decoder.feed([c[: min(made, n)] for c, n in zip(codes, lengths)]):
            early.append((made, window.variant, window.index))
            windows.append(window)
    late = list(decoder.finish([c[:n] for c, n in zip(codes, lengths)]))
    # window 0 of every song that reaches 373 frames, together; window 1 of the song that runs past 692
    assert early == [(373, 0, 0), (373, 1, 0), (373, 3, 0), (693, 3, 1)]
    assert [(w.variant, w.index, w.last) for w in late] == [(2, 0, True), (0, 1, True), (1, 1, True), (3, 2, True)]
    assert decoder.windows_done == 8

    expected = one_shot(codec, [c[:n] for c, n in zip(codes, lengths)], seeds)
    for song, audio in enumerate(expected):
        streamed = torch.cat([w.audio for w in windows + late if w.variant == song], dim=1)
        assert streamed.shape == audio.shape
        torch.testing.assert_close(streamed, audio, rtol=0, atol=1e-6)


def test_fed_codes_must_agree(codec) -> None:
    decoder = BatchDecoder(codec, [codec_generator(1)], steps=FAST, guidance=1.25)
    codes = random_codes(300, seed=1)
    assert list(decoder.feed([codes[:200]])) == []  # not a whole window yet
    with pytest.raises(InvalidRequest, match="do not extend"):
        list(decoder.feed([random_codes(250, seed=2)]))
    with pytest.raises(InvalidRequest, match="do not extend"):
        list(decoder.finish([codes[:150]]))  # shorter than what was fed
    with pytest.raises(InvalidRequest, match="2 songs"):
        list(BatchDecoder(codec, [codec_generator(1), codec_generator(2)], steps=FAST, guidance=1.25).feed([codes]))
    with pytest.raises(InvalidRequest, match="no songs"):
        BatchDecoder(codec, [], steps=FAST, guidance=1.25)


def simulated_lm(decoder: SongDecoder, codes: torch.Tensor, ends: list[int]) -> None:
    """Calls `on_frame` as generate_tokens does: the buffer's frames so far, and each variant's length once
    it has ended (the requested frame count before)."""
    frames = codes.shape[1]
    lengths = torch.full((codes.shape[0],), frames)
    for made in range(1, frames + 1):
        for variant, end in enumerate(ends):
            if end == made - 1:  # the LM sees the end-of-audio frame at index `end`
                lengths[variant] = end
        decoder.on_frame(codes[:, :made], lengths)


def test_song_decoder_streams_during_the_lm_and_equals_the_final_decode(codec) -> None:
    """A variant that ends by end-of-audio stops streaming; the chunks per variant concatenate to the decode
    of its final tokens, and the early windows came before the LM's last frame."""
    codes = torch.stack([random_codes(420, seed=30), random_codes(420, seed=31)])  # (2, 420, 8)
    ends, seeds = [420, 380], [3, 4]  # variant 1 ends at frame 380 (its window 0 still streams at 373)
    chunks: list[tuple[int, int, bool]] = []
    songs = SongDecoder(codec, seeds, steps=FAST, guidance=1.25,
                        on_audio=lambda c: chunks.append((c.variant, c.samples.shape[1], c.final)))
    simulated_lm(songs, codes, ends)
    assert [c[0] for c in chunks] == [0, 1] and songs.early_seconds > 0
    audio = songs.finish([codes[0, :420], codes[1, :380]])
    assert [(v, final) for v, _, final in chunks] == [(0, False), (1, False), (0, True), (1, True)]
    expected = one_shot(codec, [codes[0, :420], codes[1, :380]], seeds)
    for got, want in zip(audio, expected):
        torch.testing.assert_close(torch.from_numpy(got), want, rtol=0, atol=1e-6)


def test_cancel_during_an_early_window(codec) -> None:
    cancel = threading.Event()
    songs = SongDecoder(codec, [1], steps=FAST, guidance=1.25, cancel=cancel)
    codes = random_codes(400, seed=40)[None]
    songs.on_frame(codes[:, :372], torch.tensor([400]))  # nothing to decode yet
    cancel.set()
    with pytest.raises(Cancelled):
        songs.on_frame(codes[:, :373], torch.tensor([400]))
    assert songs.windows_done == 0
