"""StyleEncoder beyond the goldens: other lengths, real files, the .bin fallback, errors, cache, strength."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from safetensors.torch import load_file, save_file

from heartmula_core.cli import main as cli_main
from heartmula_core.errors import CheckpointMismatch, InvalidRequest, ModelNotAvailable
from heartmula_core.style import StyleEncoder, load_mulan, scale_style

SR = 24000
CLIP = 10 * SR


@pytest.fixture(scope="module")
def tiny(muq_ref: Path) -> Path:
    return muq_ref / "tiny" / "MuQ-MuLan-tiny"


@pytest.fixture(scope="module")
def mulan(tiny: Path):
    return load_mulan(tiny)


@pytest.fixture(scope="module")
def wave(muq_ref: Path) -> np.ndarray:
    """35 s of the golden test music (chords, bass, kicks, noise) at 24 kHz."""
    with np.load(muq_ref / "golden_tiny.npz") as data:
        return data["audio35_wav"]


def reference_embedding(mulan, clips: list[np.ndarray]) -> torch.Tensor:
    """Clip latents one at a time, averaged: the official recipe written out by hand."""
    with torch.inference_mode():
        latents = [mulan.model.clip_latents(torch.from_numpy(c)[None])[0] for c in clips]
    return torch.stack(latents).mean(dim=0)


@pytest.mark.parametrize(
    "seconds, clips",
    [
        (3.0, lambda x: [np.concatenate([x, x])]),  # shorter than half a clip: the input twice (6 s)
        (17.0, lambda x: [x[:CLIP], np.concatenate([x[CLIP:], x[: 3 * SR]])]),
        (10.004, lambda x: [x[:CLIP], np.concatenate([x[CLIP:], x[: CLIP - (len(x) - CLIP)]])]),
    ],
)
def test_clip_cutting_matches_hand_made_clips(mulan, wave, seconds, clips):
    x = wave[: round(seconds * SR)]
    expected = reference_embedding(mulan, clips(x))
    for batch in (1, 4):
        got = StyleEncoder(mulan, clip_batch=batch).embed_audio(x, sample_rate=SR)
        assert got.shape == (512,)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_tiny_remainder_gives_an_almost_duplicate_clip(mulan, wave):
    """10.004 s: the second clip is 4 ms of new audio then 9.996 s of the first, so the mean stays ~unit."""
    got = StyleEncoder(mulan).embed_audio(wave[: round(10.004 * SR)], sample_rate=SR)
    first = StyleEncoder(mulan).embed_audio(wave[:CLIP], sample_rate=SR)
    assert 0.99 < float(got.norm()) <= 1.0
    assert float(got @ first) > 0.99


def test_multi_clip_embedding_is_a_mean_not_renormalised(mulan, wave):
    got = StyleEncoder(mulan).embed_audio(wave, sample_rate=SR)
    assert float(got.norm()) < 0.999


def test_stereo_44k_file_is_downmixed_then_resampled_with_soxr_hq(mulan, wave, tmp_path):
    rate = 44100
    left = soxr.resample(wave[: 12 * SR], SR, rate)
    stereo = np.stack([left, 0.5 * np.roll(left, 999)], axis=1).astype(np.float32)  # (samples, 2)
    path = tmp_path / "ref.wav"
    sf.write(path, stereo, rate, subtype="FLOAT")
    mono = stereo.mean(axis=1, dtype=np.float32)
    expected_wave = torch.from_numpy(soxr.resample(mono, rate, SR, quality="HQ").astype(np.float32))
    encoder = StyleEncoder(mulan)
    got = encoder.embed_audio(path)
    torch.testing.assert_close(got, encoder.embed_waveform(expected_wave), atol=1e-7, rtol=0)
    # The same audio given as a [channels, samples] array at 44.1 kHz lands in the same place.
    torch.testing.assert_close(StyleEncoder(mulan).embed_audio(stereo.T, sample_rate=rate), got, atol=1e-7, rtol=0)


def test_bin_checkpoint_gives_identical_embeddings(mulan, tiny, wave, tmp_path):
    for sibling in tiny.parent.iterdir():
        shutil.copytree(sibling, tmp_path / sibling.name)
    (tmp_path / tiny.name / "model.safetensors").unlink()
    from_bin = StyleEncoder(load_mulan(tmp_path / tiny.name))
    ours = StyleEncoder(mulan)
    assert torch.equal(from_bin.embed_audio(wave[:CLIP], sample_rate=SR), ours.embed_audio(wave[:CLIP], sample_rate=SR))
    assert torch.equal(from_bin.embed_text("hopeful piano"), ours.embed_text("hopeful piano"))


def test_sub_model_weights_are_never_read(tiny, tmp_path, wave, mulan):
    """The official sub-repos hold pre-fine-tuning weights; breaking them must change nothing."""
    for sibling in tiny.parent.iterdir():
        shutil.copytree(sibling, tmp_path / sibling.name)
    for sub in ("MuQ-tiny", "xlm-roberta-tiny"):
        (tmp_path / sub / "model.safetensors").write_bytes(b"not weights")
    loaded = load_mulan(tmp_path / tiny.name)
    assert torch.equal(StyleEncoder(loaded).embed_text("piano"), StyleEncoder(mulan).embed_text("piano"))


def copy_with_state(tiny: Path, tmp_path: Path, edit) -> Path:
    for sibling in tiny.parent.iterdir():
        shutil.copytree(sibling, tmp_path / sibling.name)
    folder = tmp_path / tiny.name
    (folder / "pytorch_model.bin").unlink()
    state = load_file(folder / "model.safetensors")
    edit(state)
    save_file(state, folder / "model.safetensors")
    return folder


def test_strict_loading_names_unknown_and_missing_keys(tiny, tmp_path):
    extra = copy_with_state(tiny, tmp_path / "a", lambda s: s.update({"mulan.surprise.weight": torch.zeros(3)}))
    with pytest.raises(CheckpointMismatch, match="mulan.surprise.weight"):
        load_mulan(extra)
    missing = copy_with_state(tiny, tmp_path / "b", lambda s: s.pop("mulan.audio.proj.bias"))
    with pytest.raises(CheckpointMismatch, match="audio.proj.bias"):
        load_mulan(missing)


def test_documented_legacy_keys_are_ignored(tiny, tmp_path):
    legacy = {
        "mulan.audio.model.model.conformer.pos_conv_embed.conv.weight_g": torch.zeros(1, 1, 16),
        "mulan.text.model.embeddings.position_ids": torch.arange(514)[None],
    }
    load_mulan(copy_with_state(tiny, tmp_path, lambda s: s.update(legacy)))


def test_missing_sub_model_folder_is_a_clear_error(tiny, tmp_path):
    shutil.copytree(tiny, tmp_path / tiny.name)
    with pytest.raises(ModelNotAvailable, match="MuQ-tiny"):
        load_mulan(tmp_path / tiny.name)


def test_too_short_audio_is_refused_and_the_shortest_works(mulan, wave):
    encoder = StyleEncoder(mulan)
    with pytest.raises(InvalidRequest, match="too short"):
        encoder.embed_audio(wave[:512], sample_rate=SR)
    with pytest.raises(InvalidRequest, match="too short"):
        encoder.embed_audio(np.zeros(0, np.float32), sample_rate=SR)
    assert encoder.embed_audio(wave[:513], sample_rate=SR).shape == (512,)


def test_bad_files_and_caps_are_clear_errors(mulan, wave, tmp_path):
    encoder = StyleEncoder(mulan, max_seconds=5.0)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    long = tmp_path / "long.wav"
    sf.write(long, wave[: 6 * SR], SR)
    for path, message in [(empty, "empty"), (corrupt, "not a readable audio file"), (long, "limit")]:
        with pytest.raises(InvalidRequest, match=message):
            encoder.embed_audio(path)
    with pytest.raises(InvalidRequest, match="limit"):
        encoder.embed_audio(wave[: 6 * SR], sample_rate=SR)
    with pytest.raises(InvalidRequest, match="sample_rate"):
        encoder.embed_audio(wave[:SR])
    with pytest.raises(InvalidRequest, match="no such"):
        encoder.embed_audio(tmp_path / "missing.wav")
    with pytest.raises(InvalidRequest, match="finite"):
        encoder.embed_audio(np.full(SR, np.nan, np.float32), sample_rate=SR)


def test_text_errors(mulan):
    encoder = StyleEncoder(mulan)
    with pytest.raises(InvalidRequest):
        encoder.embed_text("   ")
    with pytest.raises(InvalidRequest):
        encoder.embed_text([])
    with pytest.raises(InvalidRequest, match="too long"):
        encoder.embed_text("piano " * 600)


class ForwardCounter:
    """Counts audio-tower forward passes through a forward hook (no patching)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.calls += 1


