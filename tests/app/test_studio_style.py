"""Compose with a style (a text or a reference recording) through the Studio and the real tiny pipeline.

The app hands the style to `MusicPipeline` as request fields; these tests check that the kept song is exactly
what the pipeline makes from the same request, that a reference is embedded once and cached under the data
folder, and that a bad reference is one clear line that keeps nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.settings import load_settings
from app.studio.errors import explain
from app.studio.jobs import Finished, MusicSettings, Sheet
from app.studio.service import Studio
from heartmula_core.errors import InvalidRequest, ModelNotAvailable
from heartmula_core.hub import MusicModels
from heartmula_core.pipeline import MusicPipeline
from heartmula_core.request import MusicRequest
from tests.conftest import HEARTMULA_REF, MUQ_REF

TINY = HEARTMULA_REF / "tiny"
STYLE = MUQ_REF / "tiny" / "MuQ-MuLan-tiny"
MUQ_SR = 24000
SHEET = Sheet(description="tiny", title="Styled", lyrics="[verse]\nthe sun is up\n[chorus]\nla la", tags="pop,piano",
              seconds=2.0)


def reference_file(folder: Path, seconds: float) -> Path:
    """A reference recording cut from the MuQ-MuLan golden waveform (chords, bass and kicks)."""
    with np.load(MUQ_REF / "golden_tiny.npz") as data:
        wave = data["audio10_wav"][: int(seconds * MUQ_SR)]
    path = folder / f"reference-{seconds:g}s.flac"
    sf.write(path, wave, MUQ_SR)
    return path


def studio(tmp_path: Path, **settings) -> Studio:
    # The "sharp" tiny LM: its peaked distributions let the style row move the sampled codes.
    values = dict(data_dir=tmp_path / "data", lm_dir=TINY / "HeartMuLa-sharp", gen_dir=TINY / "HeartMuLaGen-tiny",
                  codec_dir=TINY / "HeartCodec-tiny", style_dir=STYLE, device="cpu", dtype="float32")
    return Studio(load_settings(Path("/dev/null"), **(values | settings)))


def compose(studio: Studio, music: MusicSettings):
    events = list(studio.compose(SHEET, frozenset(), music, None))
    assert isinstance(events[-1], Finished)
    return events[-1].song


def kept_tokens(song) -> list[np.ndarray]:
    return [np.load(take.tokens) for take in song.takes]


@pytest.fixture(scope="module")
def plain_pipeline() -> MusicPipeline:
    models = MusicModels(TINY / "HeartMuLa-sharp", TINY / "HeartMuLaGen-tiny", TINY / "HeartCodec-tiny")
    return MusicPipeline(models, style_model=STYLE)


def request(**style) -> MusicRequest:
    return MusicRequest(tags=SHEET.tags, lyrics=SHEET.lyrics, seconds=SHEET.seconds, variants=1, seed=5, **style)


def test_compose_with_a_style_text_is_what_the_pipeline_makes_from_it(tmp_path: Path, plain_pipeline) -> None:
    song = compose(studio(tmp_path), MusicSettings(variants=1, seed=5, style_text="  warm piano ", style_strength=2))
    expected = plain_pipeline.generate(request(style_text="warm piano", style_strength=2)).tokens[0]
    unstyled = plain_pipeline.generate(request()).tokens[0]
    assert not np.array_equal(expected, unstyled)  # the style reaches the LM
    np.testing.assert_array_equal(kept_tokens(song)[0], expected)
    assert song.settings["style_text"] == "  warm piano " and song.settings["style_strength"] == 2


def test_compose_with_a_reference_embeds_it_once_into_the_cache(tmp_path: Path, plain_pipeline) -> None:
    reference = reference_file(tmp_path, 4.0)
    app = studio(tmp_path)
    music = MusicSettings(variants=1, seed=5, style_audio=str(reference), style_strength=1.5)
    song = compose(app, music)
    expected = plain_pipeline.generate(request(style_audio=reference, style_strength=1.5)).tokens[0]
    np.testing.assert_array_equal(kept_tokens(song)[0], expected)
    cached = list((tmp_path / "data" / "style-cache").rglob("*"))
    assert [p for p in cached if p.is_file()], "the reference embedding was not cached under the data folder"
    # Both given: the recording is the style, the text is not used (the pipeline takes one source).
    both = compose(app, MusicSettings(variants=1, seed=5, style_audio=str(reference), style_text="warm piano",
                                      style_strength=1.5))
    np.testing.assert_array_equal(kept_tokens(both)[0], expected)


def test_the_reference_is_kept_with_the_song_and_loading_it_makes_the_song_again(tmp_path: Path) -> None:
    upload = reference_file(tmp_path, 4.0)  # stands for the page's temp upload, gone once the song is kept
    app = studio(tmp_path)
    song = compose(app, MusicSettings(variants=1, seed=5, style_audio=str(upload), style_strength=1.5))
    kept = song.style_reference
    assert kept is not None and kept.parent == song.folder and kept.name == "style-reference.flac"
    assert kept.read_bytes() == upload.read_bytes()
    assert "style_audio" not in song.settings  # no temp path in song.json
    upload.unlink()
    # "Load into Create": the same settings and style, from the history alone.
    again = MusicSettings.of_song(app.history.get(song.id))
    assert again == MusicSettings(variants=1, seed=5, style_audio=str(kept), style_strength=1.5)
    np.testing.assert_array_equal(kept_tokens(compose(app, again))[0], kept_tokens(song)[0])
    # Deleting the song deletes its copy of the reference too.
    app.history.delete(song.id)
    assert not kept.exists()


def test_a_style_text_comes_back_with_the_song(tmp_path: Path) -> None:
    app = studio(tmp_path)
    music = MusicSettings(variants=1, seed=5, cfg=2.0, topk=40, style_text="warm piano", style_strength=0.5)
    song = compose(app, music)
    assert song.style_reference is None and list(song.folder.glob("style-reference*")) == []
    assert MusicSettings.of_song(app.history.get(song.id)) == music


def test_strength_zero_makes_the_unstyled_song(tmp_path: Path, plain_pipeline) -> None:
    song = compose(studio(tmp_path), MusicSettings(variants=1, seed=5, style_text="warm piano", style_strength=0))
    np.testing.assert_array_equal(kept_tokens(song)[0], plain_pipeline.generate(request()).tokens[0])


@pytest.mark.parametrize("kind", ["corrupt", "too long"])
def test_a_bad_reference_is_one_clear_line_and_keeps_nothing(tmp_path: Path, kind: str) -> None:
    if kind == "corrupt":
        reference = tmp_path / "broken.wav"
        reference.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    else:
        reference = reference_file(tmp_path, 3.0)
    app = studio(tmp_path, max_style_audio_s=2.0)
    with pytest.raises(InvalidRequest) as caught:
        list(app.compose(SHEET, frozenset(), MusicSettings(variants=1, style_audio=str(reference)), None))
    message = explain(caught.value)
    assert message and "\n" not in message
    assert ("not a readable audio file" if kind == "corrupt" else "limit") in message
    assert len(app.history) == 0 and app.music.loaded == []


def test_a_style_without_the_style_model_says_so_before_any_work(tmp_path: Path) -> None:
    app = studio(tmp_path, style_dir=tmp_path / "no-such-folder")
    with pytest.raises(ModelNotAvailable) as caught:
        list(app.compose(SHEET, frozenset(), MusicSettings(variants=1, style_text="warm piano"), None))
    assert "Models & Settings" in explain(caught.value)
    assert len(app.history) == 0 and app.music.loaded == []


def sixty_byte_wav(folder: Path, promised: int | None = None) -> Path:
    """A 60-byte WAV: its header and 8 samples, or (`promised`) a header promising more data than follows."""
    import struct

    path = folder / "tiny-reference.wav"
    if promised is None:
        sf.write(path, np.zeros(8, np.int16), 48000, subtype="PCM_16")
    else:
        header = (b"RIFF" + struct.pack("<I", promised) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 48000, 192000, 4, 16)
                  + b"data" + struct.pack("<I", promised))
        path.write_bytes(header + bytes(60 - len(header)))
    assert path.stat().st_size == 60
    return path


@pytest.mark.parametrize("promised", [None, 100_000])
def test_a_reference_too_short_to_embed_is_refused_as_embed_refuses_it(tmp_path: Path, capsys, promised) -> None:
    from heartmula_core.cli import main

    reference = sixty_byte_wav(tmp_path, promised)
    assert main(["embed", "--style", str(STYLE), "--audio", str(reference), "--out", str(tmp_path / "s.npy")]) == 2
    said_by_embed = capsys.readouterr().err.strip().removeprefix("error: ")
    app = studio(tmp_path)
    with pytest.raises(InvalidRequest) as caught:  # what the page shows on upload (and Compose checks again)
        app.check_reference(str(reference))
    said_by_page = explain(caught.value)
    assert said_by_page == said_by_embed.replace(str(reference), reference.name)
    assert "too short" in said_by_page and "\n" not in said_by_page
    with pytest.raises(InvalidRequest, match="too short"):
        list(app.compose(SHEET, frozenset(), MusicSettings(variants=1, style_audio=str(reference)), None))
    assert len(app.history) == 0 and app.music.loaded == []
