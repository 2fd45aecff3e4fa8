"""Takes as they are decoded, through the Studio and the real tiny pipeline: pieces that add up to the kept takes,
the first take live from its first piece, and nothing of a stopped song left to hear."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from app.studio.errors import JobCancelled
from app.studio.jobs import Finished, Listening, MusicSettings, Sheet, TakeAudio
from app.studio.service import Studio
from heartmula_core.audio import read_audio

from .conftest import tiny_settings
from .test_live import PCM_LSB

SHEET = Sheet(description="tiny", title="Live", lyrics="[verse]\nla la la\n[chorus]\nla", tags="pop", seconds=2.0)
FLAC_LSB = 2 / 2**23  # the kept takes are 24-bit FLAC


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    """One studio for the module, so the tiny models load once."""
    settings = tiny_settings(tmp_path_factory.mktemp("data"))
    return Studio(settings)


def test_each_take_arrives_in_pieces_that_add_up_to_the_kept_take(studio: Studio) -> None:
    events = list(studio.compose(SHEET, frozenset(), MusicSettings(variants=2, seed=4), None, session="tab"))
    song = events[-1].song
    assert isinstance(events[-1], Finished) and len(song.takes) == 2
    audio = [e for e in events if isinstance(e, TakeAudio)]
    for index, take in enumerate(song.takes):
        pieces = [e for e in audio if e.index == index]
        assert pieces and [e.final for e in pieces] == [False] * (len(pieces) - 1) + [True]
        kept, rate = read_audio(take.audio)
        assert rate == pieces[0].sample_rate == 48000
        np.testing.assert_allclose(np.concatenate([e.samples for e in pieces], axis=1), kept, atol=FLAC_LSB)
    # Take 1 is complete (its player can appear) before take 2 begins, and both before the song is kept.
    positions = {id(e): i for i, e in enumerate(events)}
    last_of_first = max(positions[id(e)] for e in audio if e.index == 0)
    assert last_of_first < min(positions[id(e)] for e in audio if e.index == 1)

    # The first take was live from its first piece; the stream holds exactly the kept take.
    listening = [e for e in events if isinstance(e, Listening)]
    assert len(listening) == 1
    assert events.index(listening[0]) < last_of_first
    live = studio.live.get(listening[0].token)
    assert live is not None and live.ended
    heard, rate = sf.read(io.BytesIO(b"".join(live.wav_stream())), dtype="float32", always_2d=True)
    kept, _ = read_audio(song.takes[0].audio)
    assert rate == 48000
    np.testing.assert_allclose(heard.T, kept, atol=PCM_LSB)


def test_a_stop_while_decoding_leaves_nothing_to_hear_or_keep(studio: Studio) -> None:
    kept_before = len(studio.history)
    events = studio.compose(SHEET, frozenset(), MusicSettings(variants=2, seed=4), None, session="tab")
    token = None
    with pytest.raises(JobCancelled):
        for event in events:
            if isinstance(event, Listening):
                token = event.token
            if isinstance(event, TakeAudio) and event.index == 0 and event.final:
                studio.stop("tab")  # take 2 is still to be decoded
    assert token is not None and studio.live.get(token) is None
    assert len(studio.history) == kept_before
