"""Putting a kept take's re-decode in place of its audio, codec latents and gain, all or nothing.

The new audio and latents are written under names of their own, a new generation of the take's files
(`take-N.<generation>.flac`, `take-N.<generation>.codec.npy`) that song.json does not name yet. Replacing song.json
(write beside it, then `os.replace`) is the one commit point: a reader sees the take's old files and gain, or its
new ones, never a mix. Only then are the old generation's files (and the exports made from its audio) deleted.

What a crash leaves is never named by song.json: new files before the commit, old ones after it, and the
hidden temp files of a write. `history_sweep` removes them when the history is next opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heartmula_core.audio import write_audio

from .song_files import SONG_JSON, Decoded, take_file_names, write_array, write_json

log = logging.getLogger(__name__)


def rewrite_take(folder: Path, index: int, decoded: Decoded) -> None:
    """Switch take `index` of the song in `folder` to `decoded`: its audio, its latents and its gain at once.

    Args:
        folder: the song's folder (its song.json names the take).
        index: the take's 1-based index; song.json must list it.
        decoded: audio (channels, samples) float, its rate, and codec latents (windows, frames, channels) or
            None. Latents the engine did not give are dropped, not kept: those of the old decode would not join
            this audio (a continuation then runs their flow again).

    Raises whatever writing raises (a full disk, say), with the take as it was and none of the new files left.
    """
    with song_lock(folder):  # two renders of one song's takes must not each commit over the other's song.json
        meta = json.loads((folder / SONG_JSON).read_text(encoding="utf-8"))
        entry = next(t for t in meta["takes"] if t["index"] == index)
        old_names = take_file_names(entry)
        stem = f"take-{index}.r{secrets.token_hex(3)}"  # a new generation, unlike any name song.json has used
        audio_name = stem + Path(entry["audio"]).suffix  # the extension picks the format: the take keeps its own
        written: list[Path] = []
        try:
            report = write_audio(folder / audio_name, decoded.audio, decoded.sample_rate)
            written.append(folder / audio_name)
            tails_name = write_array(folder, f"{stem}.codec.npy", decoded.codec_tails)
            if tails_name is not None:
                written.append(folder / tails_name)
            _point_entry(entry, audio_name, tails_name, int(decoded.sample_rate), report.gain)
            _commit(folder, meta)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        try:
            _fsync_folder(folder)  # the commit is on disk before the files it no longer names go
        except OSError as exc:
            log.warning("song %s: its new song.json may not be on disk yet (%s); old files left to the sweep",
                        folder, exc)
            return
        for name in sorted(old_names - take_file_names(entry)):
            try:
                (folder / name).unlink(missing_ok=True)
            except OSError as exc:  # the take is already switched; the sweep removes it next time
                log.warning("take %d of %s: could not remove its old file %s (%s)", index, folder, name, exc)


def _point_entry(entry: dict[str, Any], audio: str, tails: str | None, sample_rate: int, gain: float) -> None:
    """Make song.json's take entry name the new generation's files and the gain its audio was written with."""
    entry["audio"] = audio
    entry["sample_rate"] = sample_rate
    entry.pop("gain", None)
    if gain != 1.0:
        entry["gain"] = gain
    entry.pop("codec_tails", None)
    if tails is not None:
        entry["codec_tails"] = tails


def _commit(folder: Path, meta: dict[str, Any]) -> None:
    """Replace song.json by `meta` atomically: written and flushed beside it, then renamed over it."""
    staged = folder / f".{SONG_JSON}.{secrets.token_hex(3)}"
    try:
        write_json(staged, meta)
        os.replace(staged, folder / SONG_JSON)
    finally:
        staged.unlink(missing_ok=True)  # gone already when the rename happened


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def song_lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold a lock on the song's folder, without a lock file: exclusive for a render (other renders and readers
    wait), `shared` for a reader that must see one generation of a take's files from song.json to its last
    read (exports: a render's switch waits for them, and they wait for a switch under way).

    Raises:
        FileNotFoundError: the folder is gone (the song was deleted).
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
