"""heartmula_core.audio: round trips, resampling, downmix, clipping safety, metadata, and clear errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from heartmula_core import audio as au
from heartmula_core.errors import InvalidRequest


def _tone(rate: int, seconds: float = 1.0, channels: int = 2, amplitude: float = 0.5) -> np.ndarray:
    """A different sine per channel, float32 [channels, samples]."""
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([amplitude * np.sin(2 * np.pi * (330 + 110 * c) * t) for c in range(channels)]).astype(np.float32)


def _leftovers(folder, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_lossless_round_trip_is_exact_to_24_bits(tmp_path, ext):
    x = _tone(48_000)
    report = au.write_audio(tmp_path / f"song.{ext}", x, 48_000)
    y, rate = au.read_audio(tmp_path / f"song.{ext}")
    assert rate == 48_000 and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() < 2.0**-22
    assert not report.scaled and report.samples == x.shape[1] and report.channels == 2
    assert _leftovers(tmp_path, f"song.{ext}") == []


@pytest.mark.parametrize("ext", ["ogg", "mp3"])
def test_lossy_round_trip_keeps_length_and_shape(tmp_path, ext):
    x = _tone(48_000)
    au.write_audio(tmp_path / f"song.{ext}", x, 48_000)
    y, rate = au.read_audio(tmp_path / f"song.{ext}")
    assert rate == 48_000 and y.shape[0] == 2
    assert abs(y.shape[1] - x.shape[1]) <= 2048  # encoder padding at most a couple of frames
    n = min(x.shape[1], y.shape[1])
    for c in range(2):
        assert np.corrcoef(x[c, :n], y[c, :n])[0, 1] > 0.95
    assert _leftovers(tmp_path, f"song.{ext}") == []


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_title_metadata_round_trip(tmp_path, ext):
    au.write_audio(tmp_path / f"t.{ext}", _tone(24_000, 0.5), 24_000, title="Rainy Café, take 2")
    with sf.SoundFile(tmp_path / f"t.{ext}") as f:
        assert f.title == "Rainy Café, take 2"


@pytest.mark.parametrize("src", [44_100, 22_050, 8_000])
@pytest.mark.parametrize("dst", [48_000, 24_000, 16_000])
def test_resample_odd_rates_to_model_rates(src, dst):
    x = _tone(src, seconds=1.5)
    y = au.resample(x, src, dst)
    assert y.dtype == np.float32 and y.shape == (2, round(x.shape[1] * dst / src))
    # The tone survives: compare against the same tone synthesised at the new rate (edges excluded).
    ref = _tone(dst, seconds=1.5)
    m = slice(dst // 10, -dst // 10)
    assert np.abs(y[:, m] - ref[:, m]).max() < 0.01


def test_resample_keeps_one_dimensional_input_one_dimensional():
    y = au.resample(np.zeros(44_100, np.float32), 44_100, 16_000)
    assert y.shape == (16_000,)
    assert au.resample(np.ones(10, np.float32), 16_000, 16_000).shape == (10,)


def test_to_mono_averages_channels():
    x = np.stack([np.full(100, 0.2), np.full(100, -0.6)]).astype(np.float32)
    m = au.to_mono(x)
    assert m.shape == (100,) and m.dtype == np.float32
    np.testing.assert_allclose(m, -0.2, atol=1e-7)
    np.testing.assert_array_equal(au.to_mono(x[0]), x[0])


def test_integer_pcm_is_scaled_to_full_scale():
    pcm = np.array([[-32768, 0, 16384, 32767]], dtype=np.int16)
    np.testing.assert_allclose(au.to_mono(pcm), [-1.0, 0.0, 0.5, 32767 / 32768])
    assert au.resample(pcm, 8_000, 16_000).dtype == np.float32


def test_load_for_model_gives_mono_at_the_model_rate(tmp_path):
    au.write_audio(tmp_path / "in.flac", _tone(44_100, seconds=2.0), 44_100)
    mono = au.load_for_model(tmp_path / "in.flac", au.WHISPER_SAMPLE_RATE)
    assert mono.shape == (2 * au.WHISPER_SAMPLE_RATE,) and mono.dtype == np.float32
    stereo = au.load_for_model(tmp_path / "in.flac", au.STYLE_SAMPLE_RATE, mono=False)
    assert stereo.shape == (2, 2 * au.STYLE_SAMPLE_RATE)


def test_clipping_is_scaled_and_reported(tmp_path, caplog):
    x = _tone(48_000, amplitude=1.8)
    with caplog.at_level(logging.WARNING, logger="heartmula_core.audio"):
        report = au.write_audio(tmp_path / "loud.wav", x, 48_000)
    assert report.scaled and report.peak == pytest.approx(1.8, rel=1e-4)
    assert report.gain == pytest.approx(au.PEAK_CEILING / report.peak)
    assert "scaled" in caplog.text
    y, _ = au.read_audio(tmp_path / "loud.wav")
    assert 0.98 < np.abs(y).max() < 1.0
    np.testing.assert_allclose(y, x * report.gain, atol=1e-5)


def test_encode_bytes_matches_a_written_file(tmp_path):
    x = _tone(48_000, seconds=0.3, amplitude=1.2)
    data, report = au.encode_audio_bytes(x, 48_000, "flac", title="t")
    assert report.scaled and report.path is None
    (tmp_path / "b.flac").write_bytes(data)
    y, rate = au.read_audio(tmp_path / "b.flac")
    assert rate == 48_000 and y.shape == x.shape


def test_overwrite_replaces_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "song.mp3"
    au.write_audio(target, _tone(48_000, 2.0), 48_000)
    au.write_audio(target, _tone(48_000, 0.5), 48_000)
    assert sf.info(target).frames == 24_000
    assert _leftovers(tmp_path, "song.mp3") == []


def test_corrupt_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "junk.mp3"
    bad.write_bytes(b"this is not audio at all" * 50)
    with pytest.raises(InvalidRequest, match="junk.mp3: not a readable audio file"):
        au.read_audio(bad)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_truncated_file_is_one_clear_error(tmp_path, ext):
    au.write_audio(tmp_path / f"ok.{ext}", _tone(48_000), 48_000)
    data = (tmp_path / f"ok.{ext}").read_bytes()
    (tmp_path / f"cut.{ext}").write_bytes(data[:40])
    with pytest.raises(InvalidRequest, match=f"cut.{ext}"):
        au.read_audio(tmp_path / f"cut.{ext}")


def test_empty_missing_and_sample_less_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidRequest, match="empty.wav: the file is empty"):
        au.read_audio(tmp_path / "empty.wav")
    with pytest.raises(InvalidRequest, match="no such audio file"):
        au.read_audio(tmp_path / "nope.wav")
    sf.write(tmp_path / "zero.wav", np.zeros((0, 2), np.float32), 48_000)
    with pytest.raises(InvalidRequest, match="no audio samples"):
        au.read_audio(tmp_path / "zero.wav")


def test_size_and_duration_caps(tmp_path):
    au.write_audio(tmp_path / "a.wav", _tone(16_000, seconds=3.0), 16_000)
    with pytest.raises(InvalidRequest, match="longer than the 2 s limit"):
        au.read_audio(tmp_path / "a.wav", max_seconds=2)
    with pytest.raises(InvalidRequest, match="larger than"):
        au.read_audio(tmp_path / "a.wav", max_bytes=1000)
    assert au.read_audio(tmp_path / "a.wav", max_seconds=3.5, max_bytes=10**6)[0].shape == (2, 48_000)


def test_write_errors_leave_nothing_behind(tmp_path):
    x = _tone(48_000, 0.1)
    with pytest.raises(InvalidRequest, match="does not exist"):
        au.write_audio(tmp_path / "missing" / "song.wav", x, 48_000)
    with pytest.raises(InvalidRequest, match="unknown audio format"):
        au.write_audio(tmp_path / "song.aac", x, 48_000)
    with pytest.raises(InvalidRequest, match="NaN"):
        au.write_audio(tmp_path / "song.wav", np.full((2, 10), np.nan, np.float32), 48_000)
    with pytest.raises(InvalidRequest, match="0 samples"):
        au.write_audio(tmp_path / "song.wav", np.zeros((2, 0), np.float32), 48_000)
    with pytest.raises(InvalidRequest, match="cannot encode"):
        au.write_audio(tmp_path / "song.mp3", x, 7_000)  # MPEG has no 7 kHz rate
    assert list(tmp_path.iterdir()) == []
