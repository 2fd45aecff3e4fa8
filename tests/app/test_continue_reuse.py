"""A continued song reuses its parent take's decode (issue 18) through the Studio, the real tiny pipeline and a real
History: every take keeps its codec latents, an extension's kept part is heard before any new frame is made, its
audio is the parent's, and the whole equals what decoding the child's tokens again with the parent's seed gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.studio.jobs import Finished, Listening, MusicSettings, Progress, Sheet, TakeAudio
from app.studio.kept_audio import kept_audio, kept_latents
from app.studio.records import Take
from app.studio.service import Studio
from app.studio.song_files import NewTake, write_take
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


def test_a_take_without_latents_replays_their_flow_for_every_variant(studio: Studio, parent) -> None:
    """An older take (no latents) replays the kept windows' flow, for every variant."""
    take = parent.takes[0]
    latents = take.codec_tails.read_bytes()
    take.codec_tails.unlink()
    try:
        events = list(studio.continue_song(parent.id, 1, "redo", seconds=32.0, from_seconds=30.0,
                                           music=MusicSettings(variants=2, seed=4)))
        assert isinstance(events[-1], Finished)
        redone = events[-1].song
        kept = settled_samples(round(30.0 * 12.5))
        parent_audio, _ = read_audio(take.audio)
        takes = [read_audio(t.audio)[0] for t in redone.takes]
        tokens = [np.load(t.tokens) for t in redone.takes]
        assert len(takes) == 2 and not np.array_equal(tokens[0][375:], tokens[1][375:])  # two ways on
        for audio in takes:
            np.testing.assert_array_equal(audio[:, :kept], parent_audio[:, :kept])
    finally:
        take.codec_tails.write_bytes(latents)


def test_a_loud_take_is_turned_back_up_and_a_broken_one_gives_nothing(tmp_path: Path) -> None:
    """What the files can give: a take written turned down (it would have clipped) is turned back up to the
    codec's level; a take whose audio is gone or broken, or whose latents are, gives nothing to reuse."""
    loud = np.full((2, 48_000), 0.5, np.float32)
    loud[0, 10] = 2.0  # over full scale: written at 2.0 -> -0.1 dBFS
    entry = write_take(tmp_path, 1, NewTake(loud, 48_000, 5, np.zeros((12, 8), np.int64),
                                            codec_tails=np.zeros((1, 168, 256), np.float32)))
    assert entry["gain"] < 0.5 and entry["codec_tails"] == "take-1.codec.npy"
    take = Take(1, 5, tmp_path / entry["audio"], tmp_path / entry["tokens"], 48_000,
                codec_tails=tmp_path / entry["codec_tails"], gain=entry["gain"])
    audio = kept_audio(take, 10)  # 0.8 s
    assert audio.shape == (2, 38_400)
    np.testing.assert_allclose(audio[1], 0.5, atol=1e-6)
    assert kept_latents(take).shape == (1, 168, 256)

    (tmp_path / "broken.flac").write_bytes(b"not audio")
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    broken = Take(1, 5, tmp_path / "broken.flac", None, 48_000, codec_tails=tmp_path / "broken.npy")
    assert kept_audio(broken, 10) is None and kept_latents(broken) is None
    gone = Take(1, 5, tmp_path / "gone.flac", None, 48_000, codec_tails=tmp_path / "gone.npy")
    assert kept_audio(gone, 10) is None and kept_latents(gone) is None
