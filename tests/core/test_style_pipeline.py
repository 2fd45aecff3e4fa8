"""Style conditioning through MusicPipeline and `generate` on the tiny checkpoints (HeartMuLa + MuQ-MuLan)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.cli import main as cli_main
from heartmula_core.errors import InvalidRequest
from heartmula_core.hub import MusicModels
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import MusicRequest
from heartmula_core.progress import Phase

SONG = dict(tags="pop,piano,happy", lyrics="[verse]\nthe sun is up\n[chorus]\nla la la", seconds=1.0, seed=7)
SR = 24000


@pytest.fixture(scope="module")
def models(heartmula_ref: Path) -> MusicModels:
    tiny = heartmula_ref / "tiny"
    return MusicModels(tiny / "HeartMuLa-tiny", tiny / "HeartMuLaGen-tiny", tiny / "HeartCodec-tiny")


@pytest.fixture(scope="module")
def style_folder(muq_ref: Path) -> Path:
    return muq_ref / "tiny" / "MuQ-MuLan-tiny"


@pytest.fixture(scope="module")
def reference(muq_ref: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with np.load(muq_ref / "golden_tiny.npz") as data:
        wave = data["audio10_wav"][: 4 * SR]
    path = tmp_path_factory.mktemp("ref") / "reference.flac"
    sf.write(path, wave, SR)
    return path


@pytest.fixture(scope="module")
def pipeline(models, style_folder) -> MusicPipeline:
    return MusicPipeline(models, decode_steps=1, style_model=style_folder)


def test_strength_zero_reproduces_no_style_and_one_changes_the_tokens(heartmula_ref, style_folder, reference):
    # The "sharp" tiny LM: its peaked distributions let a unit-norm style row move the sampled codes
    # (the plain tiny LM is so flat that its samples barely react to the prompt at all).
    tiny = heartmula_ref / "tiny"
    models = MusicModels(tiny / "HeartMuLa-sharp", tiny / "HeartMuLaGen-tiny", tiny / "HeartCodec-tiny")
    pipeline = MusicPipeline(models, decode_steps=1, style_model=style_folder)
    song = {**SONG, "seconds": 3.0}
    plain = pipeline.generate(MusicRequest(**song)).tokens[0]
    zero = pipeline.generate(MusicRequest(**song, style_audio=reference, style_strength=0)).tokens[0]
    assert pipeline.loaded.style is None  # strength 0 never loads MuQ-MuLan
    np.testing.assert_array_equal(zero, plain)
    one = pipeline.generate(MusicRequest(**song, style_audio=reference, style_strength=1)).tokens[0]
    assert not np.array_equal(one, plain)
    text = pipeline.generate(MusicRequest(**song, style_text="warm piano", style_strength=3)).tokens[0]
    assert not np.array_equal(text, plain)


def test_the_style_vector_is_the_scaled_embedding(pipeline, reference):
    from heartmula_core.style import StyleEncoder

    encoder = StyleEncoder.load(pipeline.style_model)
    embedding = encoder.embed_audio(reference)
    got = pipeline.style_vector(MusicRequest(**SONG, style_audio=reference, style_strength=2.5))
    np.testing.assert_allclose(got.numpy(), 2.5 * embedding.numpy(), atol=1e-7)
    text = pipeline.style_vector(MusicRequest(**SONG, style_text="warm piano", style_strength=1))
    np.testing.assert_array_equal(text.numpy(), encoder.embed_text("warm piano").numpy())
    ready = pipeline.style_vector(MusicRequest(**SONG, style=embedding.numpy(), style_strength=3))
    np.testing.assert_allclose(ready.numpy(), 3 * embedding.numpy(), rtol=1e-6)
    assert pipeline.style_vector(MusicRequest(**SONG)) is None


@pytest.mark.parametrize("kind", ["corrupt", "empty", "too long"])
def test_bad_reference_fails_before_generation_starts(models, style_folder, tmp_path, muq_ref, kind):
    path = tmp_path / "ref.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF" + bytes(range(200)))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        with np.load(muq_ref / "golden_tiny.npz") as data:
            sf.write(path, data["audio10_wav"][: 3 * SR], SR)
    pipeline = MusicPipeline(models, decode_steps=1, style_model=style_folder, style_max_seconds=2.0)
    events = []
    with pytest.raises(InvalidRequest, match="empty|not a readable|limit"):
        pipeline.generate(MusicRequest(**SONG, style_audio=path), progress=events.append)
    assert pipeline.lm is None and pipeline.codec is None
    assert not [e for e in events if e.phase is Phase.TOKENS]


@pytest.mark.parametrize(
    "style, message",
    [
        (dict(style_audio="nowhere.wav"), "no such file"),
        (dict(style_text="  "), "empty"),
        (dict(style_text="piano", style_audio=np.zeros(SR), style_audio_rate=SR), "one style source"),
        (dict(style_audio=np.zeros(SR)), "sample rate"),
        (dict(style_text="piano", style_strength=11), "strength"),
        (dict(style_text="piano", style_strength=-1), "strength"),
    ],
)
def test_bad_style_requests(style, message):
    with pytest.raises(InvalidRequest, match=message):
        MusicRequest(**SONG, **style)


def test_generate_cli_with_style_audio_and_text(models, style_folder, reference, tmp_path, capsys):
    base = ["generate", "--tags", "pop,piano", "--lyrics", "[verse]\\nla la", "--seconds", "0.5", "--seed", "3",
            "--lm", str(models.lm), "--gen", str(models.gen), "--codec", str(models.codec), "--steps", "1",
            "--device", "cpu", "--style", str(style_folder)]
    for extra in (["--style-audio", str(reference)], ["--style-text", "warm piano", "--style-strength", "2"]):
        out = tmp_path / f"song-{extra[0][2:]}.wav"
        status = cli_main([*base, *extra, "--out", str(out)])
        assert status == 0, capsys.readouterr().err
        assert sf.info(out).samplerate == 48000
        capsys.readouterr()
    status = cli_main([*base, "--style-audio", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.wav")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()
