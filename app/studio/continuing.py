"""Extend a kept take, or redo it from a time: what the new song keeps, its lyrics, and its link to the parent.

A continued song is a new song in the history. Its LM starts from the parent take's tokens (all of them for an
extension, those up to the cut for a redo) and its codec decodes with the parent take's seed, so the kept part
sounds as before (`heartmula_core.request.MusicRequest.prefix`). The parent is never changed; the child keeps its
own tokens and audio, so deleting the parent breaks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from heartmula_core.request import FRAME_RATE, cut_at, prefix_codes

from .errors import InvalidInput
from .history import History, ParentLink, Song, Take
from .kept_audio import kept_audio, kept_latents
from .records import RECORDING_ORIGIN

Kind = Literal["extend", "redo"]


@dataclass(frozen=True, eq=False)
class Continuation:
    """What a continued song keeps from its parent.

    Attributes:
        parent: the link the new song records (parent song, take, extend or redo, seconds kept).
        prefix: the kept tokens, int64 [frames, 8].
        decode_seed: the parent take's codec seed: every new take decodes with it.
        old_lyrics: the parent's lyrics (the prompt holds the whole song's lyrics).
        audio, latents: the kept part's audio float32 [2, samples] and the parent's codec latents, so its
            codec windows are not decoded again (`kept_audio.py`); None when the take cannot give them.
        recording: the musician's recording the parent was made from (`recordings.py`), which the new song keeps
            a copy of too; None for a parent made here.
    """

    parent: ParentLink
    prefix: np.ndarray
    decode_seed: int
    old_lyrics: str
    audio: np.ndarray | None = None
    latents: np.ndarray | None = None
    recording: Path | None = None

    @property
    def kept_seconds(self) -> float:
        return len(self.prefix) / FRAME_RATE

    def lyrics_after(self, new_lyrics: str) -> str:
        """The whole song's lyrics: an extension appends the new ones after the old; a redo keeps the old."""
        new = new_lyrics.strip()
        if self.parent.kind == "redo" or not new:
            return self.old_lyrics
        return f"{self.old_lyrics.rstrip()}\n\n{new}"


def find_take(song: Song, index: int | None) -> Take:
    """Take `index` (1-based; None: the first) of `song`, or ValueError saying which exist."""
    if not song.takes:
        raise InvalidInput("That song has no takes to continue.")
    if index is None:
        return song.takes[0]
    for take in song.takes:
        if take.index == index:
            return take
    raise InvalidInput(f"That song has takes 1 to {len(song.takes)}, not {index}.")


def plan(history: History, song_id: str, take: int | None, kind: Kind, from_seconds: float | None = None) -> Continuation:
    """What continuing take `take` of song `song_id` keeps: all of it ("extend"), or up to `from_seconds` ("redo").

    Raises SongNotFound for a song that is gone, ValueError for a take without tokens or a time outside it.
    """
    song = history.get(song_id)
    chosen = find_take(song, take)
    if chosen.tokens is None or not chosen.tokens.is_file():
        raise InvalidInput("This take has no saved tokens, so it cannot be continued.")
    tokens = prefix_codes(np.load(chosen.tokens, allow_pickle=False))
    length = len(tokens) / FRAME_RATE
    if kind == "extend":
        if from_seconds is not None:
            raise InvalidInput("An extension keeps the whole take; give a time only to redo from it.")
        kept = tokens
    elif kind == "redo":
        if from_seconds is None:
            raise InvalidInput("Say from when to redo the take (seconds or mm:ss).")
        if not 0 < from_seconds < length:
            raise InvalidInput(f"Redo from a time inside the take: after 0:00 and before {clock(length)}.")
        kept = tokens[: cut_at(from_seconds)]
    else:
        raise InvalidInput(f"Continue means extend or redo, not {kind!r}.")
    link = ParentLink(song.id, chosen.index, kind, len(kept) / FRAME_RATE)
    recording = song.recording if song.settings.get("origin") == RECORDING_ORIGIN else None
    return Continuation(link, kept, chosen.codec_seed, song.lyrics, kept_audio(chosen, len(kept)),
                        kept_latents(chosen), recording)


def clock(seconds: float) -> str:
    """m:ss, as the page shows a time."""
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
