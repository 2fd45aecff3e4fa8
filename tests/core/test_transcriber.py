"""Transcriber on a tiny random Whisper checkpoint, through the same loading code as HeartTranscriptor-oss.

The random model hears nothing real: these tests check shapes and flow (what the model is fed, windows,
batches, progress, cancel, errors, the CLI), never words.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import numpy as np
import pytest

from heartmula_core import audio as au
from heartmula_core.cli import main as cli_main
from heartmula_core.errors import Cancelled, InvalidRequest, ModelNotAvailable
from heartmula_core.hub import Catalogue, Source
from heartmula_core.transcribe import Transcriber, TranscriptResult, lyrics_match
from tests.tools import missing_tool

from .test_hub import hf_cache_repo
from .tiny_transcriptor import build_tiny_transcriptor

RATE = au.WHISPER_SAMPLE_RATE


@pytest.fixture(scope="session")
def tiny_transcriptor(tmp_path_factory):
    return build_tiny_transcriptor(tmp_path_factory.mktemp("transcriptor") / "HeartTranscriptor-oss")


@pytest.fixture(scope="module")
def transcriber(tiny_transcriptor):
    # Greedy only: deterministic, and the random model would trip the fallback ladder on every window.
    return Transcriber(tiny_transcriptor, "cpu", "float32", batch_size=1, temperatures=(0.0,))


def _voice_like(rate: int, seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Noise shaped by a slow envelope: not silent, deterministic. float32 [channels, samples]."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    envelope = 0.2 * (1 + np.sin(np.arange(n) / rate * 2 * np.pi * 0.5))
    return (rng.standard_normal((channels, n)) * envelope).astype(np.float32)


def _check_lines(result: TranscriptResult) -> None:
    starts = [line.start for line in result.lines]
    assert starts == sorted(starts)
    for line in result.lines:
        assert 0.0 <= line.start <= line.end <= result.duration_s + 1e-6
        assert line.text and line.text == line.text.strip()
    assert result.text == "\n".join(line.text for line in result.lines) or result.sections


def test_loads_the_checkpoint_with_whisper_settings(transcriber):
    assert transcriber.window_s == 30.0
    assert transcriber.time_step == pytest.approx(0.02)
    no_ts = transcriber.processor.tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    assert transcriber.timestamp_begin == no_ts + 1
    assert transcriber.processor.tokenizer.convert_ids_to_tokens(no_ts + 1) == "<|0.00|>"
    assert transcriber.multilingual


def test_the_model_hears_16k_mono_whatever_the_input(transcriber, tmp_path):
    stereo = _voice_like(44_100, 3.0, channels=2)
    heard = transcriber.prepare(stereo, 44_100)
    assert heard.shape == (3 * RATE,) and heard.dtype == np.float32
    np.testing.assert_allclose(heard, au.resample(au.to_mono(stereo), 44_100, RATE), atol=1e-6)

    au.write_audio(tmp_path / "in.flac", _voice_like(8_000, 2.0, channels=2), 8_000)
    assert transcriber.prepare(tmp_path / "in.flac").shape == (2 * RATE,)

    # Transcribing the 44.1 kHz stereo array is exactly transcribing its 16 kHz mono version.
    assert transcriber.transcribe(stereo, 44_100) == transcriber.transcribe(heard, RATE)


def test_a_long_input_runs_in_batched_windows_with_progress(tiny_transcriptor):
    calls = []
    transcriber = Transcriber(tiny_transcriptor, batch_size=1, temperatures=(0.0,), beams=2)
    result = transcriber.transcribe(_voice_like(RATE, 31.0)[0], RATE, progress=lambda *a: calls.append(a))
    assert calls == [(1, 2), (2, 2)]
    assert result.windows == 2 and result.duration_s == pytest.approx(31.0)
    _check_lines(result)
    data = result.to_dict()
    assert set(data) == {"text", "duration_s", "language", "lines"}
    assert all(set(line) == {"start", "end", "text"} for line in data["lines"])


def test_silent_windows_are_skipped(transcriber):
    song = np.zeros(62 * RATE, np.float32)
    song[: 20 * RATE] = _voice_like(RATE, 20.0)[0]
    result = transcriber.transcribe(song, RATE)
    assert result.windows == 1  # [28, 58) and [56, 62) hold only silence
    assert all(line.end <= 30.0 for line in result.lines)


def test_cancel_stops_before_the_model_runs(transcriber):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        transcriber.transcribe(_voice_like(RATE, 1.0)[0], RATE, cancel=stop)


def test_bad_audio_gives_the_documented_error(transcriber, tmp_path):
    with pytest.raises(InvalidRequest, match="silent"):
        transcriber.transcribe(np.zeros((2, RATE), np.float32), RATE)
    with pytest.raises(InvalidRequest, match="empty"):
        transcriber.transcribe(np.zeros((1, 0), np.float32), RATE)
    with pytest.raises(InvalidRequest, match="sample rate"):
        transcriber.transcribe(np.ones(10, np.float32))
    (tmp_path / "broken.mp3").write_bytes(b"\x00garbage" * 64)
    with pytest.raises(InvalidRequest, match="broken.mp3: not a readable audio file"):
        transcriber.transcribe(tmp_path / "broken.mp3")
    with pytest.raises(InvalidRequest, match="longer than"):
        au.write_audio(tmp_path / "long.wav", _voice_like(RATE, 3.0), RATE)
        transcriber.transcribe(tmp_path / "long.wav", max_seconds=2)


def test_missing_or_incomplete_model_folder(tiny_transcriptor, tmp_path):
    with pytest.raises(ModelNotAvailable, match="no config.json"):
        Transcriber(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    shutil.copytree(tiny_transcriptor, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(ModelNotAvailable, match="model.safetensors"):
        Transcriber(partial)


def test_cli_writes_json_and_refuses_bad_files_in_one_line(tiny_transcriptor, tmp_path, capsys):
    """In-process through the real dispatcher (test_cli_basics covers `python -m`; a subprocess per case
    would re-import torch and transformers each time)."""
    au.write_audio(tmp_path / "take.ogg", _voice_like(22_050, 2.0, channels=2), 22_050)
    model = ["--model", str(tiny_transcriptor)]
    out = ["--json", "--out", str(tmp_path / "l.json")]
    assert cli_main(["transcribe", str(tmp_path / "take.ogg"), *model, *out]) == 0
    data = json.loads((tmp_path / "l.json").read_text())
    assert data["duration_s"] == pytest.approx(2.0) and isinstance(data["lines"], list)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    capsys.readouterr()

    au.write_audio(tmp_path / "silence.wav", np.zeros((2, 8_000), np.float32), 16_000)
    for bad, message in [("silence.wav", "silent"), ("missing.wav", "no such audio file")]:
        assert cli_main(["transcribe", str(tmp_path / bad), *model]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error:") and message in err[-1]
    assert cli_main(["transcribe", str(tmp_path / "take.ogg"), "--model", str(tmp_path)]) == 2
    assert "config.json missing" in capsys.readouterr().err


def test_resolves_the_model_from_each_catalogue_path(tiny_transcriptor, tmp_path, capsys):
    """Explicit folder, official ckpt/ layout, Hugging Face cache: each resolves and loads (offline)."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "HeartTranscriptor-oss").symlink_to(tiny_transcriptor, target_is_directory=True)
    files = {p.name: p for p in tiny_transcriptor.iterdir()}
    snapshot = hf_cache_repo(tmp_path / "hub", "HeartMuLa/HeartTranscriptor-oss", files)
    nowhere = tmp_path / "empty-cache"
    cases = [
        (Catalogue(offline=True, cache_dir=nowhere, folders={"transcriptor": tiny_transcriptor}), Source.FOLDER),
        (Catalogue(offline=True, cache_dir=nowhere, ckpt_dir=ckpt), Source.CKPT),
        (Catalogue(offline=True, cache_dir=tmp_path / "hub"), Source.CACHE),
    ]
    for catalogue, source in cases:
        found = catalogue.resolve("transcriptor")
        assert found.source is source
        assert Transcriber(found.path).source == found.path
    assert found.path == snapshot

    # The CLI finds ckpt/HeartTranscriptor-oss with --ckpt and no --model.
    au.write_audio(tmp_path / "take.wav", _voice_like(RATE, 1.0), RATE)
    out = ["--out", str(tmp_path / "l.txt")]
    assert cli_main(["transcribe", str(tmp_path / "take.wav"), "--ckpt", str(ckpt), *out]) == 0
    assert (tmp_path / "l.txt").read_text().endswith("\n")


def test_end_to_end_on_a_synthetic_voice(tiny_transcriptor, tmp_path):
    """A real voice (espeak-ng) as a 44.1 kHz stereo MP3, through file reading, the model, joins and sections."""
    if shutil.which("espeak-ng") is None:
        missing_tool("espeak-ng", "no synthetic voice to transcribe")
    lyrics = "hold me closer tiny dancer, count the headlights on the highway"
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "voice.wav"), lyrics], check=True, capture_output=True)
    voice, rate = au.read_audio(tmp_path / "voice.wav")
    stereo = au.resample(np.concatenate([voice, voice]), rate, 44_100)  # (2, samples)
    au.write_audio(tmp_path / "voice.mp3", stereo, 44_100)

    result = Transcriber(tiny_transcriptor).transcribe(tmp_path / "voice.mp3", sections=True)
    assert result.windows == 1
    assert result.duration_s == pytest.approx(voice.shape[1] / rate, abs=0.1)
    _check_lines(result)
    match = lyrics_match(lyrics, result.text)
    assert 0.0 <= match.sung <= 1.0 and match.wer >= 0.0 and match.words_asked == 11
