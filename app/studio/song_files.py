"""Writing one song's files into its (still temporary) folder: each take's audio and tokens, a copy of the
style reference, and song.json. Every file is flushed to disk before the history renames the folder into place.
And which files a song's song.json names (what the history sweep keeps).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartmula_core.audio import write_audio

COPY_CHUNK = 1 << 20
SONG_JSON = "song.json"
EXPORT_FORMATS = ("wav", "flac", "mp3", "ogg")  # what a take can be downloaded as, made beside its audio


@dataclass(frozen=True)
class NewTake:
    """One finished variant, as the pipeline hands it over.

    Attributes:
        audio: (channels, samples) float waveform in [-1, 1].
        sample_rate: samples per second of `audio`.
        seed: the seed this take was sampled with (so it can be made again).
        tokens: (frames, codebooks) integer audio tokens, or None when there are none to keep.
        codec_tails: (windows, frames, channels) float32, each codec window's last latents: what a continuation
            of this take needs so its kept windows are not decoded again (`heartmula_core.codec.resume`).
    """

    audio: np.ndarray
    sample_rate: int
    seed: int
    tokens: np.ndarray | None = None
    decode_seed: int | None = None  # the codec's seed when it is not `seed` (a continuation decodes with its parent's)
    codec_tails: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Decoded:
    """A kept take's audio made again from its tokens, as the music engine hands it over.

    Attributes:
        audio: (channels, samples) float waveform.
        sample_rate: samples per second of `audio`.
        codec_tails: (windows, frames, channels) float32, each codec window's last latents of this decode (as
            `NewTake.codec_tails`), or None when the engine gives none.
    """

    audio: np.ndarray
    sample_rate: int
    codec_tails: np.ndarray | None = None


def write_take(folder: Path, index: int, take: NewTake) -> dict[str, Any]:
    """Write one take's audio (and tokens) into `folder`; returns its entry for song.json."""
    audio_name = f"take-{index}.flac"
    written = write_audio(folder / audio_name, take.audio, take.sample_rate)
    tokens_name = write_array(folder, f"take-{index}.npy", take.tokens)
    tails_name = write_array(folder, f"take-{index}.codec.npy", take.codec_tails)
    return {
        "index": index,
        "seed": int(take.seed),
        "audio": audio_name,
        "tokens": tokens_name,
        "sample_rate": int(take.sample_rate),
        **({"decode_seed": int(take.decode_seed)} if take.decode_seed is not None else {}),
        **({"codec_tails": tails_name} if tails_name is not None else {}),
        # A too-loud take is written turned down; a continuation turns its kept part back up to join the new one.
        **({"gain": written.gain} if written.gain != 1.0 else {}),
    }


def take_file_names(entry: dict[str, Any]) -> set[str]:
    """The files of one take as its song.json entry names them: audio, tokens, codec latents, and the exports
    `History.export` makes beside the audio (the audio's name with another format's extension)."""
    audio = Path(entry["audio"])
    names = {entry["audio"], *(audio.with_suffix(f".{fmt}").name for fmt in EXPORT_FORMATS)}
    return names | {entry[key] for key in ("tokens", "codec_tails") if entry.get(key)}


def song_file_names(meta: dict[str, Any]) -> set[str]:
    """Every file a song's folder should hold, as its song.json `meta` names them (song.json itself too)."""
    names = {SONG_JSON, *(meta[key] for key in ("style_reference", "recording") if meta.get(key))}
    for entry in meta["takes"]:
        names |= take_file_names(entry)
    return names


def write_array(folder: Path, name: str, array: np.ndarray | None) -> str | None:
    """Save `array` as `folder/name`, flushed to disk; returns the name (None, and nothing written, for None)."""
    if array is None:
        return None
    try:
        with open(folder / name, "wb") as f:
            np.save(f, np.asarray(array))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        (folder / name).unlink(missing_ok=True)  # no half-written array left behind
        raise
    return name


def keep_copy(source: Path, folder: Path, stem: str) -> str:
    """Copy `source` into `folder` as `stem` + its extension (lower-cased), flushed to disk; returns the name.

    The source may be a temporary upload that is gone tomorrow, so the song keeps its own copy.
    """
    name = stem + source.suffix.lower()
    with open(source, "rb") as src, open(folder / name, "wb") as dst:
        shutil.copyfileobj(src, dst, COPY_CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    return name


def write_json(path: Path, value: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
