"""app/songwriter/lyrics.py: section tags and the length plan."""

from __future__ import annotations

import pytest

from app.songwriter.errors import SheetError
from app.songwriter.lyrics import (
    SECTION_TAGS,
    check_size,
    length_warning,
    sung_lines,
    clean_lyrics,
    parse_structure_table,
    plan_structure,
)
from app.songwriter.prompts import PromptLibrary

def test_section_tags_are_normalised_and_other_brackets_removed() -> None:
    text = "[Intro]\n\n\n[Verse 1]\nhello [laughs] world  \nChorus:\nla la la\n[Guitar Solo]\n[Pre-Chorus]\nhigher\n\n"
    cleaned, notes = clean_lyrics(text)
    assert cleaned == "[intro]\n\n[verse]\nhello world\n\n[chorus]\nla la la\n\n[prechorus]\nhigher"
    assert any("[Guitar Solo]" in n for n in notes)
    assert any("[laughs]" in n for n in notes)
    assert any("[Verse 1]" in n and "[verse]" in n for n in notes)


def test_only_the_six_section_tags_remain() -> None:
    cleaned, _ = clean_lyrics("[Hook]\na\n[Refrain]\nb\n[Final Chorus]\nc\n[Bridge 2]\nd\n[Coda]\n[drop]\ne")
    tags = [line for line in cleaned.splitlines() if line.startswith("[")]
    assert tags == ["[chorus]", "[chorus]", "[chorus]", "[bridge]", "[outro]"]
    assert set(t.strip("[]") for t in tags) <= set(SECTION_TAGS)


def test_labels_without_brackets_become_tags_but_lyrics_stay() -> None:
    text = "**Chorus:**\nListen:\n(Verse 2)\n(the chorus of birds)\nhook\n## Bridge\nPre-Chorus:\nhey\nOutro"
    cleaned, notes = clean_lyrics(text)
    assert cleaned == (
        "[chorus]\nListen:\n\n[verse]\n(the chorus of birds)\nhook\n\n[bridge]\n\n[prechorus]\nhey\n\n[outro]"
    )
    assert len(notes) == 5


def test_lyrics_without_sections_get_a_verse_tag() -> None:
    cleaned, notes = clean_lyrics("just a line\nand another")
    assert cleaned == "[verse]\njust a line\nand another"
    assert notes


def test_already_clean_lyrics_are_unchanged_without_notes() -> None:
    text = "[verse]\nline one\nline two\n\n[chorus]\nhook"
    assert clean_lyrics(text) == (text, [])


def test_length_plan_grows_with_seconds() -> None:
    table = PromptLibrary().structure_table()
    short, medium, long = (plan_structure(s, table) for s in (30, 120, 240))
    assert short.sung_lines < medium.sung_lines < long.sung_lines
    assert [s.name for s in short.sections].count("verse") == 1
    assert "[bridge]" in long.describe() and "[bridge]" not in short.describe()
    assert plan_structure(10_000, table).sections == long.sections  # beyond the table: its last row


def test_structure_table_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match="line 2.*unknown section 'solo'"):
        parse_structure_table("30 = verse:4\n60 = verse:4 solo\n")
    with pytest.raises(ValueError, match="empty"):
        parse_structure_table("# nothing\n")


def test_size_limits() -> None:
    check_size("a\n" * 10, max_lines=300, max_chars=12_000)
    with pytest.raises(SheetError, match="10,000 lines; a song takes at most 300"):
        check_size("\n".join(["la"] * 10_000), max_lines=300, max_chars=1_000_000)
    with pytest.raises(SheetError, match="characters"):
        check_size("x" * 20_000, max_lines=300, max_chars=12_000)


def test_lyrics_far_longer_than_the_length_fits_are_named() -> None:
    table = PromptLibrary().structure_table()
    verse = "[verse]\n" + "\n".join(f"line {i}" for i in range(40))
    warning = length_warning(verse, 20, table)
    assert warning is not None and warning.startswith("These lyrics have 40 sung lines; a 20-second song fits about")
    fits = plan_structure(240, table).sung_lines
    assert length_warning("[verse]\n" + "\n".join(["la"] * fits), 240, table) is None
    assert sung_lines("[verse]\nla\n\n[chorus]\nlo\n") == 2
