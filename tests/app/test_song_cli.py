"""`python -m app song` as a musician runs it: a subprocess with the scripted LLM server and the tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.studio.history import History
from heartmula_core.audio import read_audio
from tests.conftest import HEARTMULA_REF
from tests.llm_server import LLMServer, Reply

from .conftest import TEST_MODEL

REPO = Path(__file__).resolve().parents[2]
TINY = HEARTMULA_REF / "tiny"
WRITTEN = {"title": "Salt Roads", "lyrics": "[verse]\nsalt on the windows\n\n[chorus]\nhome by the sea",
           "tags": "folk,calm"}


def tiny_env(tmp_path: Path, llm_url: str) -> dict[str, str]:
    """The environment of a CLI run with the tiny models, the data folder `tmp_path/data` and Ollama at `llm_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTSONG_", "OPENAI_"))}
    return env | {
        "PYTHONPATH": str(REPO), "HEARTSONG_DATA_DIR": str(tmp_path / "data"),
        "HEARTSONG_LM_DIR": str(TINY / "HeartMuLa-tiny"), "HEARTSONG_GEN_DIR": str(TINY / "HeartMuLaGen-tiny"),
        "HEARTSONG_CODEC_DIR": str(TINY / "HeartCodec-tiny"), "HEARTSONG_DEVICE": "cpu", "HEARTSONG_DTYPE": "float32",
        "HEARTSONG_LLM_BACKEND": "ollama", "HEARTSONG_OLLAMA_URL": llm_url, "HEARTSONG_OLLAMA_MODEL": TEST_MODEL,
        "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost",
    }


def run_song(tmp_path: Path, server: LLMServer, *args: str, env_extra: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    """The CLI from an empty folder with the tiny models, a fresh data folder and the scripted Ollama (and
    `env_extra`'s settings on top)."""
    return subprocess.run(
        [sys.executable, "-m", "app", "song", *args, "--env-file", os.devnull],
        cwd=tmp_path, env=tiny_env(tmp_path, server.url) | (env_extra or {}), capture_output=True, text=True,
        timeout=300,
    )


def test_song_writes_with_the_llm_makes_the_music_and_keeps_it(llm_server: LLMServer, tmp_path: Path) -> None:
    llm_server.script(Reply.json(WRITTEN))
    out = tmp_path / "song.wav"
    done = run_song(tmp_path, llm_server, "a calm folk song about the sea", "--seconds", "2", "--seed", "9",
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    audio, rate = read_audio(out)
    assert rate == 48000 and audio.shape[0] == 2 and 0.5 * rate < audio.shape[1] <= 2 * rate
    # The LLM was asked for what was not given, and the song is in the history with that sheet.
    asked = json.dumps(llm_server.chat_requests[0].body)
    assert "a calm folk song about the sea" in asked
    songs = History(tmp_path / "data").search("salt")
    assert len(songs) == 1
    song = songs[0]
    assert (song.title, song.lyrics) == ("Salt Roads", WRITTEN["lyrics"])
    assert song.description == "a calm folk song about the sea"
    assert song.tags.startswith("folk") and song.takes[0].seed == 9
    assert song.settings["llm"]["backend"] == "ollama"
    kept, _ = read_audio(song.takes[0].audio)
    assert kept.shape == audio.shape
    assert f"kept in history as {song.id}" in done.stderr


def test_song_with_a_lyrics_file_keeps_the_lyrics_and_makes_two_files(llm_server: LLMServer, tmp_path: Path) -> None:
    lyrics = "[verse]\nmy own words about lanterns\n[chorus]\nglow"
    (tmp_path / "words.txt").write_text(lyrics, encoding="utf-8")
    llm_server.script(Reply.json({"title": "Lanterns", "tags": "pop,warm"}))
    done = run_song(tmp_path, llm_server, "a warm pop song", "--lyrics-file", "words.txt", "--seconds", "1",
                    "--variants", "2", "--out", "take.flac")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(Path("take-1.flac")), str(Path("take-2.flac"))]
    for name in ("take-1.flac", "take-2.flac"):
        assert read_audio(tmp_path / name)[1] == 48000
    song = History(tmp_path / "data").search("lanterns")[0]
    assert song.lyrics == lyrics and song.title == "Lanterns" and len(song.takes) == 2


def test_song_with_the_llm_down_is_one_line_and_keeps_nothing(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.script(Reply(status=500, error="model crashed"))
    done = run_song(tmp_path, llm_server, "a song", "--seconds", "1", "--out", "x.wav")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stderr.strip()
    assert not (tmp_path / "x.wav").exists()
    assert len(History(tmp_path / "data")) == 0


def test_song_mistakes_in_its_files_are_one_line_before_any_work(tmp_path: Path, llm_server: LLMServer) -> None:
    # Nothing is scripted: an LLM call would answer 500, and a song made before the mistake is seen would be kept.
    for args, expected in [
        (["--out", "no-such-folder/x.wav"], "error: --out: the folder no-such-folder does not exist"),
        (["--lyrics-file", "nope.txt", "--out", "x.wav"], "error: --lyrics-file nope.txt: No such file or directory"),
    ]:
        done = run_song(tmp_path, llm_server, "a song", "--seconds", "1", *args)
        assert (done.returncode, done.stderr.splitlines()) == (2, [expected])
    assert llm_server.chat_requests == [] and len(History(tmp_path / "data")) == 0
    done = subprocess.run([sys.executable, "-m", "app", "song", "a song", "--out", "x.wav", "--env-file", "my.env"],
                          cwd=tmp_path, env=tiny_env(tmp_path, llm_server.url), capture_output=True, text=True,
                          timeout=300)
    assert (done.returncode, done.stderr.splitlines()) == (2, ["error: settings file my.env does not exist"])
