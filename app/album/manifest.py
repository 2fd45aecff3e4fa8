"""The album's manifest in its output folder: which songs are already kept, so a rerun makes only the rest.

    DIR/heartsong-album.json
    {"format": 1, "songs": {"<line key>": {"song": "<History id>", "line": 3, "folder": "03-salt-roads",
                                           "files": ["take-1.flac", "sheet.json"]}}}

A song is recorded twice: as soon as History has kept it (no folder yet), and again once its folder is in place.
So a run killed between the two finds the song in History and only writes its folder again; it never makes a
second copy of it. Every write replaces the whole file atomically (a temp file, then a rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.studio.errors import InvalidInput

MANIFEST = "heartsong-album.json"
FORMAT = 1


@dataclass(frozen=True)
class KeptSong:
    """One kept song of the album: its History id, its line, and (once written) its folder and files in it."""

    song_id: str
    line_no: int
    folder: str = ""  # "" until the folder is in place
    files: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"song": self.song_id, "line": self.line_no, "folder": self.folder, "files": list(self.files)}

    @classmethod
    def from_json(cls, data: Any) -> KeptSong:
        """Raises ValueError when `data` is not a kept song (a hand-edited or foreign file)."""
        if not isinstance(data, dict) or not isinstance(data.get("song"), str) or not isinstance(data.get("line"), int):
            raise ValueError("an entry is not a kept song")
        folder, files = data.get("folder", ""), data.get("files", [])
        if not isinstance(folder, str) or not isinstance(files, list):
            raise ValueError("an entry is not a kept song")
        if not all(_plain_name(name) for name in ([folder] if folder else []) + files):
            raise ValueError("an entry names a file outside its folder")
        return cls(data["song"], data["line"], folder, tuple(files))


def _plain_name(name: object) -> bool:
    """A file or folder name with no path in it (the manifest may only point inside DIR)."""
    return isinstance(name, str) and bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


class Manifest:
    """The kept songs of an album in `folder` (read at once; a file that is not a manifest is refused)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self._songs: dict[str, KeptSong] = {}
        self._lock = threading.Lock()  # songs made side by side record themselves from their own threads
        if self.path.is_file():
            self._songs = self._read()

    def _read(self) -> dict[str, KeptSong]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("songs"), dict):
                raise ValueError("not a Heartsong album manifest")
            return {str(key): KeptSong.from_json(entry) for key, entry in data["songs"].items()}
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"{self.path} is not an album manifest Heartsong can read ({exc}): move it away, or choose another "
                "--out folder"
            ) from None

    def get(self, key: str) -> KeptSong | None:
        with self._lock:
            return self._songs.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._songs)

    def record(self, key: str, song: KeptSong) -> None:
        """Keep `song` under `key` and write the manifest (atomically: a reader sees the old or the new file)."""
        with self._lock:
            self._songs[key] = song
            body = {"format": FORMAT, "songs": {k: s.as_json() for k, s in self._songs.items()}}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(body, out, ensure_ascii=False, indent=1)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
