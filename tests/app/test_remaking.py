"""Rendering a kept take's audio again, and transcribing an upload, as jobs with progress (what History's and
Transcribe's status lines show): the phases in order with counts that reach their total, the same result as
before, refusals before any event, and a Stop that leaves the take as it was. Tiny checkpoints on the CPU."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.settings import load_settings
from app.studio.errors import InvalidInput, JobCancelled
from app.studio.history import NewTake
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet
from app.studio.remaking import Transcribed
from app.studio.service import Studio
from app.ui.common import counted
from heartmula_core.audio import read_audio, write_audio
from heartmula_core.errors import InvalidRequest

from .conftest import tiny_settings

SHEET = Sheet(description="tiny", title="Tiny", lyrics="[verse]\nla la la", tags="pop", seconds=2.0)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    return Studio(tiny_settings(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def song(studio: Studio):
    *_, done = studio.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=5), None)
    assert isinstance(done, Finished)
    return done.song


def test_rendering_again_shows_its_phase_and_windows_and_gives_the_same_audio(studio: Studio, song) -> None:
    before, rate = read_audio(song.takes[0].audio)
    events = list(studio.remake_audio(song.id, 1, "s1"))
    assert isinstance(events[-1], Finished) and events[-1].song.id == song.id
    counted = [e for e in events if isinstance(e, Progress) and e.phase == "redecoding" and e.total]
    assert counted and counted[-1].done == counted[-1].total
    assert counted[-1].describe().startswith("Rendering the take's audio again from its notes: ")
    rendered = events[-1].song.takes[0]
    assert rendered.audio != song.takes[0].audio and not song.takes[0].audio.exists()  # new files, old ones gone
    after, after_rate = read_audio(rendered.audio)
    assert after_rate == rate
    np.testing.assert_allclose(after, before, atol=2e-4)  # the same notes and seed: the same audio (FLAC rounding)


def test_a_take_without_notes_is_refused_before_any_event(studio: Studio) -> None:
    take = NewTake(np.zeros((2, 4800), np.float32), 48000, 1, None)
    kept = studio.history.save(title="No notes", description="", lyrics="", tags="pop", seconds=0.1, takes=[take])
    with pytest.raises(InvalidInput, match="no saved notes"):
        studio.remake_audio(kept.id, 1)


def test_a_stop_while_waiting_for_the_device_leaves_the_take_as_it_was(studio: Studio, song) -> None:
    take = studio.history.get(song.id).takes[0]
    before = take.audio.read_bytes()
    events = studio.remake_audio(song.id, 1, "s2")
    with studio.device_queue.turn(lambda place: None, threading.Event()):  # another job holds the device
        first = next(events)
        assert first.phase == "waiting" and first.place == 1
        studio.stop("s2")
        with pytest.raises(JobCancelled):
            list(events)
    assert studio.history.get(song.id).takes[0] == take and take.audio.read_bytes() == before


def test_transcribing_shows_loading_then_parts_of_the_recording(tmp_path: Path) -> None:
    from tests.core.tiny_transcriptor import build_tiny_transcriptor

    folder = build_tiny_transcriptor(tmp_path / "HeartTranscriptor-oss")
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data", transcriber_dir=folder, device="cpu")
    studio = Studio(settings)
    upload = tmp_path / "voice.wav"
    rng = np.random.default_rng(0)
    write_audio(upload, (rng.standard_normal((1, 16000 * 40)) * 0.2).astype(np.float32), 16000)  # two parts

    events = list(studio.transcribing(upload, "s3"))
    phases = [e.phase for e in events if isinstance(e, Progress)]
    assert phases[0] == "loading" and "transcribing" in phases  # a free device: no wait
    parts = [e for e in events if isinstance(e, Progress) and e.phase == "transcribing" and e.total]
    assert parts[-1].done == parts[-1].total == 2 and parts[-1].describe().endswith("2 / 2 parts")
    assert isinstance(events[-1], Transcribed)
    assert isinstance(studio.transcribe(upload), str)  # the plain call runs the same job to its end


def test_a_bad_upload_is_refused_before_any_event(tmp_path: Path) -> None:
    studio = Studio(tiny_settings(tmp_path / "data"))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    with pytest.raises(InvalidRequest, match="broken.wav"):
        studio.transcribing(broken)


def test_counts_are_said_in_the_right_number() -> None:
    assert Progress("redecoding", 1, 1).describe() == "Rendering the take's audio again from its notes: 1 / 1 step"
    assert Progress("transcribing", 1, 3).describe().endswith("1 / 3 parts")
    assert (counted(1, "take"), counted(2, "take"), counted(0, "song")) == ("1 take", "2 takes", "0 songs")
