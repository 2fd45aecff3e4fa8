"""How a job's events reach a page that is slower than the job: latest progress wins, nothing piles up, and a
Stop is answered without the page first working through progress that is already stale (issue 17.6 and 17.8)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from app.settings import load_settings
from app.songwriter.errors import LLMError
from app.studio.channel import LatestChannel
from app.studio.engines import LlmChoice
from app.studio.errors import JobCancelled
from app.studio.jobs import Progress, Sheet, SheetWritten, TextChunk
from app.studio.sessions import stream
from app.studio.service import Studio
from tests.llm_server import Reply

from .conftest import TEST_MODEL

WAIT_S = 30  # generous: a loaded machine must not fail these


def test_a_slow_page_sees_the_latest_progress_not_a_backlog() -> None:
    shown, emitted, release = threading.Event(), threading.Event(), threading.Event()

    def work(emit) -> None:
        emit(Progress("tokens", 0, 1000))
        shown.wait(WAIT_S)
        for frame in range(1, 1000):
            emit(Progress("tokens", frame, 1000))
        emitted.set()
        release.wait(WAIT_S)
        emit(Progress("saving"))

    events = stream(work, threading.Event())
    assert next(events) == Progress("tokens", 0, 1000)
    shown.set()
    assert emitted.wait(WAIT_S)  # the page was busy while the job made 999 more frames
    assert next(events) == Progress("tokens", 999, 1000)  # the latest, not frame 1 of a backlog
    release.set()
    assert [e.phase for e in events] == ["saving"]


def test_every_phase_and_every_non_progress_event_still_arrives_in_order() -> None:
    written = SheetWritten(sheet=Sheet(title="kept"))

    def work(emit) -> None:
        emit(Progress("writing"))
        for n in range(1, 200):
            emit(TextChunk("x" * n))
        emit(written)
        for frame in range(100):
            emit(Progress("tokens", frame, 100))
        emit(Progress("saving"))

    got = list(stream(work, threading.Event()))
    assert got[0] == Progress("writing") and written in got and got[-1] == Progress("saving")
    texts = [e.text for e in got if isinstance(e, TextChunk)]
    assert texts and texts[-1] == "x" * 199 and texts == sorted(texts, key=len)  # latest wins, never older
    frames = [e.done for e in got if isinstance(e, Progress) and e.phase == "tokens"]
    assert frames and frames[-1] == 99 and frames == sorted(frames)
    assert got.index(written) > max(i for i, e in enumerate(got) if isinstance(e, TextChunk))


def test_no_progress_reaches_the_page_once_stop_is_pressed() -> None:
    cancel, asked, release = threading.Event(), threading.Event(), threading.Event()

    def work(emit) -> None:
        emit(Progress("waiting", place=1))
        asked.wait(WAIT_S)
        threading.Event().wait(0.2)  # the page is waiting for the next event now
        cancel.set()  # the Stop lands...
        emit(Progress("tokens", 1, 10))  # ...with a progress update right behind it, which must not be shown
        release.wait(WAIT_S)  # work that does not look at `cancel`

    events = stream(work, cancel)
    assert next(events).phase == "waiting"
    asked.set()
    with pytest.raises(JobCancelled):
        next(events)
    release.set()


def test_updates_are_handed_out_at_most_once_per_interval() -> None:
    now = [100.0]
    channel = LatestChannel(
        supersedes=lambda old, new: type(old) is type(new), is_update=lambda e: isinstance(e, TextChunk),
        interval_s=0.25, clock=lambda: now[0],
    )
    channel.put(TextChunk("a"))
    assert channel.get(timeout=0) == TextChunk("a")
    for text in ("ab", "abc", "abcd"):
        channel.put(TextChunk(text))
    assert len(channel) == 1  # one slot, not a backlog
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.05)  # the clock has not moved: the next update is not due yet
    now[0] += 0.25
    assert channel.get(timeout=0) == TextChunk("abcd")
    channel.put(TextChunk("abcde"))
    channel.put("the end")  # anything else behind a held update sends both at once, in order
    assert channel.get(timeout=0) == TextChunk("abcde") and channel.get(timeout=0) == "the end"


def test_a_huge_streamed_answer_ends_the_write_with_a_clear_error(tmp_path: Path, llm_server) -> None:
    # 600 KB in 1,500 pieces through the real ollama client: the Write ends, and no preview passes the cap.
    llm_server.script(Reply('{"title": "' + "la " * 200_000 + '"}', piece_chars=400))
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data", ollama_url=llm_server.url,
                             ollama_model=TEST_MODEL)
    studio = Studio(settings)
    texts: list[int] = []
    with pytest.raises(LLMError, match="ran past"):
        for event in studio.write(Sheet("a song"), frozenset({"title"}), LlmChoice("ollama")):
            if isinstance(event, TextChunk):
                texts.append(len(event.text))
    assert texts and max(texts) < 100_000
