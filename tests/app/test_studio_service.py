"""The Studio service: compose with the LLM through the real songwriter, Stop by session, checks and errors."""

from __future__ import annotations

import tempfile

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.studio.models import HubSizes
from heartmula_core.hub import Catalogue
from app.settings import load_settings
from app.songwriter.errors import LLMError, SheetError
from app.studio.engines import LlmChoice
from app.studio.errors import InvalidInput, JobCancelled, explain
from app.studio.history import NewTake
from app.studio.jobs import EtaClock, Finished, MusicSettings, Progress, Sheet
from app.studio.service import Studio
from heartmula_core.errors import InvalidRequest, ModelNotAvailable
from tests.llm_server import Reply

from .conftest import TEST_MODEL, refused_url

SR = 48000


class CountingMaker:
    """A music-engine double that checks cancel every frame and can hold a frame until released."""

    slots = 1  # one song at a time, like this computer's pipeline
    own_queue = False  # its songs wait in the studio's DeviceQueue

    def __init__(self, frames: int = 5) -> None:
        self.frames = frames
        self.started = threading.Event()
        self._cache = tempfile.TemporaryDirectory()  # no models on this computer, and the Hub is not asked
        self.hub_sizes = HubSizes()

    def catalogue(self) -> Catalogue:
        return Catalogue(cache_dir=self._cache.name, offline=True)

    def make(self, sheet, settings, progress, cancel):
        clock = EtaClock()
        self.started.set()
        for frame in range(1, self.frames + 1):
            if cancel.wait(0.02):
                raise JobCancelled("stopped")
            progress(clock.stamp("tokens", frame, self.frames))
        return [NewTake(np.zeros((2, 480), np.float32), SR, 7 + i, np.zeros((3, 8), np.int64))
                for i in range(settings.variants)]


def _studio(tmp_path: Path, maker=None, **settings) -> Studio:
    return Studio(load_settings(Path("/dev/null"), data_dir=tmp_path / "data", **settings), music=maker or CountingMaker())


def test_compose_writes_with_the_llm_and_never_keeps_the_key(tmp_path: Path, llm_server) -> None:
    llm_server.script(Reply.json({"title": "Paper Boats", "tags": "Folk, calm,,folk"}))
    studio = _studio(tmp_path, openai_base_url=llm_server.openai_url, openai_model=TEST_MODEL)
    choice = LlmChoice("openai", api_key="sk-NEVER-KEEP-ME")
    sheet = Sheet("a folk song about paper boats", "", "[verse]\nfold the paper", "", 2)
    events = list(studio.compose(sheet, frozenset({"title", "tags"}), MusicSettings(variants=2, seed=7), choice))
    song = events[-1].song
    assert isinstance(events[-1], Finished) and song.title == "Paper Boats"
    assert song.tags.split(",")[0] == "folk" and song.lyrics == "[verse]\nfold the paper"
    assert song.settings["llm"] == {"backend": "openai", "model": ""}
    assert llm_server.chat_requests[0].headers["authorization"] == "Bearer sk-NEVER-KEEP-ME"
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert b"NEVER-KEEP-ME" not in path.read_bytes(), path


def test_stop_cancels_only_that_session(tmp_path: Path) -> None:
    maker = CountingMaker(frames=500)
    studio = _studio(tmp_path, maker)
    sheet = Sheet(lyrics="[verse]\nla la", tags="pop", seconds=2)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            list(studio.compose(sheet, frozenset(), MusicSettings(variants=1), None, session="tab-a"))
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert maker.started.wait(10)
    assert studio.stop("tab-b") == 0  # another tab's Stop does nothing here
    assert studio.stop("tab-a") == 1
    worker.join(10)
    assert len(failures) == 1 and isinstance(failures[0], JobCancelled)
    assert len(studio.history) == 0 and studio.stop("tab-a") == 0


def test_llm_down_is_one_line_naming_the_server(tmp_path: Path) -> None:
    url = refused_url()
    studio = _studio(tmp_path, ollama_url=url, ollama_model=TEST_MODEL)
    with pytest.raises(Exception) as caught:
        list(studio.write(Sheet("a song"), frozenset({"title"}), studio.llm_choice("ollama")))
    message = explain(caught.value)
    assert message is not None and "ollama" in message and url in message and "\n" not in message


