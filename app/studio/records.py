"""What a kept song is, as the history reads it back: the song, its takes, and the take it was continued from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORDING_ORIGIN = "recording"  # song.settings["origin"] of a song made from a musician's recording


@dataclass(frozen=True)
class Take:
    """One kept variant of a song: its files on disk."""

    index: int  # 1-based, as the page shows it
    seed: int
    audio: Path
    tokens: Path | None
    sample_rate: int
    decode_seed: int | None = None  # the codec's seed when it is not `seed` (a continued song: its parent's)
    codec_tails: Path | None = None  # each codec window's last latents, for continuations (`song_files.NewTake`)
    gain: float = 1.0  # what the audio was scaled by when written (below 1 for a take that would have clipped)

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> Take:
        """The take as song.json lists it, its file names in `folder` (song_files.write_take writes the entry)."""
        return cls(
            index=data["index"],
            seed=data["seed"],
            audio=folder / data["audio"],
            tokens=folder / data["tokens"] if data.get("tokens") else None,
            sample_rate=data["sample_rate"],
            decode_seed=data.get("decode_seed"),
            codec_tails=folder / data["codec_tails"] if data.get("codec_tails") else None,
            gain=float(data.get("gain", 1.0)),
        )

    @property
    def codec_seed(self) -> int:
        """The seed its audio was decoded with (what re-decoding uses)."""
        return self.seed if self.decode_seed is None else self.decode_seed


@dataclass(frozen=True)
class ParentLink:
    """Where a continued song came from: take `take` of song `song_id`, kept up to `kept_seconds`.

    `kind` is "extend" (the whole take kept, more made after it) or "redo" (kept up to a time, the rest made
    again). The parent may since have been deleted: the child keeps its own tokens and audio."""

    song_id: str
    take: int
    kind: str
    kept_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"song": self.song_id, "take": self.take, "kind": self.kind, "kept_seconds": self.kept_seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ParentLink | None:
        if not data:
            return None
        return cls(str(data["song"]), int(data["take"]), str(data["kind"]), float(data["kept_seconds"]))


@dataclass(frozen=True)
class Song:
    """A kept song: the sheet it was made from, the generation settings, and its takes."""

    id: str
    created: float  # Unix time (UTC)
    title: str
    description: str
    lyrics: str
    tags: str
    seconds: float
    takes: tuple[Take, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    style_reference: Path | None = None  # the kept copy of the reference recording it was styled after
    recording: Path | None = None  # the kept copy of the musician's recording it was made from (recordings.py)
    parent: ParentLink | None = None  # the take it was continued from, for an extended or redone song

    @classmethod
    def from_json(cls, meta: dict[str, Any], folder: Path) -> Song:
        """The song its folder's song.json describes (`History.save` writes it)."""
        return cls(
            id=meta["id"],
            created=meta["created"],
            title=meta["title"],
            description=meta["description"],
            lyrics=meta["lyrics"],
            tags=meta["tags"],
            seconds=meta["seconds"],
            takes=tuple(Take.from_json(t, folder) for t in meta["takes"]),
            settings=meta.get("settings", {}),
            folder=folder,
            style_reference=folder / meta["style_reference"] if meta.get("style_reference") else None,
            parent=ParentLink.from_json(meta.get("parent")),
            recording=folder / meta["recording"] if meta.get("recording") else None,
        )
