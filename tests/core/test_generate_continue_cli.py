"""`python -m heartmula_core generate --continue TAKE.npy [--from TIME]`: a take continued from the CLI writes the
whole song (kept frames first), and every misuse is one line with exit status 2. Real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.audio import read_audio, write_audio

from .test_pipeline_cli import generate


@pytest.fixture(scope="module")
def model_args(heartmula_ref: Path) -> list[str]:
    tiny = heartmula_ref / "tiny"
    return ["--lm", str(tiny / "HeartMuLa-tiny"), "--gen", str(tiny / "HeartMuLaGen-tiny"),
            "--codec", str(tiny / "HeartCodec-tiny"), "--steps", "2"]


def test_redo_from_a_time_writes_the_kept_frames_then_new_ones(tmp_path, model_args):
    song = ["--tags", "pop,piano", "--lyrics", "[verse]\\nhello there", *model_args]
    first = generate(tmp_path, *song, "--seconds", "2", "--seed", "3", "--save-tokens", "--out", str(tmp_path / "a.wav"))
    assert first.returncode == 0, first.stderr
    take = np.load(tmp_path / "a.npy")
    assert take.shape == (25, 8)
    second = generate(tmp_path, *song, "--seconds", "3", "--seed", "4", "--continue", str(tmp_path / "a.npy"),
                      "--from", "0:01.2", "--take-seed", "3", "--save-tokens", "--out", str(tmp_path / "b.wav"))
    assert second.returncode == 0, second.stderr
    redo = np.load(tmp_path / "b.npy")
    assert redo.shape == (38, 8) and np.array_equal(redo[:15], take[:15])  # round(1.2 x 12.5) = 15 kept
    assert "seed 4, decoded with seed 3" in second.stdout
    assert abs(sf.info(str(tmp_path / "b.wav")).frames - 3 * 48_000) <= 48_000 / 12.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "5"], "--from, --take-seed, --take-audio and --take-latents go with --continue"),
        (["--continue", "{take}", "--take-latents", "{take}"], "--take-latents goes with --take-audio"),
        (["--continue", "{take}", "--take-seed", "1", "--take-audio", "{good}", "--take-latents", "{take}"],
         "--take-latents {take}: expected float latents [windows, 168, channels]"),
        (["--continue", "{take}", "--take-audio", "{take}"], "--take-audio needs --take-seed"),
        (["--continue", "{take}", "--take-seed", "1", "--take-audio", "{take}"], "give the take's .wav or .flac"),
        (["--continue", "{take}", "--take-seed", "1", "--take-audio", "{loud}"], "turned down when written"),
        (["--continue", "{take}", "--from", "9"], "--from 9 is past the take's end (2 s)"),
        (["--continue", "{take}", "--from", "x:1"], "seconds or mm:ss"),
        (["--continue", "{take}", "--seconds", "1"], "already 2 s long"),
        (["--continue", "{bad}"], "codes the codec cannot decode"),
        (["--continue", "{missing}"], "no such file"),
    ],
)
def test_bad_continuations_are_one_line(tmp_path, model_args, args, message):
    np.save(tmp_path / "take.npy", np.ones((25, 8), np.int64))
    np.save(tmp_path / "bad.npy", np.full((25, 8), 8193, np.int64))
    write_audio(tmp_path / "loud.flac", np.full((2, 48_000), 1.5, np.float32), 48_000)  # written at -0.1 dBFS
    write_audio(tmp_path / "good.flac", np.full((2, 48_000), 0.5, np.float32), 48_000)
    names = {"take": tmp_path / "take.npy", "bad": tmp_path / "bad.npy", "missing": tmp_path / "nope.npy",
             "loud": tmp_path / "loud.flac", "good": tmp_path / "good.flac"}
    args, message = [a.format(**names) for a in args], message.format(**names)
    base = {"--tags": "pop", "--lyrics": "la", "--seconds": "3"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    out = generate(tmp_path, *[x for pair in base.items() for x in pair], *model_args, "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.wav"))


def test_an_extension_with_the_takes_audio_starts_with_its_samples(tmp_path, model_args):
    """--take-audio: the kept codec window is not decoded again; the song equals the one decoded whole."""
    song = ["--tags", "pop,piano", "--lyrics", "[verse]\\nhello there", *model_args]
    first = generate(tmp_path, *song, "--seconds", "31", "--seed", "3", "--save-tokens", "--out", str(tmp_path / "a.flac"))
    assert first.returncode == 0, first.stderr
    assert len(np.load(tmp_path / "a.npy")) == 388  # codec window 0 (frames 0..371) lies wholly inside
    extend = [*song, "--seconds", "33", "--seed", "4", "--continue", str(tmp_path / "a.npy"), "--take-seed", "3"]
    reused = generate(tmp_path, *extend, "--take-audio", str(tmp_path / "a.flac"), "--out", str(tmp_path / "b.flac"))
    whole = generate(tmp_path, *extend, "--out", str(tmp_path / "c.flac"))
    assert reused.returncode == 0 and whole.returncode == 0, reused.stderr + whole.stderr
    (take, _), (b, _), (c, _) = (read_audio(tmp_path / name) for name in ("a.flac", "b.flac", "c.flac"))
    kept = 1_228_800  # window 0's samples, up to where window 1 fades in
    np.testing.assert_array_equal(b[:, :kept], take[:, :kept])
    assert b.shape == c.shape
    np.testing.assert_allclose(b, c, rtol=0, atol=3e-7)  # the same song, within the 24-bit files' steps

    # --save-tokens wrote the take's codec latents too: with them the kept window's flow does not run again,
    # and the song is the same.
    assert np.load(tmp_path / "a.codec.npy").shape == (2, 168, 256)
    latents = generate(tmp_path, *extend, "--take-audio", str(tmp_path / "a.flac"), "--take-latents",
                       str(tmp_path / "a.codec.npy"), "--out", str(tmp_path / "d.flac"))
    assert latents.returncode == 0, latents.stderr
    d, _ = read_audio(tmp_path / "d.flac")
    np.testing.assert_array_equal(d[:, :kept], take[:, :kept])
    np.testing.assert_allclose(d, c, rtol=0, atol=3e-7)
