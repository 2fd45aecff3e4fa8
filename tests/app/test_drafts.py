"""Which drafts a "Load into Create" puts aside for "Undo load": the musician's own text or style, not an empty
page, and not the song the last load put there unchanged (the draft from before that load stays the one kept)."""

from __future__ import annotations

from app.studio.drafts import DraftText, worth_keeping
from app.studio.jobs import Sheet

LOADED = DraftText(Sheet("a song by the sea", "Harbour", "[verse]\nlanterns", "folk"))


def test_an_empty_page_is_nothing_to_keep() -> None:
    assert not worth_keeping(DraftText(Sheet(" ", "", "\n", "")), None)
    assert DraftText(Sheet(), "", "").empty


def test_any_text_or_style_of_the_musician_is_kept() -> None:
    assert worth_keeping(DraftText(Sheet(lyrics="[verse]\nmy own words")), None)
    assert worth_keeping(DraftText(Sheet(), style_text="warm analog synths"), None)
    assert worth_keeping(DraftText(Sheet(), style_audio="reference.flac"), LOADED)


def test_the_last_loaded_song_unchanged_is_not_a_new_draft_but_an_edit_of_it_is() -> None:
    same = DraftText(Sheet("a song by the sea ", "Harbour", "[verse]\nlanterns\n", "folk", seconds=99))
    assert not worth_keeping(same, LOADED)  # only spaces and the length differ: no words of the musician
    edited = DraftText(Sheet("a song by the sea", "Harbour", "[verse]\nlanterns\nand a new line", "folk"))
    assert worth_keeping(edited, LOADED)
