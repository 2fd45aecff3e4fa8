"""Extend and redo a kept take through the Studio, the real tiny pipeline, the real songwriter on the scripted
LLM and a real History: the child starts with the parent's tokens, decodes with its seed, is linked both ways,
and outlives its parent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.studio.history import ParentLink
from app.studio.jobs import Finished, MusicSettings, Sheet
from app.studio.service import Studio
from heartmula_core.audio import read_audio
from heartmula_core.request import cut_at
from tests.llm_server import Reply

from .conftest import TEST_MODEL, tiny_settings

SHEET = Sheet(description="a tiny tune", title="Tiny", lyrics="[verse]\nla la la\n[chorus]\nla", tags="pop", seconds=2.0)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    settings = tiny_settings(tmp_path_factory.mktemp("data"))
    return Studio(settings)


def finished(events) -> object:
    events = list(events)
    assert isinstance(events[-1], Finished)
    return events[-1].song


@pytest.fixture(scope="module")
def parent(studio: Studio):
    return finished(studio.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=3), None))


def test_extend_keeps_the_take_appends_the_lyrics_and_links_both_ways(studio: Studio, parent) -> None:
    child = finished(studio.continue_song(parent.id, 1, "extend", seconds=1.0, new_lyrics="[verse]\nmore la"))
    assert child.parent == ParentLink(parent.id, 1, "extend", 2.0)
    assert child.lyrics == SHEET.lyrics + "\n\n[verse]\nmore la" and child.tags == parent.tags
    assert child.title == "Tiny (extended)" and child.seconds == pytest.approx(3.0)
    old, new = np.load(parent.takes[0].tokens), np.load(child.takes[0].tokens)
    assert len(old) == 25 and len(new) > 25 and np.array_equal(new[:25], old)
    assert child.takes[0].decode_seed == parent.takes[0].seed != child.takes[0].seed
    assert [s.id for s in studio.children(parent.id)] == [child.id]
    assert studio.history.parent_of(child).id == parent.id
    assert studio.song(parent.id).takes == parent.takes  # the parent is never changed


def test_redo_from_a_time_keeps_round_t_frames_and_makes_variants(studio: Studio, parent) -> None:
    music = MusicSettings(variants=2, seed=11)
    child = finished(studio.continue_song(parent.id, 1, "redo", seconds=2.0, from_seconds=1.0, music=music))
    kept = cut_at(1.0)
    assert kept == 12  # round(1.0 x 12.5): 12.5 rounds to even
    assert child.parent == ParentLink(parent.id, 1, "redo", kept / 12.5)
    assert child.lyrics == parent.lyrics and child.title == "Tiny (redone from 0:01)"
    old = np.load(parent.takes[0].tokens)
    takes = [np.load(t.tokens) for t in child.takes]
    assert len(takes) == 2 and all(np.array_equal(t[:kept], old[:kept]) for t in takes)
    assert not np.array_equal(takes[0][kept:], takes[1][kept:])
    assert {t.decode_seed for t in child.takes} == {parent.takes[0].seed}


def test_extend_with_new_lyrics_from_the_llm(tmp_path: Path, llm_server, parent, studio: Studio) -> None:
    llm_server.script(Reply.json({"lyrics": "[bridge]\nthe tide turns"}))
    writer_studio = Studio(studio.settings.model_copy(update={"ollama_url": llm_server.url, "ollama_model": TEST_MODEL}),
                           music=studio.music)
    choice = writer_studio.llm_choice("ollama")
    child = finished(writer_studio.continue_song(parent.id, 1, "extend", seconds=0.8, fill=frozenset({"lyrics"}),
                                                 choice=choice))
    assert child.lyrics == SHEET.lyrics + "\n\n[bridge]\nthe tide turns"
    assert child.description == parent.description  # the LLM's context is not kept as the description
    asked = str(llm_server.chat_requests[0].body)
    assert "la la la" in asked  # the LLM was shown the lyrics it continues


def test_deleting_the_parent_leaves_the_child_whole(tmp_path: Path, studio: Studio) -> None:
    parent = finished(studio.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=5), None))
    child = finished(studio.continue_song(parent.id, 1, "extend", seconds=0.8))
    studio.delete(parent.id)
    again = studio.song(child.id)
    assert again.parent == child.parent and studio.history.parent_of(again) is None
    assert again.takes[0].audio.is_file() and again.takes[0].tokens.is_file()
    before, _ = read_audio(again.takes[0].audio)
    take = studio.redecode(child.id, 1)  # with its own tokens and the decode seed it recorded
    after, _ = read_audio(take.audio)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert child.id in [s.id for s in studio.search("Tiny extended")]
    studio.delete(child.id)
    assert studio.children(parent.id) == []


@pytest.mark.parametrize(
    ("kind", "args", "message"),
    [
        ("redo", {"seconds": 2.0, "from_seconds": 5.0}, "Redo from a time inside the take"),
        ("redo", {"seconds": 2.0}, "Say from when"),
        ("redo", {"seconds": 0.5, "from_seconds": 1.0}, "longer than the part it keeps"),
        ("extend", {"seconds": 0.0}, "how many seconds to add"),
        ("extend", {"seconds": 1.0, "from_seconds": 1.0}, "give a time only to redo"),
        ("redo", {"seconds": 3.0, "from_seconds": 1.0, "fill": frozenset({"lyrics"})}, "A redo keeps the song's lyrics"),
        ("extend", {"seconds": 1.0, "fill": frozenset({"title"})}, "Only the new lyrics"),
    ],
)
def test_bad_continuations_are_refused_at_once(studio: Studio, parent, kind, args, message) -> None:
    with pytest.raises(ValueError, match=message):
        studio.continue_song(parent.id, 1, kind, **args)


def test_a_missing_take_or_song_is_refused(studio: Studio, parent) -> None:
    from app.studio.errors import SongNotFound

    with pytest.raises(ValueError, match="takes 1 to 1, not 4"):
        studio.continue_song(parent.id, 4, "extend", seconds=1.0)
    with pytest.raises(SongNotFound):
        studio.continue_song("20990101-000000-abcdef", 1, "extend", seconds=1.0)


def test_stop_during_an_extension_keeps_nothing(studio: Studio, parent) -> None:
    from app.studio.errors import JobCancelled
    from app.studio.jobs import Progress

    before = len(studio.children(parent.id))
    events = studio.continue_song(parent.id, 1, "extend", seconds=60.0, music=MusicSettings(variants=1, seed=3),
                                  session="stopper")
    with pytest.raises(JobCancelled):
        for event in events:
            if isinstance(event, Progress) and event.phase == "tokens" and event.done >= 5:
                studio.stop("stopper")
    assert len(studio.children(parent.id)) == before  # nothing kept
