"""The album file's songs and their keys, and the manifest that remembers the kept ones (no models needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.album.folders import folder_name, slug
from app.album.lines import read_album
from app.album.manifest import MANIFEST, KeptSong, Manifest
from app.studio.errors import InvalidInput


def keys(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "album.jsonl").write_text(text, encoding="utf-8")
    return [song.key for song in read_album(tmp_path / "album.jsonl")]


def test_a_song_is_known_by_what_its_line_says(tmp_path: Path) -> None:
    (first,) = keys(tmp_path, '{"description": "sea", "seed": 7, "tags": "folk,calm"}\n')
    # Reformatted, keys reordered, a default spelled out, tags as a list: the same song.
    assert keys(tmp_path, '{ "tags": ["folk", "calm"], "seed": 7,  "description": "sea", "variants": 1 }') == [first]
    # Another seed, or another word: another song.
    assert keys(tmp_path, '{"description": "sea", "seed": 8, "tags": "folk,calm"}')[0] != first
    assert keys(tmp_path, '{"description": "seas", "seed": 7, "tags": "folk,calm"}')[0] != first
    # The same line twice is two songs, each known across runs.
    twice = keys(tmp_path, '{"description": "sea", "seed": 7, "tags": "folk,calm"}\n' * 2)
    assert twice == [first, f"{first}.2"]


def test_tracks_skip_blank_lines_but_messages_name_the_file_line(tmp_path: Path) -> None:
    (tmp_path / "album.jsonl").write_text('\n{"description": "a"}\n\n{"description": "b"}\n', encoding="utf-8")
    songs = read_album(tmp_path / "album.jsonl")
    assert [(s.track, s.line_no) for s in songs] == [(1, 2), (2, 4)]


@pytest.mark.parametrize("body", [
    "not json", "[]", '{"format": 1, "songs": {"k": {"song": "x", "line": 1, "folder": "../elsewhere"}}}',
    '{"format": 1, "songs": {"k": {"song": "x", "line": 1, "files": ["/etc/passwd"]}}}',
    '{"format": 1, "songs": {"k": {"song": "x", "line": 1, "files": 3}}}', '{"format": 99, "songs": {}}',
])
def test_a_manifest_heartsong_did_not_write_is_refused_in_one_line(tmp_path: Path, body: str) -> None:
    (tmp_path / MANIFEST).write_text(body, encoding="utf-8")
    with pytest.raises(InvalidInput, match="is not an album manifest Heartsong can read .* move it away"):
        Manifest(tmp_path)


def test_the_manifest_is_written_whole_and_read_back(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "out")
    manifest.record("k1", KeptSong("20261204-1-a", 1))
    manifest.record("k1", KeptSong("20261204-1-a", 1, "01-sea", ("take-1.flac", "sheet.json")))
    manifest.record("k2", KeptSong("20261204-2-b", 3))
    again = Manifest(tmp_path / "out")
    assert again.get("k1") == KeptSong("20261204-1-a", 1, "01-sea", ("take-1.flac", "sheet.json"))
    assert again.get("k2") == KeptSong("20261204-2-b", 3) and len(again) == 2
    assert [p.name for p in (tmp_path / "out").iterdir()] == [MANIFEST]  # no temp file left
    assert json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))["format"] == 1


def test_folder_names_are_plain_whatever_the_title() -> None:
    assert folder_name(3, 12, "Salt Roads (Live!)") == "03-salt-roads-live"
    assert folder_name(7, 150, "Café del Mar") == "007-cafe-del-mar"
    assert folder_name(1, 2, "../../etc/passwd") == "01-etc-passwd"
    assert folder_name(1, 2, "🎵🎵") == "01-untitled"
    assert len(slug("a" * 500)) == 40
