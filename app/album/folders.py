"""A kept song's folder in the album's output folder: `NN-title/take-N.<fmt>` and `sheet.json`, all or nothing.

The folder is written under a temp name and renamed into place, so DIR only ever holds whole song folders (a
stopped or crashed run leaves at most a `.tmp-*` folder, removed by the next run). The title comes from the
musician or the LLM, so it is reduced to a plain, short file name.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import unicodedata
from pathlib import Path

from app.studio.history import Song
from heartmula_core.audio import read_audio, write_audio

TMP_PREFIX = ".tmp-"
SLUG_CHARS = 40
SHEET = "sheet.json"


def slug(title: str) -> str:
    """"Salt Roads (Live!)" -> "salt-roads-live": ASCII letters, digits and dashes, at most SLUG_CHARS."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_CHARS].rstrip("-")


def folder_name(track: int, tracks: int, title: str) -> str:
    """"03-salt-roads": the track number, as wide as the album needs (at least two digits), and the title."""
    width = max(2, len(str(tracks)))
    return f"{track:0{width}d}-{slug(title) or 'untitled'}"


def write_song_folder(out: Path, name: str, song: Song, fmt: str) -> tuple[str, tuple[str, ...]]:
    """Write `song`'s takes (as `fmt`: flac, wav, mp3, ogg) and its sheet into `out/name`, atomically.

    A folder of that name already there (a song of an earlier album at the same track) is left alone: the new
    one gets a "-2" (or "-3"...) suffix. Returns (the folder's name, its files' names).
    """
    tmp = out / f"{TMP_PREFIX}{name}-{secrets.token_hex(3)}"
    try:
        tmp.mkdir(parents=True)
        files = write_missing(tmp, song, fmt)
        target = out / name
        suffix = 1
        while target.exists():
            suffix += 1
            target = out / f"{name}-{suffix}"
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target.name, tuple(files)


def song_files(song: Song, fmt: str) -> tuple[str, ...]:
    """The files a song's folder holds for an album in `fmt`: each take, then the sheet."""
    return (*(f"take-{take.index}.{fmt}" for take in song.takes), SHEET)


def write_missing(folder: Path, song: Song, fmt: str) -> tuple[str, ...]:
    """Write into `folder` those of `song_files(song, fmt)` it lacks, each atomically, the takes from History's
    copy; returns the names written. Nothing already there is touched: a rerun of the album in another format
    adds that format's takes beside the earlier ones (History's copy is lossless, so nothing is made again)."""
    written = []
    for take in song.takes:
        name = f"take-{take.index}.{fmt}"
        if not (folder / name).is_file():
            audio, rate = read_audio(take.audio)  # (channels, samples)
            write_audio(folder / name, audio, rate, title=song.title or None)
            written.append(name)
    if not (folder / SHEET).is_file():
        sheet = {"title": song.title, "description": song.description, "lyrics": song.lyrics, "tags": song.tags,
                 "seconds": song.seconds, "seeds": [take.seed for take in song.takes], "history_id": song.id}
        text = json.dumps(sheet, ensure_ascii=False, indent=1) + "\n"
        tmp = folder / f"{TMP_PREFIX}{SHEET}-{secrets.token_hex(3)}"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / SHEET)
        written.append(SHEET)
    return tuple(written)


def sweep_temp(out: Path) -> None:
    """Remove the temp folders a stopped or crashed run left in `out`."""
    if out.is_dir():
        for path in out.glob(f"{TMP_PREFIX}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