def test_reused_reference_costs_nothing(mulan, wave, tmp_path):
    path = tmp_path / "ref.flac"
    sf.write(path, wave[: 12 * SR], SR)
    counter = ForwardCounter(mulan.model.audio)
    try:
        first = StyleEncoder(mulan, cache_dir=tmp_path / "cache")
        a = first.embed_audio(path)
        computed = counter.calls
        assert computed > 0
        assert torch.equal(first.embed_audio(path), a)  # memory cache
        copy = tmp_path / "same-content.flac"
        shutil.copy(path, copy)
        assert torch.equal(first.embed_audio(copy), a)  # keyed by content, not by name
        second = StyleEncoder(mulan, cache_dir=tmp_path / "cache")  # a new encoder: the disk cache
        assert torch.equal(second.embed_audio(path), a)
        assert counter.calls == computed
        assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
        stricter = StyleEncoder(mulan, cache_dir=tmp_path / "cache", max_seconds=5.0)
        with pytest.raises(InvalidRequest, match="limit"):
            stricter.embed_audio(path)
    finally:
        counter.handle.remove()


def test_scale_style():
    e = torch.randn(512)
    assert torch.equal(scale_style(e, 0), torch.zeros(512))
    assert torch.equal(scale_style(e, 1), e)
    torch.testing.assert_close(scale_style(e, 2.5), 2.5 * e)
    assert torch.equal(scale_style(e, 10), 10 * e)
    for bad in (-0.1, 10.5, float("nan"), float("inf"), None, True):
        with pytest.raises(InvalidRequest, match="strength"):
            scale_style(e, bad)


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """The real dispatcher in-process (a subprocess would spend seconds importing torch): (status, stderr)."""
    status = cli_main(list(args))
    return status, capsys.readouterr().err


