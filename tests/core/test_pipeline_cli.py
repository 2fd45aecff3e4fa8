"""`python -m heartmula_core generate`: files written (one or N variants), one-line errors with exit status 2,
missing models offline, and Ctrl-C leaving no file behind. Runs the real CLI in a subprocess on the tiny models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_args(heartmula_ref: Path) -> list[str]:
    tiny = heartmula_ref / "tiny"
    return ["--lm", str(tiny / "HeartMuLa-tiny"), "--gen", str(tiny / "HeartMuLaGen-tiny"),
            "--codec", str(tiny / "HeartCodec-tiny"), "--steps", "2"]


def cli_env(tmp_path: Path) -> dict[str, str]:
    # One thread: the tiny models gain nothing from more, and the test machine is shared.
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "1"}


def generate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heartmula_core", "generate", *args], capture_output=True,
                          text=True, env=cli_env(tmp_path), cwd=tmp_path)


def test_two_variants_written_beside_out(tmp_path, model_args):
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text("[verse]\nhello there\n[chorus]\nla la la\n", encoding="utf-8")
    out = generate(tmp_path, "--tags", "pop,piano", "--lyrics-file", str(lyrics), "--seconds", "1",
                   "--variants", "2", "--seed", "7", *model_args, "--out", str(tmp_path / "song.flac"))
    assert out.returncode == 0, out.stderr
    files = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".flac")
    assert files == ["song-1.flac", "song-2.flac"]
    for name in files:
        info = sf.info(str(tmp_path / name))
        assert (info.samplerate, info.channels) == (48_000, 2)
        assert abs(info.frames - 48_000) <= 48_000 / 12.5  # within one LM frame of the second asked for
    assert "seed 7" in out.stdout  # the seed of variant 1 is the request seed, printed for reuse
    assert "100%" in out.stderr


def test_one_variant_writes_out(tmp_path, model_args):
    out = generate(tmp_path, "--tags", "rock", "--lyrics", "[verse]\\nyeah", "--seconds", "0.5",
                   "--format", "wav", *model_args, "--out", str(tmp_path / "take.wav"))
    assert out.returncode == 0, out.stderr
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["take.wav"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variants", "9"], "variants must be 1 to 8"),
        (["--format", "mp3"], "does not match"),
        (["--seconds", "-1"], "seconds must be positive"),
        (["--tags", ""], "tags are empty"),
    ],
)
def test_bad_arguments_one_line(tmp_path, model_args, args, message):
    base = {"--tags": "pop", "--lyrics": "la", "--seconds": "1"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    flat = [x for pair in base.items() for x in pair]
    out = generate(tmp_path, *flat, *model_args, "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.wav"))


def test_missing_models_offline(tmp_path):
    out = generate(tmp_path, "--tags", "pop", "--lyrics", "la", "--seconds", "1", "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "python -m heartmula_core download hny" in out.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly(tmp_path, model_args):
    proc = subprocess.Popen(
        # Seed 11: the tiny model runs this song to its full 750 frames (most seeds end it far sooner, and a
        # song that ends before the Ctrl-C arrives cannot test it).
        [sys.executable, "-m", "heartmula_core", "generate", "--tags", "pop", "--lyrics", "la la",
         "--seconds", "60", "--seed", "11", *model_args, "--out", str(tmp_path / "song.wav")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(tmp_path), cwd=tmp_path,
        # A shell without job control starts background commands with Ctrl-C ignored, and the child would
        # inherit that (Python then installs no KeyboardInterrupt): give it the terminal's default, as a user has.
        preexec_fn=_default_sigint,
    )
    seen = b""
    deadline = time.monotonic() + 300  # a guard against a hung child, not a timing assertion
    while b"tokens" not in seen and proc.poll() is None and time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 256)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert b"stopped." in err and b"Traceback" not in err
    assert not [p.name for p in tmp_path.rglob("*song*")]  # neither the song nor a temporary part of it
