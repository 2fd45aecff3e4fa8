"""`Studio`: the one service the page (and `python -m app song`) calls. Handlers stay thin; the work is here.

A Studio owns the history, the device queue and the (lazily loaded) music engine for one data folder. Every
long call is an iterator of job events (`Progress`, `TextChunk`, `SheetWritten`, `Finished`) so a caller can
show progress and stop it; `stop(session)` cancels whatever that browser session has running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from heartmula_core.audio import read_audio
from heartmula_core.errors import InvalidRequest

from .downloads import Download
from .errors import JobCancelled
from .engines import LlmChoice, LlmSheetWriter, PipelineMusicMaker, device_and_dtype, load_layer, make_llm_backend
from .history import History, Song, Take
from .live import FirstTakeTee, LiveTakes
from . import continuing
from .continuing import Kind
from .jobs import ComposeJob, DeviceQueue, Event, KeepGate, MusicSettings, Progress, Sheet, SheetWriter, TextChunk, stream

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)


class Studio:
    """Write, compose, keep, find and re-make songs for one data folder.

    Args:
        settings: the app settings (data folder, model folders, LLM servers, limits).
        music: the music engine (default: HeartMuLa through `heartmula_core.pipeline`, loaded on first use).
    """

    def __init__(self, settings: Settings, *, music: PipelineMusicMaker | None = None) -> None:
        self.settings = settings
        self.history = History(settings.data_dir)
        self.device_queue = DeviceQueue()
        self.music = music or PipelineMusicMaker(settings)
        self._running: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._transcriber: Any = None
        self.live = LiveTakes()  # the first take of each session's latest Compose, heard while it is made

    # -- songwriting -------------------------------------------------------------------------------------

    def llm_choice(self, backend: str, url: str = "", model: str = "", api_key: str = "") -> LlmChoice:
        """The LLM the page picked; empty fields fall back to the settings."""
        backend = backend.lower()
        if backend not in ("ollama", "openai"):
            raise ValueError(f"Choose Ollama or OpenAI as the LLM, not {backend!r}.")
        return LlmChoice(backend, url.strip(), model.strip(), api_key.strip())

    def llm_models(self, choice: LlmChoice) -> list[str]:
        """The models the chosen LLM server offers (raises the songwriter's one-line error when it is down)."""
        return list(make_llm_backend(self.settings, choice).list_models())

    def writer(self, choice: LlmChoice) -> SheetWriter:
        return LlmSheetWriter(self.settings, choice)

    def write(self, sheet: Sheet, fill: frozenset[str], choice: LlmChoice, session: str = "") -> Iterator[Event]:
        """Fill the ticked fields of `sheet`; yields Progress, TextChunk (the text so far) and one SheetWritten.

        The sheet is checked at once (a ValueError here, before any event); the work starts on the first `next`.
        """
        self.check_sheet(sheet, fill, need_music=False)
        writer = self.writer(choice)

        def work(emit: Any, gate: KeepGate) -> None:
            emit(Progress("writing"))
            emit(writer.write(sheet, fill, lambda text: emit(TextChunk(text)), gate.cancel))

        return self._run(session, work)

    # -- composing ---------------------------------------------------------------------------------------

    def compose(
        self,
        sheet: Sheet,
        fill: frozenset[str],
        music: MusicSettings,
        choice: LlmChoice | None = None,
        session: str = "",
    ) -> Iterator[Event]:
        """Write what is ticked, make the music, keep the song; ends with a `Finished` event.

        The sheet and the style reference are checked at once (before any event); the work starts on the first
        `next`, and closing the iterator early cancels it.
        """
        self.check_sheet(sheet, fill, need_music=True)
        if music.style_audio:
            self.check_upload(music.style_audio, max_seconds=self.settings.max_style_audio_s)

        return self._compose(sheet, fill, music, choice, session)

    def _compose(
        self, sheet: Sheet, fill: frozenset[str], music: MusicSettings, choice: LlmChoice | None, session: str,
        continuation: continuing.Continuation | None = None, description: str | None = None,
    ) -> Iterator[Event]:
        """The work of `compose` and `continue_song`: a ComposeJob on its own thread, take 1 heard live.
        `description`, when given, is what the kept song's description is (the sheet's may hold LLM context)."""
        tee = FirstTakeTee(self.live, session)  # held here too, so a Stop answered before the job ends drops it

        def work(emit: Any, gate: KeepGate) -> None:
            tee.emit = emit
            job = ComposeJob(
                sheet=sheet,
                fill=fill,
                music=music,
                writer=self.writer(choice) if fill and choice else None,
                maker=self.music,
                history=self.history,
                device_queue=self.device_queue,
                cancel=gate.cancel,
                gate=gate,
                extra_settings={"llm": choice.public()} if fill and choice else {},
                continuation=continuation,
                description=description,
            )
            try:
                job.run(tee)
            except BaseException:
                tee.abandon()
                raise

        return self._run(session, work, on_stopped=tee.abandon)

    def continue_song(
        self,
        song_id: str,
        take: int | None,
        kind: Kind,
        *,
        seconds: float,
        from_seconds: float | None = None,
        new_lyrics: str = "",
        fill: frozenset[str] = frozenset(),
        music: MusicSettings | None = None,
        choice: LlmChoice | None = None,
        session: str = "",
    ) -> Iterator[Event]:
        """Extend take `take` of a kept song by `seconds`, or redo it from `from_seconds` to `seconds` in all.

        A new song is kept, linked to the take (`History.children`); the parent is not changed. An extension's
        lyrics are the parent's followed by `new_lyrics` (which the LLM writes when `fill` holds "lyrics"); a
        redo keeps the parent's lyrics. `music` gives the variants and seed (default: the parent's settings,
        one variant, a fresh seed). Checked at once (ValueError / SongNotFound before any event), like `compose`.
        """
        plan = continuing.plan(self.history, song_id, take, kind, from_seconds)
        parent = self.history.get(song_id)
        if fill - {"lyrics"}:
            raise ValueError("Only the new lyrics can be written by the LLM when continuing a song.")
        if fill and kind != "extend":
            raise ValueError("A redo keeps the song's lyrics; new lyrics are for an extension.")
        total = plan.kept_seconds + seconds if kind == "extend" else seconds
        if kind == "extend" and not seconds > 0:
            raise ValueError("Say how many seconds to add (more than 0).")
        if kind == "redo" and not total > plan.kept_seconds:
            raise ValueError(f"The redone song must be longer than the part it keeps ({continuing.clock(plan.kept_seconds)}).")
        description = parent.description
        if fill:  # the LLM writes only what comes next: tell it what came before
            description = f"{parent.description}\n\nNew lyrics that carry on after these:\n{parent.lyrics}".strip()
        what = "extended" if kind == "extend" else f"redone from {continuing.clock(plan.kept_seconds)}"
        sheet = Sheet(description, f"{parent.title or 'Untitled'} ({what})", new_lyrics, parent.tags, total)
        if music is None:
            music = dataclasses.replace(MusicSettings.of_song(parent, self.settings.lm_variant), variants=1, seed=None)
        return self._compose(sheet, fill, music, choice, session, plan, description=parent.description)

    def _run(
        self, session: str, work: Callable[[Any, KeepGate], None], on_stopped: Callable[[], None] | None = None
    ) -> Iterator[Event]:
        """`work(emit, gate)` in a thread, as an iterator of its events, cancelled by `stop(session)` (the
        work's cancel event is `gate.cancel`; a song it keeps goes through `gate.keep`). `on_stopped` runs when
        the Stop is answered (`JobCancelled`), which can be before the work has wound down."""
        with self._session(session) as cancel:
            gate = KeepGate(cancel)
            try:
                yield from stream(lambda emit: work(emit, gate), cancel, gate)
            except JobCancelled:
                if on_stopped is not None:
                    on_stopped()
                raise

    def stop(self, session: str = "") -> int:
        """Cancel everything `session` has running; returns how many jobs were told to stop."""
        with self._lock:
            events = list(self._running.get(session, ()))
        for event in events:
            event.set()
        return len(events)

    @contextlib.contextmanager
    def _session(self, session: str) -> Iterator[threading.Event]:
        cancel = threading.Event()
        with self._lock:
            self._running.setdefault(session, set()).add(cancel)
        try:
            yield cancel
        finally:
            cancel.set()  # a job whose page went away winds down
            with self._lock:
                running = self._running.get(session, set())
                running.discard(cancel)
                if not running:
                    self._running.pop(session, None)

    def check_sheet(self, sheet: Sheet, fill: frozenset[str], *, need_music: bool) -> None:
        """Refuse what cannot work, before any LLM or model time is spent."""
        limits = self.settings
        lines = sheet.lyrics.count("\n") + 1
        if len(sheet.lyrics) > limits.max_lyrics_chars or lines > limits.max_lyrics_lines:
            raise ValueError(
                f"The lyrics are too long ({lines} lines, {len(sheet.lyrics)} characters): keep them under "
                f"{limits.max_lyrics_lines} lines and {limits.max_lyrics_chars} characters."
            )
        if not fill and not need_music:
            raise ValueError('Tick "generate" next to the fields the LLM should write.')
        if not fill and not (sheet.lyrics.strip() or sheet.tags.strip()):
            raise ValueError("Give the song some lyrics or tags, or tick them for the LLM to write.")
        if fill and not (sheet.description.strip() or any(getattr(sheet, f).strip() for f in ("title", "lyrics", "tags"))):
            raise ValueError("Describe the song first (a few words are enough), so the LLM knows what to write.")
        if sheet.seconds <= 0:
            raise ValueError("The length must be more than 0 seconds.")

    # -- history -----------------------------------------------------------------------------------------

    def search(self, text: str = "", sort: str = "newest") -> list[Song]:
        return self.history.search(text, sort=sort)  # type: ignore[arg-type]

    def song(self, song_id: str) -> Song:
        return self.history.get(song_id)

    def children(self, song_id: str) -> list[Song]:
        """The songs continued from `song_id` (extended or redone), oldest first."""
        return self.history.children(song_id)

    def delete(self, song_id: str) -> None:
        self.history.delete(song_id)

    def export(self, song_id: str, index: int, fmt: str) -> Path:
        return self.history.export(song_id, index, fmt)

    def redecode(self, song_id: str, index: int, session: str = "") -> Take:
        """Make take `index`'s audio again from its saved tokens (same seed), on the device, in turn."""
        song = self.history.get(song_id)
        take = next((t for t in song.takes if t.index == index), None)
        if take is None or take.tokens is None:
            raise ValueError("This take has no saved tokens to re-decode.")
        tokens = np.load(take.tokens)
        variant = str(song.settings.get("lm_variant", self.settings.lm_variant))
        with self._session(session) as cancel, self.device_queue.turn(lambda place: None, cancel):
            audio, rate = self.music.decode(variant, tokens, take.codec_seed)
        return self.history.replace_take_audio(song_id, index, audio, rate)

    # -- uploads and transcription -------------------------------------------------------------------------

    def check_upload(self, path: str | Path, *, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
        """Read an uploaded recording within the size cap; corrupt or too large is a clear `InvalidRequest`
        that names the file as the musician knows it (not the server's upload folder)."""
        try:
            return read_audio(path, max_bytes=int(self.settings.max_upload_mb * 1e6), max_seconds=max_seconds)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc).replace(str(path), Path(path).name)) from None

    def transcribe(self, path: str | Path) -> str:
        """The lyrics heard in an uploaded song, with [verse]/[chorus] where repetition makes them clear."""
        self.check_upload(path)
        module = load_layer("heartmula_core.transcribe", "Transcribing lyrics")
        with self._lock:
            if self._transcriber is None:
                folder = self.music.catalogue().resolve("transcriptor", download=False).path
                device, _ = device_and_dtype(self.settings)
                self._transcriber = module.Transcriber(folder, device, "float32" if device == "cpu" else "float16")
            transcriber = self._transcriber
        with self.device_queue.turn(lambda place: None, threading.Event()):
            result = transcriber.transcribe(path, sections=True)
        return str(result.text)

    # -- models ------------------------------------------------------------------------------------------

    def model_status(self) -> list[Any]:
        """Every catalogue entry: present / partial / missing, where, and its size."""
        from heartmula_core.hub.catalogue import CATALOGUE

        catalogue = self.music.catalogue()
        return [catalogue.status(name) for name in CATALOGUE]

    def start_download(self, name: str) -> Download:
        """Start downloading a catalogue entry in the background; the page follows its `progress()`."""
        return Download(self.music.catalogue(), name).start()

    def loaded_models(self) -> list[str]:
        """What holds memory now: each loaded music pipeline (by LM variant) and the transcriber."""
        names = [f"HeartMuLa {variant} (LM and codec)" for variant in self.music.loaded]
        with self._lock:
            if self._transcriber is not None:
                names.append("HeartTranscriptor")
        return names

    def unload(self) -> str:
        """Free the music models' memory (they load again on the next song)."""
        count = self.music.unload()
        with self._lock:
            dropped = self._transcriber is not None
            self._transcriber = None
        if not count and not dropped:
            return "No models were loaded."
        return "Models unloaded; they load again when needed."
