"""`python -m heartmula_core encode` and `reconstruct`: outputs, progress, and one-line errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.audio import read_audio
from heartmula_core.cli import main
from heartmula_core.codec.encoder import load_encoder
from tests.core.codec_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def folders(encoder_ref: Path, heartmula_ref: Path) -> list[str]:
    return ["--encoder", str(encoder_ref / "HeartCodec-encoder-tiny"),
            "--codec", str(heartmula_ref / "tiny" / "HeartCodec-sharp")]


@pytest.fixture(scope="module")
def golden(encoder_ref: Path) -> dict:
    with np.load(encoder_ref / "golden_tiny.npz") as data:
        return {k: data[k] for k in ("s48_short/input_pcm16", "s48_short/tokens_sharp_rvq",
                                     "s48_short/tokens_sharp_rvq_margin")}


def test_encode_writes_the_official_tokens(folders, golden, tmp_path: Path, capsys) -> None:
    """The golden stereo 48 kHz input as a 16-bit WAV (lossless for int16) gives the golden sharp tokens."""
    wav = tmp_path / "take.wav"
    sf.write(wav, golden["s48_short/input_pcm16"].T, 48_000, subtype="PCM_16")
    out = tmp_path / "tokens.npy"
    assert main(["encode", *folders, str(wav), "--out", str(out)]) == 0
    tokens = np.load(out)
    assert tokens.dtype == np.int64 and tokens.shape == (52, 8)  # frame-major, like every token file here
    expected = golden["s48_short/tokens_sharp_rvq"].T
    confident = np.logical_and.accumulate(golden["s48_short/tokens_sharp_rvq_margin"] >= 1e-4, axis=0).T
    assert confident.mean() > 0.95
    np.testing.assert_array_equal(tokens[confident], expected[confident])
    assert "int64 [52, 8]" in capsys.readouterr().out


def test_encode_mono_ogg_two_chunks_in_one_batch_with_progress(folders, tmp_path: Path, capsys) -> None:
    rate, seconds = 32_000, 31.0
    t = np.arange(int(rate * seconds)) / rate
    mono = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2).astype(np.float32)
    ogg = tmp_path / "memo.ogg"
    sf.write(ogg, mono, rate)
    out = tmp_path / "memo.npy"
    assert main(["encode", *folders, str(ogg), "--out", str(out), "--batch-size", "2"]) == 0
    tokens = np.load(out)
    audio, file_rate = read_audio(ogg)
    samples_24k = -(-audio.shape[1] * 3 // 4)  # 32 -> 24 kHz
    assert tokens.shape == (int(samples_24k / 24000 * 12.5) + 1, 8) and tokens.shape[0] > 372  # two chunks
    encoder = load_encoder(*[Path(f) for f in folders[1::2]])
    np.testing.assert_array_equal(tokens, encoder.tokenize(audio, file_rate, batch_size=1).numpy())
    assert "encoding" in capsys.readouterr().err  # the progress bar of a multi-chunk recording


def test_reconstruct_writes_48k_stereo(folders, tmp_path: Path, capsys) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    sf.write(tmp_path / "hum.flac", np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 277 * t)], 1) * 0.3, rate)
    out = tmp_path / "copy.flac"
    code = main(["reconstruct", *folders, str(tmp_path / "hum.flac"), "--out", str(out), "--seed", "1", "--steps", "1"])
    assert code == 0
    audio, out_rate = sf.read(out, always_2d=True)
    frames = int(24_000 / 24_000 * 12.5) + 1  # 1 s at 24 kHz -> 13 token frames
    assert out_rate == 48_000 and audio.shape == (frames * 3840, 2)
    assert "seed 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "write, extra, words",
    [
        (lambda p: sf.write(p, np.zeros((24_000, 2)), 24_000), [], "silent"),
        (lambda p: p.write_bytes(b"RIFF0000WAVEjunk"), [], "not a readable audio file"),
        (lambda p: sf.write(p, np.full((1, 1), 0.5), 48_000), [], "too short"),
        (lambda p: sf.write(p, np.full((48_000, 1), 0.5), 48_000), ["--max-seconds", "0.5"], "longer than"),
        (lambda p: sf.write(p, np.full((48_000, 1), 0.5), 48_000), ["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_recordings_are_one_line_and_write_nothing(folders, tmp_path: Path, capsys, write, extra, words) -> None:
    rec = tmp_path / "rec.wav"
    write(rec)
    out = tmp_path / "tokens.npy"
    assert main(["encode", *folders, str(rec), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_bad_out_and_missing_encoder(folders, tmp_path: Path, capsys) -> None:
    rec = tmp_path / "rec.wav"
    sf.write(rec, np.full((48_000, 1), 0.5), 48_000)
    assert main(["encode", *folders, str(rec), "--out", str(tmp_path / "tokens.txt")]) == 2
    assert ".npy" in capsys.readouterr().err
    missing = ["--encoder", str(tmp_path / "nowhere"), *folders[2:]]
    assert main(["encode", *missing, str(rec), "--out", str(tmp_path / "t.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nowhere" in err
