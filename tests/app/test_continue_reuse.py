"""A continued song reuses its parent take's decode (issue 18) through the Studio, the real tiny pipeline and a real
History: every take keeps its codec latents, an extension's kept part is heard before any new frame is made, its
audio is the parent's, and the whole equals what decoding the child's tokens again with the parent's seed gives."""

from __future__ import annotations

import numpy as np
import pytest

from app.studio.jobs import Finished, Listening, MusicSettings, Progress, Sheet, TakeAudio
from app.studio.service import Studio
from heartmula_core.audio import read_audio
from heartmula_core.codec.windows import settled_samples

from .conftest import tiny_settings

SHEET = Sheet(description="a tiny tune", title="Tiny", lyrics="[verse]\nla la la\n[chorus]\nla", tags="pop",
              seconds=31.0)
FRAMES = 388  # 31 s: codec window 0 (frames 0..371) lies wholly inside


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    return Studio(tiny_settings(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def parent(studio: Studio):
    events = list(studio.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=3), None))
    assert isinstance(events[-1], Finished)
    return events[-1].song


def test_a_take_keeps_its_codec_latents(parent) -> None:
    take = parent.takes[0]
    assert len(np.load(take.tokens)) == FRAMES
    tails = np.load(take.codec_tails)
    assert tails.shape == (2, 168, 256) and tails.dtype == np.float32  # one row per codec window


def test_an_extension_starts_with_the_parents_audio_at_once(studio: Studio, parent) -> None:
    events = list(studio.continue_song(parent.id, 1, "extend", seconds=2.0, session="reuse"))
    assert isinstance(events[-1], Finished)
    child = events[-1].song
    first_frame = next(i for i, e in enumerate(events) if isinstance(e, Progress) and e.phase == "tokens" and e.done)
    first_audio = next(i for i, e in enumerate(events) if isinstance(e, TakeAudio))
    listening = next(i for i, e in enumerate(events) if isinstance(e, Listening))
    assert listening < first_audio < first_frame  # the live player starts before any new frame is made

    kept = settled_samples(FRAMES)
    parent_audio, _ = read_audio(parent.takes[0].audio)
    assert parent.takes[0].gain == 1.0  # (else the kept part is turned back up first)
    np.testing.assert_array_equal(events[first_audio].samples, parent_audio[:, :kept])
    child_audio, _ = read_audio(child.takes[0].audio)
    np.testing.assert_array_equal(child_audio[:, :kept], parent_audio[:, :kept])  # the kept part, as kept
    tails = np.load(child.takes[0].codec_tails)
    np.testing.assert_array_equal(tails[:1], np.load(parent.takes[0].codec_tails)[:1])  # handed on to its children

    # What decoding the child's tokens again, whole, with the parent's seed gives (within the 24-bit files' steps).
    redecoded = studio.redecode(child.id, 1)
    again, _ = read_audio(redecoded.audio)
    assert again.shape == child_audio.shape
    np.testing.assert_allclose(again, child_audio, rtol=0, atol=3e-7)


def test_a_take_without_latents_or_audio_is_still_continued(studio: Studio, parent) -> None:
    """An older take (no latents) replays the kept windows' flow; one whose audio is gone decodes them again."""
    take = parent.takes[0]
    latents = take.codec_tails.read_bytes()
    take.codec_tails.unlink()
    try:
        events = list(studio.continue_song(parent.id, 1, "redo", seconds=32.0, from_seconds=30.0))
        assert isinstance(events[-1], Finished)
        redone = events[-1].song
        kept = settled_samples(round(30.0 * 12.5))
        parent_audio, _ = read_audio(take.audio)
        redone_audio, _ = read_audio(redone.takes[0].audio)
        np.testing.assert_array_equal(redone_audio[:, :kept], parent_audio[:, :kept])
    finally:
        take.codec_tails.write_bytes(latents)
