"""How a job's events reach the page (`sessions.stream`): latest progress wins when the page is slower than the
job, nothing piles up, a Stop is answered without the page first working through progress that is already stale
(issue 17.6 and 17.8) nor waiting for work that does not look, and the job's error or kept song still arrives."""

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
from app.studio.jobs import Finished, Progress, Sheet, SheetWritten, TextChunk
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


def test_closing_the_stream_cancels_the_work() -> None:
    cancel = threading.Event()
    stopped = threading.Event()

    def work(emit) -> None:
        for i in range(1000):
            if cancel.wait(0.01):
                stopped.set()
                return
            emit(Progress("tokens", i, 1000))

    events = stream(work, cancel)
    next(events)
    events.close()  # what happens when the page goes away
    assert cancel.is_set() and stopped.wait(5)


def test_stream_reraises_the_error() -> None:
    def work(emit) -> None:
        emit(Progress("writing"))
        raise ValueError("the LLM is down")

    with pytest.raises(ValueError, match="down"):
        list(stream(work, threading.Event()))


def test_a_stop_is_answered_while_the_work_does_not_look() -> None:
    """The work never returns until the test lets it, so only the Stop itself can end the stream; a stream that
    waits for the work fails after a generous wait, not by a race with a loaded machine."""
    cancel = threading.Event()
    release = threading.Event()

    def stuck(emit) -> None:  # a backend call that never checks `cancel` (an LLM still loading, say)
        emit(Progress("writing"))
        release.wait()
        emit(Progress("tokens", 1, 2))  # too late: never shown after the Stop

    events = stream(stuck, cancel)
    assert next(events).phase == "writing"
    cancel.set()
    answers: queue.Queue[BaseException | object] = queue.Queue()

    def next_event() -> None:
        try:
            answers.put(next(events))
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            answers.put(exc)

    threading.Thread(target=next_event, daemon=True).start()
    try:
        answer = answers.get(timeout=WAIT_S)
    except queue.Empty:
        pytest.fail(f"the Stop was not answered within {WAIT_S} s while the work was stuck")
    finally:
        release.set()
    assert isinstance(answer, JobCancelled), answer


def test_a_song_kept_just_before_the_stop_is_still_shown_as_kept() -> None:
    cancel = threading.Event()
    song = object()

    def finishing(emit) -> None:
        emit(Progress("saving"))
        cancel.wait(5)  # the Stop comes while the song is being written
        emit(Progress("saving", 1, 1))  # dropped: the page shows nothing but the outcome now
        emit(Finished(song))

    events = stream(finishing, cancel)
    assert next(events).phase == "saving"
    cancel.set()
    assert [type(e).__name__ for e in events] == ["Finished"]
