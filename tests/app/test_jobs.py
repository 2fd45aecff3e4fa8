"""Generation jobs: phase order, only ticked fields written, the device queue, and Stop at every phase."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.studio.errors import JobCancelled
from heartmula_core.audio import read_audio
from app.studio.history import History, NewTake
from app.studio.jobs import (
    ComposeJob,
    DeviceQueue,
    EtaClock,
    Finished,
    MusicSettings,
    Progress,
    Sheet,
    SheetWritten,
    TextChunk,
)
from app.studio.sessions import stream

SR = 48000
FRAMES = 6


class ScriptedWriter:
    """A songwriter double: fills each ticked field with a marked value, streaming it piece by piece."""

    def write(self, sheet, fill, on_text, cancel):
        changes = {}
        for name in sorted(fill):
            if cancel.is_set():
                raise JobCancelled("stopped")
            value = f"[verse]\nwritten {name}" if name == "lyrics" else f"written {name}"
            on_text(value)
            changes[name] = value
        return SheetWritten(dataclasses.replace(sheet, **changes), repairs=())


class FrameMaker:
    """A music-engine double: one progress event per frame, checking cancel each frame like the pipeline."""

    def __init__(self) -> None:
        self.calls = 0

    def make(self, sheet, settings, progress, cancel):
        self.calls += 1
        clock = EtaClock()
        for frame in range(1, FRAMES + 1):
            if cancel.is_set():
                raise JobCancelled("stopped")
            progress(clock.stamp("tokens", frame, FRAMES))
        base = settings.seed or 0
        return [
            NewTake(np.full((2, 960), 0.01 * (i + 1), np.float32), SR, base + i, np.zeros((FRAMES, 8), np.int64))
            for i in range(settings.variants)
        ]


def _job(tmp_path: Path, fill=frozenset({"title", "lyrics"}), **kw) -> ComposeJob:
    sheet = Sheet(description="sunny pop", title="", lyrics="", tags="pop,happy", seconds=2)
    fields = dict(
        sheet=sheet,
        fill=fill,
        music=MusicSettings(variants=2, seed=11),
        writer=ScriptedWriter(),
        maker=FrameMaker(),
        history=History(tmp_path),
        device_queue=DeviceQueue(),
    )
    fields.update(kw)
    return ComposeJob(**fields)


def test_compose_writes_ticked_fields_then_keeps_the_song(tmp_path: Path) -> None:
    job = _job(tmp_path)
    events = list(stream(job.run, job.cancel))
    phases = [e.phase for e in events if isinstance(e, Progress)]
    # Progress is latest-wins (a page slower than the job sees the newest count), but every phase shows.
    assert phases[0] == "writing" and phases[-1] == "saving" and "tokens" in phases
    assert [e.text for e in events if isinstance(e, TextChunk)][-1] == "written title"
    written = next(e for e in events if isinstance(e, SheetWritten)).sheet
    assert (written.title, written.tags, written.description) == ("written title", "pop,happy", "sunny pop")
    song = events[-1].song
    assert isinstance(events[-1], Finished)
    assert job.history.search("written") == [song]
    assert [t.seed for t in song.takes] == [11, 12] and song.settings["seeds"] == [11, 12]
    last_tokens = [e for e in events if isinstance(e, Progress) and e.phase == "tokens"][-1]
    assert last_tokens.eta_s == 0 and "6 / 6 frames" in last_tokens.describe()


def test_nothing_ticked_and_nothing_to_sing_is_a_clear_error(tmp_path: Path) -> None:
    job = _job(tmp_path, fill=frozenset(), sheet=Sheet(description="just a mood"))
    with pytest.raises(ValueError, match="lyrics or tags"):
        list(stream(job.run, job.cancel))
    assert job.maker.calls == 0 and len(job.history) == 0


def _stop_when(job: ComposeJob, predicate):
    """Run the job, setting its cancel event at the first event matching `predicate`."""

    def emit(event) -> None:  # called in the job's own thread, so the stop lands exactly there
        if predicate(event):
            job.cancel.set()

    with pytest.raises(JobCancelled):
        job.run(emit)


@pytest.mark.parametrize(
    "where",
    [
        lambda e: isinstance(e, Progress) and e.phase == "writing",  # before the LLM answers
        lambda e: isinstance(e, TextChunk),  # while the LLM streams
        lambda e: isinstance(e, SheetWritten),  # between writing and music
        lambda e: isinstance(e, Progress) and e.phase == "tokens" and e.done == 3,  # mid-music
        lambda e: isinstance(e, Progress) and e.phase == "tokens" and e.done == FRAMES,  # music done, not yet kept
    ],
    ids=["writing", "streaming", "written", "tokens", "before-saving"],
)
def test_stop_at_any_phase_keeps_nothing(tmp_path: Path, where) -> None:
    job = _job(tmp_path)
    _stop_when(job, where)
    assert len(job.history) == 0
    assert list(job.history.songs_dir.iterdir()) == []


def test_stop_while_waiting_in_the_queue(tmp_path: Path) -> None:
    device = DeviceQueue()
    first = _job(tmp_path, device_queue=device)
    second = _job(tmp_path, device_queue=device, history=first.history)
    release = threading.Event()
    held = threading.Event()

    def hold_device() -> None:
        with device.turn(lambda place: None, threading.Event()):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_device)
    holder.start()
    held.wait(10)
    places = []

    def on_event(event) -> bool:
        if isinstance(event, Progress) and event.phase == "waiting":
            places.append(event.place)
            return True
        return False

    _stop_when(second, on_event)
    release.set()
    holder.join(10)
    assert places == [1] and device.waiting == 0
    # The queue is free again: the first job runs straight through.
    assert isinstance(list(stream(first.run, first.cancel))[-1], Finished)
    assert len(first.history) == 1


def test_jobs_take_turns_and_see_their_place(tmp_path: Path) -> None:
    device = DeviceQueue()
    history = History(tmp_path)
    order: list[str] = []
    gate = threading.Event()

    class Gated(FrameMaker):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def make(self, sheet, settings, progress, cancel):
            order.append(f"{self.name} start")
            gate.wait(10)
            takes = super().make(sheet, settings, progress, cancel)
            order.append(f"{self.name} end")
            return takes

    a = _job(tmp_path, fill=frozenset(), maker=Gated("a"), device_queue=device, history=history)
    b = _job(tmp_path, fill=frozenset(), maker=Gated("b"), device_queue=device, history=history)
    a_events: list = []
    runner = threading.Thread(target=lambda: a_events.extend(stream(a.run, a.cancel)))
    runner.start()
    while not order:  # a holds the device
        threading.Event().wait(0.01)
    b_events = []
    for event in stream(b.run, b.cancel):
        b_events.append(event)
        if isinstance(event, Progress) and event.phase == "waiting":
            gate.set()  # let a finish once b has been told it waits
    runner.join(10)
    assert order == ["a start", "a end", "b start", "b end"]
    assert [e.place for e in b_events if isinstance(e, Progress) and e.phase == "waiting"] == [1]
    assert isinstance(a_events[-1], Finished) and isinstance(b_events[-1], Finished)
    assert len(history) == 2


def test_progress_lines() -> None:
    assert Progress("waiting", place=2).describe() == "Waiting for the music engine: 2 songs ahead of yours"
    assert Progress("tokens", 120, 375, 11.6).describe() == "Making the music: 120 / 375 frames, about 12 s left"
    assert Progress("loading").describe() == "Loading the models"


# --- with the real tiny pipeline ------------------------------------------------------------------------------

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "heartmula" / "tiny"


@pytest.fixture(scope="module")
def tiny_maker(tmp_path_factory: pytest.TempPathFactory):
    from app.settings import load_settings
    from app.studio.engines import PipelineMusicMaker

    settings = load_settings(
        Path("/dev/null"), data_dir=tmp_path_factory.mktemp("data"), lm_dir=TINY / "HeartMuLa-tiny",
        gen_dir=TINY / "HeartMuLaGen-tiny", codec_dir=TINY / "HeartCodec-tiny", device="cpu", dtype="float32",
    )
    return PipelineMusicMaker(settings)


def _tiny_job(tmp_path: Path, maker) -> ComposeJob:
    sheet = Sheet(description="tiny", title="Tiny", lyrics="[verse]\nla la la", tags="pop", seconds=1.2)
    return ComposeJob(sheet=sheet, fill=frozenset(), music=MusicSettings(variants=2, seed=3), writer=None,
                      maker=maker, history=History(tmp_path), device_queue=DeviceQueue())


def test_tiny_pipeline_song_is_kept_with_tokens_that_redecode(tmp_path: Path, tiny_maker) -> None:
    job = _tiny_job(tmp_path, tiny_maker)
    events: list = []
    song = job.run(events.append)
    phases = [e.phase for e in events if isinstance(e, Progress)]
    assert {"loading", "tokens", "decoding", "saving"} <= set(phases)
    assert len(song.takes) == 2 and song.takes[0].seed == 3 and song.takes[0].seed != song.takes[1].seed
    audio, rate = read_audio(song.takes[1].audio)
    assert rate == 48000 and audio.shape[0] == 2 and audio.shape[1] > 0.5 * rate
    tokens = np.load(song.takes[1].tokens)
    assert tokens.ndim == 2 and tokens.shape[1] == 8
    again = tiny_maker.decode("rl", tokens, song.takes[1].seed)  # same tokens + seed: same audio
    assert again.sample_rate == rate
    np.testing.assert_allclose(again.audio, audio, atol=2e-4)  # 24-bit FLAC rounding


@pytest.mark.parametrize("phase", ["loading", "tokens", "decoding"])
def test_tiny_pipeline_stopped_in_any_phase_keeps_nothing(tmp_path: Path, tiny_maker, phase: str) -> None:
    job = _tiny_job(tmp_path, tiny_maker)
    _stop_when(job, lambda e: isinstance(e, Progress) and e.phase == phase)
    assert len(job.history) == 0 and list(job.history.songs_dir.iterdir()) == []


class StopDuringSave(History):
    """A history whose save is hit by a Stop that outlasts the page's grace: just before the job's commit point
    (`stop_first`) or just after it. `saved` is set when the save has returned or raised."""

    def __init__(self, folder: Path, *, stop_first: bool) -> None:
        super().__init__(folder)
        self.stop_first = stop_first
        self.cancel = threading.Event()
        self.saved = threading.Event()

    def _stop_and_outlast_the_grace(self) -> None:
        from app.studio.sessions import STOP_GRACE_S

        self.cancel.set()
        time.sleep(STOP_GRACE_S + 0.4)

    def save(self, *, before_commit=None, **fields):
        def commit_point() -> None:
            if self.stop_first:
                self._stop_and_outlast_the_grace()
            before_commit()
            if not self.stop_first:
                self._stop_and_outlast_the_grace()

        try:
            return super().save(before_commit=commit_point, **fields)
        finally:
            self.saved.set()


@pytest.mark.parametrize("stop_first", [True, False])
def test_a_stop_during_the_save_and_the_page_agree_on_what_was_kept(tmp_path: Path, stop_first: bool) -> None:
    history = StopDuringSave(tmp_path, stop_first=stop_first)
    job = _job(tmp_path, fill=frozenset(), sheet=Sheet(lyrics="[verse]\nla", tags="pop"), history=history,
               cancel=history.cancel)
    if stop_first:  # the page gives up first: it says "nothing was kept", and nothing is
        with pytest.raises(JobCancelled):
            list(stream(job.run, job.cancel, job.gate))
        assert history.saved.wait(10)
        assert len(history) == 0 and list(history.songs_dir.iterdir()) == []
    else:  # the song was being kept when the Stop came: the page waits for it and shows it as kept
        events = list(stream(job.run, job.cancel, job.gate))
        assert isinstance(events[-1], Finished) and len(history) == 1


class RequestRecorder:
    """A music-engine double over the real adapter's `request`: it keeps the engine's MusicRequest each job
    would send, and makes silent takes instead of music."""

    def __init__(self, tmp_path: Path) -> None:
        from app.settings import load_settings
        from app.studio.engines import PipelineMusicMaker

        self.adapter = PipelineMusicMaker(load_settings(Path("/dev/null"), data_dir=tmp_path / "data"))
        self.requests: list = []

    def make(self, sheet, settings, progress, cancel):
        self.requests.append(self.adapter.request(sheet, settings))
        return [NewTake(np.zeros((2, 960), np.float32), SR, i, np.zeros((FRAMES, 8), np.int64))
                for i in range(settings.variants)]


@pytest.mark.parametrize("fill", [frozenset(), frozenset({"title"})])
def test_protecting_quotes_are_not_sung_but_stay_in_the_kept_sheet(tmp_path: Path, fill) -> None:
    lyrics = '[verse]\n"we ride till dawn"\nthe road is \u201cours\u201d\n\n[chorus]\n\u201cla la la\u201d'
    sheet = Sheet(description="pop", title="Road", lyrics=lyrics, tags="pop", seconds=2)
    recorder = RequestRecorder(tmp_path)
    song = _job(tmp_path, sheet=sheet, fill=fill, maker=recorder).run(lambda event: None)
    (request,) = recorder.requests
    assert request.lyrics == '[verse]\nwe ride till dawn\nthe road is \u201cours\u201d\n\n[chorus]\nla la la'
    assert song.lyrics == lyrics  # the sheet the page and History show keeps them
