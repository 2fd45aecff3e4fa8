"""Render again is all or nothing: a take rendered again shows its old audio, latents and gain, or its new ones,
never a mix, whichever step fails; and what an interrupted render leaves is swept when the history next opens.

Each step fails for real on a small tmpfs of the test's own (tests/app/tmpfs.py, root only): the disk full in
bytes (the new audio), no file left to make (the new latents, the new song.json beside the old one), song.json
immutable (the commit: its rename over the old one) and the old audio immutable (its removal after the commit).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.studio.errors import DiskFull
from app.studio.history import History, NewTake, Song
from app.studio.song_files import Decoded

from .tmpfs import mounted_tmpfs, set_immutable

SR = 48000
OLD_TAILS = np.zeros((2, 3, 4), np.float32)  # (windows, frames, channels): the first decode's latents
NEW_TAILS = np.full((2, 3, 4), 7.0, np.float32)


@pytest.fixture
def disk() -> Iterator[Path]:
    """16 MB and 200 files: room for a history, and a limit on files a test can bring down to the last one."""
    with mounted_tmpfs("size=16m,nr_inodes=200") as mount:
        yield mount


def kept_song(data: Path) -> tuple[History, Song]:
    history = History(data, reserve_bytes=0)  # a small disk: no room kept free, so it can be filled
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (2, SR // 4)).astype(np.float32)
    take = NewTake(audio, SR, 1, np.zeros((3, 8), np.int64), codec_tails=OLD_TAILS)
    return history, history.save(title="Song", description="", lyrics="", tags="pop", seconds=0.25, takes=[take])


def render_again(history: History, song: Song) -> None:
    loud = np.full((2, SR // 4), 2.0, np.float32)  # written turned down: a new gain comes with the new audio
    history.replace_take_audio(song.id, 1, Decoded(loud, SR, NEW_TAILS))


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_take_as_it_was(history: History, song: Song, before: dict[str, bytes]) -> None:
    """The folder byte for byte as before the render (no new file left), and the take readable through it."""
    assert song.folder is not None and files(song.folder) == before
    take = history.get(song.id).takes[0]
    assert take == song.takes[0] and take.gain == 1.0
    np.testing.assert_array_equal(np.load(take.codec_tails), OLD_TAILS)
    assert history.export(song.id, 1, "flac") == take.audio and sf.read(take.audio)[0].shape == (SR // 4, 2)


def fill_bytes(disk: Path) -> None:
    """Another program takes every byte left."""
    with open(disk / "ballast", "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    assert os.statvfs(disk).f_bavail == 0


def leave_files(disk: Path, room: int) -> None:
    """Another program makes files until only `room` more can be made."""
    (disk / "ballast").mkdir()
    while os.statvfs(disk).f_ffree > room:
        (disk / "ballast" / str(os.statvfs(disk).f_ffree)).touch()
    assert os.statvfs(disk).f_ffree == room


def test_a_full_disk_while_writing_the_new_audio_leaves_the_take_as_it_was(disk: Path) -> None:
    history, song = kept_song(disk / "data")
    before = files(song.folder)  # type: ignore[arg-type]
    fill_bytes(disk)
    with pytest.raises(DiskFull, match="^The disk is full"):
        render_again(history, song)
    assert_take_as_it_was(history, song, before)


@pytest.mark.parametrize(("room", "failing"), [(1, ".codec.npy"), (2, ".song.json.")])
def test_no_room_for_the_new_latents_or_song_json_leaves_the_take_as_it_was(disk: Path, room: int,
                                                                         failing: str) -> None:
    # The new audio takes one file; with `room` files the latents (1) or the new song.json (2) cannot be made.
    history, song = kept_song(disk / "data")
    before = files(song.folder)  # type: ignore[arg-type]
    leave_files(disk, room)
    with pytest.raises(DiskFull, match="^The disk is full") as refused:
        render_again(history, song)
    assert failing in str(refused.value.__cause__.filename)  # the step meant to fail is the one that did
    assert_take_as_it_was(history, song, before)


def test_a_failed_commit_leaves_the_take_as_it_was(disk: Path) -> None:
    history, song = kept_song(disk / "data")
    song_json = song.folder / "song.json"  # type: ignore[operator]
    before = files(song.folder)  # type: ignore[arg-type]
    set_immutable(song_json, True)  # the rename of the new song.json over it fails
    try:
        with pytest.raises(PermissionError):
            render_again(history, song)
        assert_take_as_it_was(history, song, before)
    finally:
        set_immutable(song_json, False)


def test_old_files_left_after_the_commit_are_swept_when_the_history_opens(disk: Path) -> None:
    history, song = kept_song(disk / "data")
    old = song.takes[0]
    set_immutable(old.audio, True)  # the commit happens; removing the old audio after it fails
    try:
        render_again(history, song)
    finally:
        set_immutable(old.audio, False)
    take = history.get(song.id).takes[0]
    assert take.audio != old.audio and take.gain < 1.0  # the new take, whole
    np.testing.assert_array_equal(np.load(take.codec_tails), NEW_TAILS)
    assert old.audio.exists() and not old.codec_tails.exists()  # type: ignore[union-attr]

    History(disk / "data")  # opened within a minute: a render in another process could still be at work
    assert old.audio.exists()
    backdate(song.folder)  # type: ignore[arg-type]
    History(disk / "data")
    assert set(files(song.folder)) == {"song.json", take.audio.name, take.tokens.name,  # type: ignore[union-attr]
                                       take.codec_tails.name}  # type: ignore[union-attr]
    assert not old.audio.exists() and history.get(song.id).takes[0] == take


def test_the_sweep_removes_what_a_killed_render_leaves_and_keeps_the_song(tmp_path: Path) -> None:
    history, song = kept_song(tmp_path)
    folder = song.folder
    assert folder is not None
    history.export(song.id, 1, "mp3")  # a download made from the take's audio: the song's, kept
    kept = files(folder)
    # What a render killed mid-way leaves beside the song: write_audio's hidden temp file, a new generation's
    # audio and latents, the new song.json not yet renamed over the old one.
    left = [".take-1.r0a1b2c.0123456789ab.part.flac", "take-1.r0a1b2c.flac", "take-1.r0a1b2c.codec.npy",
            ".song.json.0a1b2c"]
    for name in left:
        (folder / name).write_bytes(b"half")
    (folder / "notes.txt").write_text("mine")  # not a name the history writes: never its to remove
    backdate(folder)
    (folder / "take-1.r9f9f9f.flac").write_bytes(b"a render in another process, writing now")

    History(tmp_path)
    assert files(folder) == {**kept, "notes.txt": b"mine", "take-1.r9f9f9f.flac": files(folder)[
        "take-1.r9f9f9f.flac"]}
    assert history.get(song.id).takes[0] == song.takes[0]


def test_a_song_json_that_cannot_be_read_keeps_its_folder_as_it_is(tmp_path: Path) -> None:
    history, song = kept_song(tmp_path)
    folder = song.folder
    assert folder is not None
    (folder / "song.json").write_text("{not json")
    backdate(folder)
    History(tmp_path)  # opens, and removes nothing it cannot tell is a leftover
    assert sorted(p.name for p in folder.iterdir()) == ["song.json", "take-1.codec.npy", "take-1.flac",
                                                        "take-1.npy"]


def backdate(folder: Path) -> None:
    """Every file in `folder` last written an hour ago (past the sweep's minute of grace)."""
    old = time.time() - 3600
    for path in folder.iterdir():
        os.utime(path, (old, old))
