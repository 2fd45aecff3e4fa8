"""Writing one song's files into its (still temporary) folder: each take's audio and tokens, a copy of the
style reference, and song.json. Every file is flushed to disk before the history renames the folder into place.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartmula_core.audio import write_audio

COPY_CHUNK = 1 << 20


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


def rewrite_take(folder: Path, index: int, decoded: Decoded) -> None:
    """Put a kept take's re-decode in place of its audio, codec latents and gain, in step.

    The new audio and latents are written beside their places first (a failure there leaves the take as it
    was), then renamed into place, song.json last. Latents the engine did not give are dropped, not left
    behind: those of the old decode would not join this audio (a continuation then runs their flow again).
    """
    meta = json.loads((folder / "song.json").read_text(encoding="utf-8"))
    entry = next(t for t in meta["takes"] if t["index"] == index)
    tag = secrets.token_hex(3)
    audio_tmp = folder / f".{entry['audio']}.{tag}{Path(entry['audio']).suffix}"  # the extension picks the format
    tails_name = f"take-{index}.codec.npy"
    tails_tmp = f".{tails_name}.{tag}.npy"
    try:
        written = write_audio(audio_tmp, decoded.audio, decoded.sample_rate)
        kept_tails = write_array(folder, tails_tmp, decoded.codec_tails)
        entry["sample_rate"] = int(decoded.sample_rate)
        entry.pop("gain", None)
        if written.gain != 1.0:
            entry["gain"] = written.gain
        entry.pop("codec_tails", None)
        if kept_tails is not None:
            entry["codec_tails"] = tails_name
        write_json(folder / f".song.json.{tag}", meta)
        os.replace(audio_tmp, folder / entry["audio"])
        if kept_tails is not None:
            os.replace(folder / tails_tmp, folder / tails_name)
        os.replace(folder / f".song.json.{tag}", folder / "song.json")
    finally:
        for leftover in (audio_tmp, folder / tails_tmp, folder / f".song.json.{tag}"):
            leftover.unlink(missing_ok=True)
    if kept_tails is None:
        (folder / tails_name).unlink(missing_ok=True)


def write_array(folder: Path, name: str, array: np.ndarray | None) -> str | None:
    """Save `array` as `folder/name`, flushed to disk; returns the name (None, and nothing written, for None)."""
    if array is None:
        return None
    with open(folder / name, "wb") as f:
        np.save(f, np.asarray(array))
        f.flush()
        os.fsync(f.fileno())
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
