"""`python -m app song --continue-audio FILE [--from TIME]`: start from a recording headless, with the tiny
HeartCodec encoder and the tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from app.studio.history import History
from tests.conftest import FIXTURES
from tests.llm_server import LLMServer

from .test_recording_song import tone
from .test_song_cli import run_song

ENCODER = {"HEARTSONG_ENCODER_DIR": str(FIXTURES / "heartcodec_encoder" / "HeartCodec-encoder-tiny")}


def test_continue_audio_extends_then_redoes_a_recording(llm_server: LLMServer, tmp_path: Path) -> None:
    tone(tmp_path / "hum.wav", 1.6, rate=22_050, channels=1)
    (tmp_path / "sung.txt").write_text("[verse]\nhum hum", encoding="utf-8")
    (tmp_path / "more.txt").write_text("[chorus]\nnew words", encoding="utf-8")
    done = run_song(tmp_path, llm_server, "a hummed idea", "--continue-audio", "hum.wav", "--tags", "folk",
                    "--recording-lyrics", "sung.txt", "--lyrics-file", "more.txt", "--seconds", "0.8",
                    "--seed", "3", "--out", "longer.wav", env_extra=ENCODER)
    assert done.returncode == 0, done.stderr
    history = History(tmp_path / "data")
    (recording,) = [s for s in history.search("hum") if s.parent is None]
    (child,) = history.children(recording.id)
    assert recording.settings["origin"] == "recording" and recording.description == "a hummed idea"
    assert recording.recording.read_bytes() == (tmp_path / "hum.wav").read_bytes()
    assert child.lyrics == "[verse]\nhum hum\n\n[chorus]\nnew words" and child.tags == "folk"
    assert f"kept the recording in history as {recording.id}" in done.stderr
    assert f"kept in history as {child.id}" in done.stderr and done.stdout.strip() == "longer.wav"
    assert sf.info(tmp_path / "longer.wav").duration > 2.0
    tokens = np.load(recording.takes[0].tokens)
    assert len(tokens) == 21 and np.array_equal(np.load(child.takes[0].tokens)[:21], tokens)  # int(1.6 x 12.5) + 1

    redo = run_song(tmp_path, llm_server, "--continue-audio", "hum.wav", "--tags", "folk", "--recording-lyrics",
                    "sung.txt", "--from", "0:00.8", "--out", "redo.wav", env_extra=ENCODER)
    assert redo.returncode == 0, redo.stderr
    redone = [s for s in history.search("hum") if s.parent is not None and s.parent.kind == "redo"]
    assert len(redone) == 1 and redone[0].lyrics == "[verse]\nhum hum"
    assert redone[0].seconds == sf.info(tmp_path / "hum.wav").duration  # --seconds defaults to the recording's
    assert not llm_server.chat_requests  # nothing was asked of the LLM


def test_continue_audio_mistakes_are_one_line(llm_server: LLMServer, tmp_path: Path) -> None:
    tone(tmp_path / "hum.wav", 1.0)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "more.txt").write_text("[chorus]\nmore", encoding="utf-8")
    for args, message in [
        (["--continue-audio", "hum.wav"], "Give the recording its tags"),
        (["--continue-audio", "empty.wav", "--tags", "pop"], "empty.wav"),
        (["--continue-audio", "hum.wav", "--tags", "pop", "--from", "0:05"], "inside the recording"),
        (["--continue-audio", "hum.wav", "--continue", "20990101-000000-abcdef"], "not both"),
        (["--recording-lyrics", "more.txt"], "goes with --continue-audio"),
    ]:
        done = run_song(tmp_path, llm_server, *args, "--out", "x.wav", env_extra=ENCODER)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "songs").exists() or not any((tmp_path / "data" / "songs").iterdir())
