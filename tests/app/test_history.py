"""The song history: atomic saves, FTS search, sort, delete, sweeping leftovers, no secrets on disk."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.studio.errors import DiskFull, SongNotFound, disk_errors
from app.studio.history import History, NewTake
from app.studio.history_db import fts_query
from app.studio.song_files import Decoded

SR = 48000


def _take(seed: int, seconds: float = 0.25) -> NewTake:
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal((2, int(SR * seconds))) * 0.1).astype(np.float32)  # (channels, samples)
    tokens = rng.integers(0, 8192, size=(int(12.5 * seconds), 8))  # (frames, codebooks)
    return NewTake(audio=audio, sample_rate=SR, seed=seed, tokens=tokens)


def _save(history: History, title: str = "Summer Roads", lyrics: str = "[verse]\nwe drive into the sun", **kw):
    fields = dict(description="energetic summer pop", tags="pop,happy", seconds=0.25, takes=[_take(1), _take(2)])
    fields.update(kw)
    return history.save(title=title, lyrics=lyrics, **fields)


def _leftovers(history: History) -> list[str]:
    return sorted(p.name for p in history.songs_dir.iterdir())


def test_save_keeps_audio_tokens_and_sheet(tmp_path: Path) -> None:
    history = History(tmp_path)
    take = _take(7)
    song = history.save(
        title="T", description="d", lyrics="l", tags="rock", seconds=0.25, takes=[take], settings={"seed": 7}
    )
    again = History(tmp_path).get(song.id)  # a fresh instance reads the same song back
    assert again == song
    assert (again.title, again.description, again.lyrics, again.tags, again.settings) == ("T", "d", "l", "rock", {"seed": 7})
    audio, sr = sf.read(again.takes[0].audio, always_2d=True)
    assert sr == SR and audio.shape == (take.audio.shape[1], 2)
    np.testing.assert_allclose(audio.T, take.audio, atol=1e-6)  # 24-bit FLAC: lossless to ~6e-8
    np.testing.assert_array_equal(np.load(again.takes[0].tokens), take.tokens)
    assert again.takes[0].seed == 7


def test_search_by_any_field_as_prefix_and_sort(tmp_path: Path) -> None:
    history = History(tmp_path)
    a = _save(history, title="Beta song", lyrics="[chorus]\nlanterns over the harbour")
    b = _save(history, title="alpha song", lyrics="[verse]\nmidnight train", tags="blues,sad")
    assert [s.id for s in history.search("lantern")] == [a.id]  # a prefix of a lyric word
    assert [s.id for s in history.search("BLUES")] == [b.id]  # tags, any case
    assert {s.id for s in history.search("song")} == {a.id, b.id}
    assert history.search("song harbour") == [history.get(a.id)]  # every word must match
    assert history.search("nothing-like-this") == []
    assert [s.title for s in history.search("", sort="title")] == ["alpha song", "Beta song"]
    assert [s.id for s in history.search(sort="oldest")] == [a.id, b.id]
    assert [s.id for s in history.search(sort="newest")] == [b.id, a.id]


@pytest.mark.parametrize("odd", ['"', "'", "(", "NEAR(", "a AND", "*", "-", "OR", "title:x", "^", '"unclosed', "💥", ""])
def test_odd_search_input_never_errors(tmp_path: Path, odd: str) -> None:
    history = History(tmp_path)
    _save(history)
    assert isinstance(history.search(odd), list)


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('he said "hi" AND near(') == '"he"* "said"* "hi"* "AND"* "near"*'
    assert fts_query("  --  ") == ""


def test_delete_removes_row_and_files(tmp_path: Path) -> None:
    history = History(tmp_path)
    song = _save(history)
    assert song.folder is not None and song.folder.is_dir()
    history.delete(song.id)
    assert not song.folder.exists()
    assert history.search("sun") == [] and len(history) == 0
    with pytest.raises(SongNotFound):
        history.get(song.id)
    with pytest.raises(SongNotFound):
        history.delete(song.id)
    with pytest.raises(SongNotFound):
        history.get("../../etc")  # ids from the page never name a path outside the history


def test_failed_save_leaves_nothing(tmp_path: Path) -> None:
    history = History(tmp_path)
    broken = NewTake(audio=np.zeros((2, 2, 2), np.float32), sample_rate=SR, seed=3)  # not (channels, samples)
    with pytest.raises(ValueError):
        history.save(title="x", description="", lyrics="", tags="", seconds=1, takes=[_take(1), broken])
    assert _leftovers(history) == [] and len(history) == 0


def test_the_style_reference_is_a_copy_kept_with_the_song(tmp_path: Path) -> None:
    history = History(tmp_path / "data")
    upload = tmp_path / "upload-1234.WAV"
    upload.write_bytes(b"reference bytes")
    song = _save(history, style_reference=upload)
    assert song.style_reference == song.folder / "style-reference.wav"
    upload.unlink()
    assert History(tmp_path / "data").get(song.id).style_reference.read_bytes() == b"reference bytes"
    assert _save(history, title="plain").style_reference is None


def test_a_save_refused_at_its_commit_point_leaves_nothing_not_even_the_reference(tmp_path: Path) -> None:
    history = History(tmp_path / "data")
    upload = tmp_path / "upload.flac"
    upload.write_bytes(b"reference bytes")

    def refuse() -> None:  # a Stop that won the race (app/studio/jobs.py KeepGate)
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        _save(history, style_reference=upload, before_commit=refuse)
    assert _leftovers(history) == [] and len(history) == 0


def test_no_secret_reaches_the_disk(tmp_path: Path) -> None:
    history = History(tmp_path)
    settings = {"llm": {"backend": "openai", "api_key": "sk-TOPSECRET", "model": "m"}, "OPENAI_API_KEY": "sk-TOPSECRET"}
    song = _save(history, settings=settings)
    assert song.settings == {"llm": {"backend": "openai", "model": "m"}}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"TOPSECRET" not in path.read_bytes(), path


def test_sweep_removes_leftovers_of_a_crash(tmp_path: Path) -> None:
    history = History(tmp_path)
    kept = _save(history)
    # What a crash can leave: a temp folder of a dead writer, a folder renamed in place but never committed
    # (older than the grace period), and a row whose folder vanished.
    dead_pid = 2**22 + 12345  # above pid_max on Linux: never a live process
    (history.songs_dir / f".tmp-{dead_pid}-20260101-000000-abcdef").mkdir()
    orphan = history.songs_dir / "20260101-000000-000000"
    orphan.mkdir()
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    lost = _save(history, title="lost")
    assert lost.folder is not None
    for path in sorted(lost.folder.iterdir()):
        path.unlink()
    lost.folder.rmdir()

    History(tmp_path)  # opening sweeps
    assert _leftovers(history) == [kept.id]
    assert [s.id for s in history.search()] == [kept.id]
    assert history.search("lost") == []


def test_a_take_rendered_again_switches_to_new_files_and_leaves_no_old_ones(tmp_path: Path) -> None:
    history = History(tmp_path)
    song = _save(history)
    old = song.takes[1]
    history.export(song.id, 2, "wav")  # a download made from the old audio goes with it
    new = np.full((2, 1200), 0.5, np.float32)
    take = history.replace_take_audio(song.id, 2, Decoded(new, SR))
    assert take == history.get(song.id).takes[1] and take.audio != old.audio and take.tokens == old.tokens
    audio, _ = sf.read(take.audio, always_2d=True)
    np.testing.assert_allclose(audio.T, new, atol=1e-6)
    assert _leftovers(history) == [song.id]
    assert sorted(p.name for p in song.folder.iterdir()) == sorted([  # type: ignore[union-attr]
        "song.json", "take-1.flac", "take-1.npy", take.audio.name, "take-2.npy"
    ])
    wav, _ = sf.read(history.export(song.id, 2, "wav"), always_2d=True)  # made again, from the new audio
    np.testing.assert_allclose(wav.T, new, atol=1e-4)
    with pytest.raises(SongNotFound):
        history.replace_take_audio(song.id, 9, Decoded(new, SR))


def test_a_redecoded_take_keeps_its_latents_and_gain_in_step_with_its_audio(tmp_path: Path) -> None:
    """What a continuation reuses of a take (its codec latents, and the gain to turn its audio back up by) must
    be those of the audio now on disk, not of the decode before."""
    history = History(tmp_path)
    song = _save(history)
    tails = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    take = history.replace_take_audio(song.id, 1, Decoded(np.full((2, 1200), 2.0, np.float32), SR, tails))
    assert take == history.get(song.id).takes[0] and take.codec_tails is not None
    np.testing.assert_array_equal(np.load(take.codec_tails), tails)
    assert take.gain < 1.0  # too loud: written turned down, and the take says by how much
    np.testing.assert_allclose(sf.read(take.audio, always_2d=True)[0].T / take.gain, 2.0, rtol=1e-3)
    quiet = history.replace_take_audio(song.id, 1, Decoded(np.full((2, 1200), 0.25, np.float32), SR))
    assert quiet.gain == 1.0 and quiet.codec_tails is None  # an engine that gave no latents: the stale ones go
    assert sorted(p.name for p in song.folder.iterdir()) == sorted([  # type: ignore[union-attr]
        "song.json", quiet.audio.name, "take-1.npy", "take-2.flac", "take-2.npy"
    ])


def test_disk_full_is_a_clear_error() -> None:
    # /dev/full answers every write with ENOSPC: a real full disk, without filling one.
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with pytest.raises(DiskFull, match="disk is full"):
        with disk_errors("/data"), open("/dev/full", "wb") as f:
            f.write(b"x" * 65536)
            f.flush()


def test_song_json_is_plain_readable_json(tmp_path: Path) -> None:
    history = History(tmp_path)
    song = _save(history, title="Été à Paris")
    meta = json.loads((song.folder / "song.json").read_text(encoding="utf-8"))  # type: ignore[operator]
    assert meta["title"] == "Été à Paris" and [t["seed"] for t in meta["takes"]] == [1, 2]
    assert history.search("ete") == [history.get(song.id)]  # diacritics folded for search


def test_export_every_download_format(tmp_path: Path) -> None:
    history = History(tmp_path)
    song = _save(history)
    for fmt in ("wav", "flac", "mp3", "ogg"):
        path = history.export(song.id, 2, fmt)
        assert path.suffix == f".{fmt}" and path.parent == song.folder
        info = sf.info(path)
        assert info.samplerate == SR and info.channels == 2 and abs(info.duration - 0.25) < 0.06
    with pytest.raises(ValueError):
        history.export(song.id, 1, "exe")
    history.delete(song.id)  # exports go with the song
    assert _leftovers(history) == []


def test_a_data_folder_that_cannot_be_made_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    for folder in (tmp_path / "a-file", tmp_path / "a-file" / "below"):
        with pytest.raises(OSError) as err:
            History(folder)
        message = str(err.value)
        assert message.startswith(f"the data folder {folder} cannot be used (") and "HEARTSONG_DATA_DIR" in message
        assert "\n" not in message and "Errno" not in message
