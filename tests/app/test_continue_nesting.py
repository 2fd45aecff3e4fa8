"""The History list puts each continued song right under the song it came from."""

from __future__ import annotations

from app.studio.records import ParentLink, Song
from app.ui.continue_panel import nest


def song(song_id: str, parent: str | None = None) -> Song:
    link = ParentLink(parent, 1, "extend", 1.0) if parent else None
    return Song(song_id, 0.0, song_id, "", "", "", 1.0, (), parent=link)


def test_children_follow_their_parent_in_the_listed_order() -> None:
    listed = [song("c2", "a"), song("b"), song("c1", "a"), song("a"), song("g", "c1"), song("orphan", "gone")]
    assert [(s.id, depth) for s, depth in nest(listed)] == [
        ("b", 0), ("a", 0), ("c2", 1), ("c1", 1), ("g", 2), ("orphan", 0)]


def test_every_song_is_listed_once_even_in_a_loop_of_links() -> None:
    listed = [song("x", "y"), song("y", "x")]
    assert sorted(s.id for s, _ in nest(listed)) == ["x", "y"]
