"""`HeartCodecEncoder.tokenize` around the model: the frame rule, progress, cancel, batch sizes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from heartmula_core.codec.encoder import load_encoder
from heartmula_core.codec.encoder.chunks import chunk_batches, output_frames
from heartmula_core.codec.encoder.config import CHUNK_SAMPLES, CHUNK_TAIL
from heartmula_core.errors import Cancelled, InvalidRequest
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def encoder(encoder_ref: Path, heartmula_ref: Path):
    return load_encoder(encoder_ref / "HeartCodec-encoder-tiny", heartmula_ref / "tiny" / "HeartCodec-sharp")


def test_frame_rule_keeps_the_official_float_quirk() -> None:
    assert output_frames(55_680) == 29  # 55680 / 24000 * 12.5 = 28.999999999999996 in float64
    assert output_frames(55_680 + 1) == 30
    assert output_frames(CHUNK_SAMPLES) == 373  # asked for; one chunk gives 372
    assert [output_frames(n) for n in (1, 1919, 1920, 3840)] == [1, 1, 2, 3]


def test_chunks_are_zero_padded_with_a_zero_tail() -> None:
    wave = torch.ones(2, CHUNK_SAMPLES + 10)
    batches = list(chunk_batches(wave, 4))
    assert len(batches) == 1 and batches[0].shape == (2, 2, CHUNK_SAMPLES + CHUNK_TAIL)
    first, second = batches[0]
    assert first[:, :CHUNK_SAMPLES].eq(1).all() and first[:, CHUNK_SAMPLES:].eq(0).all()  # tail is zeros, not chunk 2
    assert second[:, :10].eq(1).all() and second[:, 10:].eq(0).all()


def test_progress_per_batch_and_batching_does_not_change_tokens(encoder) -> None:
    t = np.arange(CHUNK_SAMPLES + 24_000) / 24_000
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # mono, 31 s: two chunks
    calls: list[tuple[int, int]] = []
    one = encoder.tokenize(wave, 24_000, callback=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    assert one.shape == (output_frames(wave.shape[0]), 8) and one.dtype == torch.int64
    two = encoder.tokenize(wave, 24_000, batch_size=2)
    assert torch.equal(one, two)


def test_cancel_and_bad_batch_size(encoder) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        encoder.tokenize(np.ones(1000, np.float32), 24_000, cancel=cancel)
    with pytest.raises(InvalidRequest, match="batch size"):
        encoder.tokenize(np.ones(1000, np.float32), 24_000, batch_size=0)
