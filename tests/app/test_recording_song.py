"""Start from a recording through the Studio: the tiny HeartCodec encoder (paired with HeartCodec-tiny, whose
quantizer is 64 wide like the encoder's output), the tiny pipeline and a real History. The recording becomes a
song whose take holds its tokens, with the recording kept beside it; continuing it is `continue_song` unchanged."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from app.studio.errors import JobCancelled, explain
from app.studio.history import ParentLink
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet
from app.studio.recordings import RecordingKept
from app.studio.service import Studio
from heartmula_core.codec.encoder import load_encoder
from heartmula_core.request import cut_at
from tests.conftest import FIXTURES, HEARTMULA_REF

from .conftest import tiny_settings

ENCODER = FIXTURES / "heartcodec_encoder" / "HeartCodec-encoder-tiny"
CODEC = HEARTMULA_REF / "tiny" / "HeartCodec-tiny"
SHEET = Sheet(tags="pop,piano", lyrics="[verse]\nhum along")


def recording_studio(data: Path, **settings: object) -> Studio:
    return Studio(tiny_settings(data).model_copy(update={"encoder_dir": ENCODER, **settings}))


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    return recording_studio(tmp_path_factory.mktemp("data"))


def tone(path: Path, seconds: float, rate: int = 44_100, channels: int = 2) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    sf.write(path, np.stack([wave] * channels, axis=1).astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tone(tmp_path_factory.mktemp("upload") / "my demo.wav", 2.0)


def run(events) -> list:
    return list(events)


@pytest.fixture(scope="module")
def kept(studio: Studio, demo: Path):
    events = run(studio.keep_recording(demo, SHEET))
    assert isinstance(events[-1], Finished)
    return events


def test_the_recording_is_kept_as_a_song_of_its_tokens(studio: Studio, demo: Path, kept) -> None:
    song = kept[-1].song
    encoding = [e for e in kept if isinstance(e, Progress) and e.phase == "encoding"]
    assert encoding and encoding[-1].done == encoding[-1].total == 1  # one 29.76 s chunk
    tokens = np.load(song.takes[0].tokens)
    audio, rate = sf.read(demo, dtype="float32", always_2d=True)
    expected = load_encoder(ENCODER, CODEC).tokenize(audio.T, rate).numpy()
    assert tokens.dtype == np.int64 and tokens.shape == (26, 8)  # int(2 s x 12.5) + 1
    np.testing.assert_array_equal(tokens, expected)
    assert song.settings["origin"] == "recording" and song.settings["recording_name"] == "my demo.wav"
    assert song.title == "my demo (recording)" and song.tags == SHEET.tags and song.lyrics == SHEET.lyrics
    assert song.seconds == pytest.approx(26 / 12.5) and song.parent is None
    assert song.recording is not None and song.recording.name == "recording.wav"
    assert song.recording.read_bytes() == demo.read_bytes()
    before, _ = sf.read(song.takes[0].audio, dtype="float32")
    again = studio.redecode(song.id, 1)  # the take is what its tokens decode to with its seed
    after, _ = sf.read(again.audio, dtype="float32")
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_the_recordings_take_keeps_its_codec_latents(studio: Studio, kept) -> None:
    """As a made take does: a continuation of the recording then reuses its decode instead of running it again."""
    take = studio.song(kept[-1].song.id).takes[0]  # as it is now (a test above rendered it again)
    assert take.codec_tails is not None
    decoded = studio.music.decode(studio.settings.lm_variant, np.load(take.tokens), take.codec_seed)
    np.testing.assert_array_equal(np.load(take.codec_tails), decoded.codec_tails)  # (windows, 168, 256)


def test_extending_a_recording_links_to_it_and_keeps_its_tokens(studio: Studio, demo: Path) -> None:
    events = run(studio.continue_recording(demo, SHEET, "extend", seconds=1.0, new_lyrics="[chorus]\nla la",
                                           music=MusicSettings(variants=1, seed=4)))
    (announced,) = [e for e in events if isinstance(e, RecordingKept)]
    recording, child = announced.song, events[-1].song
    assert child.parent == ParentLink(recording.id, 1, "extend", 26 / 12.5)
    assert child.lyrics == SHEET.lyrics + "\n\n[chorus]\nla la" and child.tags == SHEET.tags
    old, new = np.load(recording.takes[0].tokens), np.load(child.takes[0].tokens)
    assert len(new) > len(old) and np.array_equal(new[: len(old)], old)
    assert child.takes[0].decode_seed == recording.takes[0].seed
    assert child.recording is not None and child.recording.read_bytes() == demo.read_bytes()
    assert [s.id for s in studio.children(recording.id)] == [child.id]
    studio.delete(recording.id)  # the child keeps its own tokens, audio and copy of the recording
    whole = studio.song(child.id)
    assert whole.takes[0].tokens.is_file() and whole.takes[0].audio.is_file() and whole.recording.is_file()


def test_redo_from_a_time_of_a_kept_recording(studio: Studio, kept) -> None:
    recording = kept[-1].song
    child = run(studio.continue_song(recording.id, 1, "redo", seconds=2.0, from_seconds=1.2,
                                     music=MusicSettings(variants=1, seed=5)))[-1].song
    kept_frames = cut_at(1.2)
    assert child.parent == ParentLink(recording.id, 1, "redo", kept_frames / 12.5)
    old, new = np.load(recording.takes[0].tokens), np.load(child.takes[0].tokens)
    assert np.array_equal(new[:kept_frames], old[:kept_frames])
    assert child.lyrics == recording.lyrics and child.recording is not None


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = explain(exc.value)
    assert text is not None and "\n" not in text and "Traceback" not in text
    return text


def nothing_kept(studio: Studio, before: int) -> None:
    assert len(studio.history) == before
    assert not [p for p in studio.history.songs_dir.iterdir() if p.name.startswith(".")]


def write_bad(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "silent":
        sf.write(path, np.zeros((24_000, 2), np.float32), 24_000)
    elif kind == "corrupt":
        path = folder / "corrupt.mp3"
        path.write_bytes(b"ID3" + bytes(range(256)) * 20)
    elif kind == "too-long":
        tone(path, 3.0, rate=8_000)
    elif kind == "one-sample":
        sf.write(path, np.full((1, 1), 0.5, np.float32), 48_000)
    elif kind == "nan":
        t = np.arange(8_000) / 8_000
        wave = np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32)
        wave[100, 0] = np.nan
        sf.write(path, wave, 8_000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [("empty", "is empty"), ("silent", "silent"), ("corrupt", "not a readable audio file"),
     ("too-long", "longer than the 2 s limit"), ("one-sample", "too short"), ("nan", "NaN")],
)
def test_bad_recordings_are_one_clear_line_and_keep_nothing(tmp_path: Path, studio: Studio, kind: str,
                                                            words: str) -> None:
    short = Studio(studio.settings.model_copy(update={"max_recording_audio_s": 2.0}), music=studio.music)
    path = write_bad(tmp_path, kind)
    before = len(short.history)
    for start in (lambda: short.keep_recording(path, SHEET),
                  lambda: short.continue_recording(path, SHEET, "extend", seconds=1.0)):
        with pytest.raises(Exception) as exc:
            start()  # refused at once, before any event
        line = one_line(exc)
        assert words in line and path.name in line and str(path.parent) not in line
    nothing_kept(short, before)


@pytest.mark.parametrize(
    ("sheet", "kind", "args", "words"),
    [
        (Sheet(lyrics="la"), "extend", {"seconds": 1.0}, "Give the recording its tags"),
        (Sheet(tags="pop"), "redo", {"seconds": 3.0, "from_seconds": 1.0}, "needs words to sing"),
        (Sheet(tags="pop"), "extend", {"seconds": 1.0}, "or new lyrics for the extension"),
        (SHEET, "redo", {"seconds": 3.0, "from_seconds": 2.5}, "inside the recording: after 0:00 and before 0:02"),
        (SHEET, "redo", {"seconds": 1.0, "from_seconds": 1.5}, "longer than the part it keeps"),
        (SHEET, "redo", {"seconds": 3.0}, "Say from when"),
        (SHEET, "extend", {"seconds": 0.0}, "how many seconds to add"),
        (SHEET, "extend", {"seconds": 1.0, "fill": frozenset({"tags"})}, "Only the new lyrics"),
    ],
)
def test_bad_continuations_are_refused_before_encoding(studio: Studio, demo: Path, sheet, kind, args,
                                                       words) -> None:
    before = len(studio.history)
    with pytest.raises(ValueError, match=words):
        studio.continue_recording(demo, sheet, kind, **args)
    nothing_kept(studio, before)


def test_a_missing_encoder_names_the_model_and_how_to_get_it(tmp_path: Path, demo: Path) -> None:
    studio = recording_studio(tmp_path / "data", encoder_dir=tmp_path / "no-encoder", ckpt_dir=tmp_path / "ckpt")
    with pytest.raises(Exception) as exc:
        studio.keep_recording(demo, SHEET)
    line = one_line(exc)
    assert "HeartCodec encoder" in line and "'encoder'" in line and "download encoder" in line
    assert studio.recording_missing() == line
    nothing_kept(studio, 0)


def test_an_encoder_paired_with_a_codec_of_another_width(tmp_path: Path, demo: Path) -> None:
    """A codec whose quantizer is 128 wide cannot quantize the tiny encoder's 64-wide vectors."""
    codec = tmp_path / "codec"
    shutil.copytree(CODEC, codec)
    config = json.loads((codec / "config.json").read_text())
    (codec / "config.json").write_text(json.dumps(config | {"dim": 128, "in_channels": 2 * config["out_channels"] + 128}))
    tensors = {"flow_matching.vq_embed.project_in.weight": torch.zeros(32, 128)}
    tensors |= {f"flow_matching.vq_embed.layers.{i}._codebook.embed": torch.zeros(1, 8192, 32) for i in range(8)}
    save_file(tensors, codec / "model.safetensors")
    studio = recording_studio(tmp_path / "data", codec_dir=codec)
    with pytest.raises(Exception) as exc:
        run(studio.keep_recording(demo, SHEET))
    assert "output width 64 does not match the quantizer width 128" in one_line(exc)
    nothing_kept(studio, 0)


def test_stop_while_encoding_keeps_nothing(tmp_path: Path, studio: Studio) -> None:
    long = tone(tmp_path / "long.wav", 65.0, rate=8_000)  # three 29.76 s chunks
    before = len(studio.history)
    events = studio.keep_recording(long, SHEET, session="stopper")
    seen = []
    with pytest.raises(JobCancelled):
        for event in events:
            if isinstance(event, Progress) and event.phase == "encoding":
                seen.append(event.done)
                studio.stop("stopper")
    assert seen and seen[0] < 3  # stopped before the last chunk
    with studio.device_queue.turn(lambda place: None, threading.Event()):
        pass  # the stopped job has wound down and let go of the device
    nothing_kept(studio, before)
