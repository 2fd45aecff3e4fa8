"""An album file: one song a line, as a JSON object, read and checked whole before any work starts.

    {"description": "a calm folk song about the sea", "seconds": 60, "seed": 7}
    {"title": "Lanterns", "lyrics": "[verse]\\nglow", "tags": "pop,warm", "variants": 2}

A line holds a description, a full sheet (title, lyrics, tags), or anything between: the LLM writes the fields
left empty. Blank lines are skipped. Each song has a `key` made from its content, so a rerun knows the songs it
has already kept (app/album/manifest.py): reformatting a line keeps its key, changing what it says makes it a new
song, and the same line twice is two songs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from app.songwriter.sheet import MAX_SECONDS
from app.studio.errors import InvalidInput
from app.studio.headless import DEFAULT_SECONDS
from app.studio.jobs import Sheet
from heartmula_core.request import MAX_SEED, MAX_VARIANTS

MAX_ALBUM_BYTES = 16 * 1024 * 1024  # far above any album of sheets; a file this big is a mistake
MAX_SONGS = 1000
LABEL_CHARS = 40
JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
              type(None): "null"}


class AlbumLine(BaseModel):
    """One line's song, as written: every field optional; strict types (no "30" for 30, no 1.5 variants)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    description: StrictStr = ""
    title: StrictStr = ""
    lyrics: StrictStr = ""
    tags: StrictStr | list[StrictStr] = ""  # "folk,calm" or ["folk", "calm"]
    seconds: Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] = DEFAULT_SECONDS
    variants: Annotated[int, Field(ge=1, le=MAX_VARIANTS)] = 1
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None  # None: a fresh seed, kept with the song

    @property
    def tag_text(self) -> str:
        return ",".join(self.tags) if isinstance(self.tags, list) else self.tags


@dataclass(frozen=True)
class AlbumSong:
    """One song of the album: where it is (track, line), what it is (sheet, variants, seed), and its key."""

    track: int  # 1-based place in the album (blank lines do not count): the NN of its folder
    line_no: int  # 1-based line of the file, for messages
    key: str  # content hash (+ ".N" for the N-th copy of the same line)
    sheet: Sheet
    variants: int
    seed: int | None

    @property
    def label(self) -> str:
        """A short name for progress lines before the song has its title: its title, else its description."""
        text = " ".join((self.sheet.title or self.sheet.description or self.sheet.lyrics).split())
        return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def read_album(path: Path) -> list[AlbumSong]:
    """Every song of the album file at `path`, in order. The first bad line is one `InvalidInput` naming the file
    and the line ("album.jsonl line 3: seconds: ..."); nothing is made until the whole file is good."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the album ({exc.strerror or exc})") from None
    if size > MAX_ALBUM_BYTES:
        raise InvalidInput(f"{path}: too big for an album ({size / 1e6:.0f} MB; at most {MAX_ALBUM_BYTES / 1e6:.0f} MB)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text (an album is one JSON object a line)") from None
    songs: list[AlbumSong] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_line(line, f"{path} line {line_no}")
        digest = content_key(parsed)
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}.{seen[digest]}"
        sheet = Sheet(parsed.description, parsed.title, parsed.lyrics, parsed.tag_text, parsed.seconds)
        songs.append(AlbumSong(len(songs) + 1, line_no, key, sheet, parsed.variants, parsed.seed))
        if len(songs) > MAX_SONGS:
            raise InvalidInput(f"{path} line {line_no}: more than {MAX_SONGS} songs; split the album")
    if not songs:
        raise InvalidInput(f"{path}: no songs in it (one JSON object a line, e.g. {{\"description\": \"a sea shanty\"}})")
    return songs


def parse_line(line: str, where: str) -> AlbumLine:
    """One line as an `AlbumLine`; an `InvalidInput` starting with `where` when it is not one."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: a song is a JSON object ({{...}}), not {JSON_KINDS.get(type(data), 'that')}")
    try:
        return AlbumLine.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "the line"  # tags' loc also names the union's arm
        if first["type"] == "extra_forbidden":
            known = ", ".join(AlbumLine.model_fields)
            raise InvalidInput(f"{where}: unknown field {field!r} (a song has {known})") from None
        raise InvalidInput(f"{where}: {field}: {first['msg']} (got {json.dumps(first.get('input'))[:40]})") from None


def content_key(line: AlbumLine) -> str:
    """The song's identity: a hash of what the line says, with defaults filled in and JSON formatting ignored."""
    canonical = json.dumps(line.model_dump(mode="json") | {"tags": line.tag_text}, sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]
