"""What is typed is kept clean (issue 17.11): control characters and NUL never reach the history or the exported
files, and a field past its cap is refused by name, before any LLM or music time is spent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import soundfile as sf

from app.studio.inputs import FIELD_CHARS, strip_controls
from app.studio.jobs import MusicSettings, Sheet
from tests.llm_server import LLMServer

from .test_studio_service import CountingMaker, _studio

SHEET = Sheet("a calm song", "Harbour", "[verse]\nla la", "pop,calm", 2)
HUGE = 100_000


@pytest.mark.parametrize(("raw", "multiline", "clean"), [
    ("Night\x00 Train", False, "Night Train"),
    ("bell\x07 and \x1b[31mred", False, "bell and [31mred"),
    ("tab\there\nand line", False, "tab here and line"),
    ("del\x7f c1\x85\x9b end", False, "del c1  end"),
    ("lone \ud800 surrogate", False, "lone  surrogate"),
    ("[verse]\r\nfirst\x00 line\rsecond\tline\x0b", True, "[verse]\nfirst line\nsecond\tline"),
    ("para\u2028graph", True, "para\ngraph"),
    ("emoji 🎵 and zero\u200dwidth joiner stay", False, "emoji 🎵 and zero\u200dwidth joiner stay"),
])
def test_control_characters_are_stripped(raw: str, multiline: bool, clean: str) -> None:
    assert strip_controls(raw, multiline=multiline) == clean


def test_a_song_typed_with_control_characters_is_kept_and_exported_clean(tmp_path: Path) -> None:
    studio = _studio(tmp_path, CountingMaker(frames=1))
    sheet = Sheet("a calm\x00 song\x1b", "Night\x00 Train\x07", "[verse]\r\nla\x00 la\n\tla", "pop,\x00calm", 2)
    music = MusicSettings(variants=1, seed=3, style_text="warm\x00 tape\x1b")
    song = list(studio.compose(sheet, frozenset(), music))[-1].song
    assert (song.description, song.title, song.lyrics, song.tags) == (
        "a calm song", "Night Train", "[verse]\nla la\n\tla", "pop,calm")
    assert song.settings["style_text"] == "warm tape"
    exported_file = studio.export(song.id, song.takes[0].index, "ogg")
    with sf.SoundFile(str(exported_file)) as exported:
        assert exported.title == "Night Train"  # a NUL used to cut it short here
    assert studio.search("Night\x00") and studio.search("Train")


@pytest.mark.parametrize("name", ["description", "title", "tags"])
def test_a_field_past_its_cap_is_refused_by_name_before_any_work(tmp_path: Path, name: str) -> None:
    maker = CountingMaker()
    studio = _studio(tmp_path, maker)
    sheet = dataclasses.replace(SHEET, **{name: "x" * HUGE})
    for events in (lambda: studio.compose(sheet, frozenset(), MusicSettings(variants=1)),
                   lambda: studio.write(sheet, frozenset({"title"}), studio.llm_choice("ollama"))):
        with pytest.raises(ValueError, match=rf"^The {name}: 100,000 characters is too long \(at most ") as err:
            next(iter(events()))
        assert "lyrics" not in str(err.value)
    assert not maker.started.is_set() and len(studio.history) == 0
    limit = FIELD_CHARS[name]
    fits = dataclasses.replace(SHEET, **{name: "y" * limit})
    assert list(studio.compose(fits, frozenset(), MusicSettings(variants=1)))[-1].song  # the cap itself is fine


def test_huge_lyrics_blame_the_lyrics(tmp_path: Path) -> None:
    studio = _studio(tmp_path)
    with pytest.raises(ValueError, match="lyrics"):
        next(iter(studio.compose(dataclasses.replace(SHEET, lyrics="la " * HUGE), frozenset(), MusicSettings())))


def test_a_huge_style_description_and_search_are_refused_by_name(tmp_path: Path) -> None:
    maker = CountingMaker()
    studio = _studio(tmp_path, maker)
    with pytest.raises(ValueError, match=r"^The style description: 100,000 characters is too long"):
        next(iter(studio.compose(SHEET, frozenset(), MusicSettings(style_text="x" * HUGE))))
    with pytest.raises(ValueError, match=r"^The search: 100,000 characters is too long"):
        studio.search("x" * HUGE)
    assert not maker.started.is_set()


def test_text_that_is_not_text_is_refused_by_name(tmp_path: Path, llm_server: LLMServer) -> None:
    maker = CountingMaker()
    studio = _studio(tmp_path, maker)
    with pytest.raises(ValueError, match=r"^The description must be text, not null"):
        next(iter(studio.compose(dataclasses.replace(SHEET, description=None), frozenset(), MusicSettings())))
    assert not maker.started.is_set() and len(studio.history) == 0
