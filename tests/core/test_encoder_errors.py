"""Bad input to the HeartCodec encoder: each gives one clear line, never a traceback or a wrong result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from heartmula_core.codec.encoder import load_encoder
from heartmula_core.codec.encoder.checkpoint import CONFIG_FILE, load_network, load_quantizer
from heartmula_core.codec.encoder.chunks import as_stereo
from heartmula_core.codec.encoder.recording import read_recording
from heartmula_core.errors import CheckpointMismatch, HeartmulaError, InvalidRequest, ModelNotAvailable


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def tone(seconds: float, rate: int = 44_100, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * channels, axis=1).astype(np.float32)  # (N, C)


def test_good_recording_reads(tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    sf.write(path, tone(0.5), 44_100)
    audio, rate = read_recording(path)
    assert audio.shape == (2, 22_050) and rate == 44_100


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidRequest) as exc:
        read_recording(tmp_path / "empty.wav")
    assert "is empty" in one_line(exc)


def test_silent_file(tmp_path: Path) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros((24_000, 2), np.float32), 24_000)
    with pytest.raises(InvalidRequest) as exc:
        read_recording(tmp_path / "silence.wav")
    assert "silent" in one_line(exc)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(b"ID3" + bytes(range(256)) * 20)
    with pytest.raises(InvalidRequest) as exc:
        read_recording(path)
    assert "not a readable audio file" in one_line(exc)


def test_too_long_file(tmp_path: Path) -> None:
    sf.write(tmp_path / "long.wav", tone(3.0), 44_100)
    with pytest.raises(InvalidRequest) as exc:
        read_recording(tmp_path / "long.wav", max_seconds=2)
    assert "longer than the 2 s limit" in one_line(exc)


def test_one_sample_file(tmp_path: Path) -> None:
    sf.write(tmp_path / "one.wav", np.full((1, 1), 0.5, np.float32), 48_000)
    with pytest.raises(InvalidRequest) as exc:
        read_recording(tmp_path / "one.wav")
    assert "1 samples" in one_line(exc) and "too short" in one_line(exc)


def test_nan_samples_in_file_and_in_array(tmp_path: Path) -> None:
    audio = tone(0.5)
    audio[100, 0] = np.nan
    sf.write(tmp_path / "nan.wav", audio, 44_100, subtype="FLOAT")
    with pytest.raises(InvalidRequest) as exc:
        read_recording(tmp_path / "nan.wav")
    assert "NaN" in one_line(exc)
    with pytest.raises(InvalidRequest) as exc:
        as_stereo(audio.T, 44_100)
    assert "NaN" in one_line(exc)


@pytest.mark.parametrize(
    "wave, rate, words",
    [
        (np.zeros((2, 0), np.float32), 24_000, "no samples"),
        (np.zeros((3, 10), np.float32), 24_000, "(2, samples)"),
        (np.ones(10, np.float32), 0, "positive integer"),
        (np.ones(10, np.float32), 44_100.0, "positive integer"),
    ],
)
def test_bad_arrays(wave: np.ndarray, rate, words: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        as_stereo(wave, rate)
    assert words in one_line(exc)


def test_mono_is_duplicated() -> None:
    wave = torch.linspace(-1, 1, 5)
    assert torch.equal(as_stereo(wave, 24_000), torch.stack([wave, wave]))


def test_encoder_folder_missing_its_config(tmp_path: Path, encoder_ref: Path) -> None:
    folder = tmp_path / "encoder"
    shutil.copytree(encoder_ref / "HeartCodec-encoder-tiny", folder)
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(ModelNotAvailable) as exc:
        load_network(folder)
    assert "no encoder_config.json" in one_line(exc)


def test_encoder_folder_missing(tmp_path: Path, heartmula_ref: Path) -> None:
    with pytest.raises(ModelNotAvailable) as exc:
        load_encoder(tmp_path / "nowhere", heartmula_ref / "tiny" / "HeartCodec-tiny")
    assert "not found" in one_line(exc)


def test_unsupported_encoder_version(tmp_path: Path, encoder_ref: Path) -> None:
    folder = tmp_path / "encoder"
    shutil.copytree(encoder_ref / "HeartCodec-encoder-tiny", folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps(config | {"version": "vqv11"}))
    with pytest.raises(ModelNotAvailable) as exc:
        load_network(folder)
    assert "version 'vqv11'" in one_line(exc)


def test_wrong_weights_are_a_checkpoint_mismatch(tmp_path: Path, encoder_ref: Path) -> None:
    """Weights of another size (query dim 32 in the config, 64 in the file) are refused key by key."""
    folder = tmp_path / "encoder"
    shutil.copytree(encoder_ref / "HeartCodec-encoder-tiny", folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["query"]["dim"] = 32
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatch) as exc:
        load_network(folder)
    assert "mis-shaped" in one_line(exc)


def test_codec_with_another_quantizer_width(tmp_path: Path, heartmula_ref: Path, encoder_ref: Path) -> None:
    """A codec whose quantizer is 128 wide cannot quantize the tiny encoder's 64-wide vectors."""
    codec = tmp_path / "codec"
    codec.mkdir()
    config = json.loads((heartmula_ref / "tiny" / "HeartCodec-tiny" / "config.json").read_text())
    config |= {"dim": 128, "in_channels": 2 * config["out_channels"] + 128}
    (codec / "config.json").write_text(json.dumps(config))
    tensors = {"flow_matching.vq_embed.project_in.weight": torch.zeros(32, 128)}
    tensors |= {f"flow_matching.vq_embed.layers.{i}._codebook.embed": torch.zeros(1, 8192, 32) for i in range(8)}
    save_file(tensors, codec / "model.safetensors")
    with pytest.raises(CheckpointMismatch) as exc:
        load_encoder(encoder_ref / "HeartCodec-encoder-tiny", codec)
    assert "output width 64 does not match the quantizer width 128" in one_line(exc)


def test_codec_missing_codebooks(tmp_path: Path, heartmula_ref: Path) -> None:
    codec = tmp_path / "codec"
    codec.mkdir()
    shutil.copy(heartmula_ref / "tiny" / "HeartCodec-tiny" / "config.json", codec)
    save_file({"flow_matching.vq_embed.project_in.weight": torch.zeros(32, 64)}, codec / "model.safetensors")
    with pytest.raises(HeartmulaError) as exc:
        load_quantizer(codec, 64)
    assert "codebooks 0..7" in one_line(exc)