@pytest.mark.parametrize(
    ("sheet", "fill", "match"),
    [
        (Sheet(description="a mood"), frozenset(), "lyrics or tags"),
        (Sheet(), frozenset({"title"}), "Describe the song"),
        (Sheet(lyrics="la\n" * 400, tags="pop"), frozenset(), "too long"),
    ],
)
def test_sheets_that_cannot_work_are_refused_before_any_work(tmp_path: Path, sheet, fill, match) -> None:
    with pytest.raises(ValueError, match=match):
        list(_studio(tmp_path).compose(sheet, fill, MusicSettings(), None))


def test_uploads_corrupt_or_too_large_are_clear_errors(tmp_path: Path) -> None:
    studio = _studio(tmp_path, max_upload_mb=0.001)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    with pytest.raises(InvalidRequest, match="not a readable audio file"):
        studio.check_upload(corrupt, max_seconds=60)
    large = tmp_path / "large.wav"
    large.write_bytes(b"\x00" * 5000)
    with pytest.raises(InvalidRequest, match="larger than"):
        studio.check_upload(large, max_seconds=60)


def test_explain_gives_musicians_a_line_and_bugs_none() -> None:
    assert "ran out of memory" in explain(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert "disk is full" in explain(OSError(28, "No space left on device"))
    assert "Models & Settings" in explain(ModelNotAvailable("rl missing"))
    assert explain(InvalidInput("Describe the song first.")) == "Describe the song first."
    assert explain(SheetError("unknown field to fill 'mood'")) == "unknown field to fill 'mood'"
    down = LLMError("ollama", "http://127.0.0.1:1", "cannot connect")
    assert explain(down) == "ollama at http://127.0.0.1:1: cannot connect"
    assert explain(KeyError("bug")) is None
    assert explain(ValueError("a bug's own words")) is None  # only our typed errors are the musician's


def test_progress_reaches_the_page_in_order(tmp_path: Path) -> None:
    studio = _studio(tmp_path, CountingMaker(frames=3))
    sheet = Sheet(lyrics="[verse]\nla", tags="pop", seconds=2)
    events = list(studio.compose(sheet, frozenset(), MusicSettings(variants=1), None))
    phases = [e.phase for e in events if isinstance(e, Progress)]
    # Latest wins within a phase, so a slow page may skip counts, but the phases and the final count arrive.
    assert phases[0] == "tokens" and phases[-2:] == ["tokens", "saving"]
    frames = [e.done for e in events if isinstance(e, Progress) and e.phase == "tokens"]
    assert frames == sorted(frames) and frames[-1] == 3


def wait_until(condition, timeout_s: float = 60.0) -> bool:
    """Whether `condition()` came true within a generous timeout (a loaded machine is slow, never wrong)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def closed_tab(tmp_path: Path, frames: int) -> Studio:
    """A studio whose tab "tab" started a song of `frames` frames and went away while it was made."""
    maker = CountingMaker(frames=frames)
    studio = _studio(tmp_path, maker)
    events = studio.compose(Sheet(lyrics="[verse]\nla la", tags="pop", seconds=2), frozenset(),
                            MusicSettings(variants=1), None, session="tab")
    next(events)
    assert maker.started.wait(10)
    events.close()  # what Gradio does when the tab goes away
    return studio


def test_a_song_whose_tab_was_closed_still_lands_in_history(tmp_path: Path) -> None:
    studio = closed_tab(tmp_path, frames=40)
    assert wait_until(lambda: len(studio.history) == 1), "the song was dropped with its tab"
    assert wait_until(lambda: studio.stop("tab") == 0)  # ended: nothing of it is left running


def test_stop_still_reaches_a_song_whose_tab_was_closed(tmp_path: Path) -> None:
    studio = closed_tab(tmp_path, frames=2000)
    assert studio.stop("tab") == 1
    assert wait_until(lambda: studio.stop("tab") == 0)
    assert len(studio.history) == 0


def test_a_write_whose_tab_was_closed_is_cancelled(tmp_path: Path, llm_server) -> None:
    llm_server.script(Reply.json({"title": "late"}, delay_s=30))
    studio = _studio(tmp_path, ollama_url=llm_server.url, ollama_model=TEST_MODEL)
    events = studio.write(Sheet("a song"), frozenset({"title"}), studio.llm_choice("ollama"), session="tab")
    next(events)
    events.close()  # nothing would be kept, so nothing goes on
    assert wait_until(lambda: studio.stop("tab") == 0)