def test_embed_cli_writes_float32_512(mulan, tiny, wave, tmp_path, capsys):
    audio = tmp_path / "ref.wav"
    sf.write(audio, wave[: 4 * SR], SR, subtype="FLOAT")
    out = tmp_path / "emb.npy"
    status, err = run_cli(capsys, "embed", "--style", str(tiny), "--audio", str(audio), "--out", str(out))
    assert status == 0, err
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (512,)
    np.testing.assert_allclose(got, StyleEncoder(mulan).embed_audio(audio).numpy(), atol=1e-7)
    status, err = run_cli(capsys, "embed", "--style", str(tiny), "--text", "hopeful piano", "--out", str(out))
    assert status == 0, err
    np.testing.assert_allclose(np.load(out), StyleEncoder(mulan).embed_text("hopeful piano").numpy(), atol=1e-7)


def test_embed_cli_bad_input_is_one_line_exit_2(tiny, tmp_path, capsys):
    corrupt = tmp_path / "bad.wav"
    corrupt.write_bytes(b"RIFF" + b"\x00" * 100)
    out = tmp_path / "emb.npy"
    for args in (
        ["--style", str(tiny), "--audio", str(corrupt)],
        ["--style", str(tmp_path / "nowhere"), "--text", "piano"],
        ["--style", str(tiny), "--audio", str(tmp_path / "missing.wav")],
    ):
        status, err = run_cli(capsys, "embed", *args, "--out", str(out))
        assert status == 2, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
        assert not out.exists()


def test_half_precision_weights_stay_close(tiny, mulan, wave):
    """bf16 weights: the mel still runs in float32 and latents come out float32, near the fp32 ones."""
    half = StyleEncoder.load(tiny, "bfloat16")
    full = StyleEncoder(mulan)
    got = half.embed_audio(wave[: 12 * SR], sample_rate=SR)
    assert got.dtype == torch.float32
    assert float((got - full.embed_audio(wave[: 12 * SR], sample_rate=SR)).abs().max()) < 5e-3
    assert float((half.embed_text("hopeful piano") - full.embed_text("hopeful piano")).abs().max()) < 5e-3
