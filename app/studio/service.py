"""`Studio`: the one service the page (and `python -m app song`) calls. Handlers stay thin; the work is here.

A Studio owns the history, the device queue and the (lazily loaded) music engine for one data folder. Every
long call is an iterator of job events (`Progress`, `TextChunk`, `SheetWritten`, `Finished`) so a caller can
show progress and stop it; `stop(session)` cancels whatever that browser session has running.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.songwriter.backends import Health
from app.songwriter.lyrics import length_warning
from app.songwriter.prompts import PromptLibrary
from app.songwriter.tag_hints import suggest_tags
from heartmula_core.audio import read_audio
from heartmula_core.hub.catalogue import CATALOGUE
from heartmula_core.errors import InvalidRequest
from heartmula_core.request import check_reference_length

from .downloads import Download, DownloadProgress
from .errors import InvalidInput
from .inputs import NAME_CHARS, QUERY_CHARS, STYLE_TEXT_CHARS, check_sheet, clean_text
from .engines import LlmChoice, LlmSheetWriter, device_and_dtype, make_llm_backend
from .history import History, Song, Take
from .live import FirstTakeTee, LiveTakes
from . import continuing, recordings, remaking
from .continuing import Kind
from .continued_sheet import continued_sheet
from .models import ModelRow, ModelsMissing, download_all, model_rows, shared_lm_folder, song_model_names
from .music import StudioMusic, music_maker
from .sessions import SessionJobs
from .jobs import ComposeJob, DeviceQueue, Event, KeepGate, MusicSettings, Progress, Sheet, SheetWriter, TextChunk

if TYPE_CHECKING:
    from app.settings import Settings
    from heartmula_core.transcribe import Transcriber  # imported at first use: torch takes seconds to import

log = logging.getLogger(__name__)


class Studio:
    """Write, compose, keep, find and re-make songs for one data folder.

    Args:
        settings: the app settings (data folder, model folders, LLM servers, limits).
        music: the music engine (default: `music_maker(settings)`: HeartMuLa through `heartmula_core.pipeline`,
            loaded on first use, or the workers of the Ray cluster at `settings.ray_address`).
    """

    def __init__(self, settings: Settings, *, music: StudioMusic | None = None) -> None:
        self.settings = settings
        self.history = History(settings.data_dir)
        self.music = music or music_maker(settings)
        self.device_queue = DeviceQueue()  # this computer's device: its songs, transcription, a recording's encoder
        # A cluster's songs wait in the cluster's own queue, in order with every other studio's there (the page
        # shows that place), so the studio lets them all through; locally they share the device's queue.
        self.music_queue = DeviceQueue(sys.maxsize) if self.music.own_queue else self.device_queue
        self.jobs = SessionJobs()  # what each page session has running, for its Stop
        self._lock = threading.Lock()  # the transcriber and the music engine's load state
        self._transcriber: Transcriber | None = None
        self.live = LiveTakes()  # the first take of each session's latest Compose, heard while it is made

    # -- songwriting -------------------------------------------------------------------------------------

    def llm_choice(self, backend: str, url: str = "", model: str = "", api_key: str = "") -> LlmChoice:
        """The LLM the page picked; empty fields fall back to the settings."""
        backend = backend.lower()
        if backend not in ("ollama", "openai"):
            raise InvalidInput(f"Choose Ollama or OpenAI as the LLM, not {backend!r}.")
        model = clean_text(model, "the LLM model name", max_chars=NAME_CHARS)
        return LlmChoice(backend, url.strip(), model.strip(), api_key.strip())

    def llm_models(self, choice: LlmChoice) -> list[str]:
        """The models the chosen LLM server offers (raises the songwriter's one-line error when it is down)."""
        return list(make_llm_backend(self.settings, choice).list_models())

    def writer(self, choice: LlmChoice) -> SheetWriter:
        return LlmSheetWriter(self.settings, choice)

    def write(self, sheet: Sheet, fill: frozenset[str], choice: LlmChoice, session: str = "") -> Iterator[Event]:
        """Fill the ticked fields of `sheet`; yields Progress, TextChunk (the text so far) and one SheetWritten.

        The sheet is checked at once (an `InvalidInput` here, before any event); the work starts on the first `next`.
        """
        sheet = self.check_sheet(sheet, fill, need_music=False)
        writer = self.writer(choice)

        def work(emit: Any, gate: KeepGate) -> None:
            emit(Progress("writing"))
            emit(writer.write(sheet, fill, lambda text: emit(TextChunk(text)), gate.cancel))

        return self.jobs.run(session, work)

    def length_warning(self, lyrics: str, seconds: float) -> str | None:
        """A line when `lyrics` cannot fit a song of `seconds` (the Length changed after a Write), else None."""
        if not lyrics.strip() or seconds <= 0:
            return None
        return length_warning(lyrics, seconds, PromptLibrary().structure_table())

    def tag_suggestions(self, typed: str) -> list[str]:
        """Vocabulary tags to offer while the musician types `typed` in the Tags field (songwriter/tag_hints.py)."""
        return suggest_tags(typed, PromptLibrary().vocabulary())  # read each time: a musician may extend it

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
        sheet = self.check_sheet(sheet, fill, need_music=True)
        music = dataclasses.replace(music, style_text=clean_text(
            music.style_text, "the style description", max_chars=STYLE_TEXT_CHARS))
        if music.style_audio:
            self.check_reference(music.style_audio)

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
                device_queue=self.music_queue,
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

        # A started song is kept even if its tab is closed: only Stop drops it.
        return self.jobs.run(session, work, on_stopped=tee.abandon, outlive_page=True)

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
        one variant, a fresh seed). Checked at once (InvalidInput / SongNotFound before any event), like `compose`.
        """
        plan = continuing.plan(self.history, song_id, take, kind, from_seconds)
        parent = self.history.get(song_id)
        sheet = continued_sheet(parent, plan, seconds, new_lyrics, fill)
        if music is None:
            music = dataclasses.replace(MusicSettings.of_song(parent, self.settings.lm_variant), variants=1, seed=None)
        return self._compose(sheet, fill, music, choice, session, plan, description=parent.description)

    # -- starting from a recording (recordings.py) ---------------------------------------------------------

    def check_recording(self, path: str | Path) -> tuple[np.ndarray, int]:
        """An uploaded recording read within its caps: float32 (channels, samples) and its rate."""
        return recordings.check_recording(path, self.settings)

    def recording_missing(self, variant: str | None = None) -> str | None:
        """Why a recording cannot be started from here (a model is not on this computer), or None."""
        return recordings.missing_models(self.music, variant or self.settings.lm_variant)

    def keep_recording(self, path: str | Path, sheet: Sheet, *, lm_variant: str | None = None,
                       session: str = "") -> Iterator[Event]:
        """Encode a recording into tokens and keep it as a song (its take: what the tokens hold; the recording
        kept beside it), to extend or redo with `continue_song`. Progress "encoding" counts 30 s chunks, then
        "decoding"; ends with `Finished`. The recording, the sheet (tags or lyrics) and the models are checked at
        once; Stop keeps nothing."""
        return self.jobs.run(session, self._recording_job(path, sheet, lm_variant).run)

    def continue_recording(self, path: str | Path, sheet: Sheet, kind: Kind, *, seconds: float,
                           from_seconds: float | None = None, new_lyrics: str = "",
                           fill: frozenset[str] = frozenset(), music: MusicSettings | None = None,
                           choice: LlmChoice | None = None, session: str = "") -> Iterator[Event]:
        """`keep_recording`, then `continue_song` on its take (arguments as there), all checked before encoding.
        The kept recording is announced as `recordings.RecordingKept`, the new song as `Finished`."""
        job = self._recording_job(path, sheet, music.lm_variant if music is not None else None)
        recordings.check_continuation(kind, seconds, from_seconds, fill, job.audio.shape[-1] / job.rate)
        recordings.check_words(kind, job.sheet.lyrics, new_lyrics, fill)
        return recordings.chain(self.jobs.run(session, job.run), lambda song: self.continue_song(
            song.id, 1, kind, seconds=seconds, from_seconds=from_seconds, new_lyrics=new_lyrics, fill=fill,
            music=music, choice=choice, session=session))

    def _recording_job(self, path: str | Path, sheet: Sheet, variant: str | None) -> recordings.RecordingJob:
        variant = variant or self.settings.lm_variant
        audio, rate = self.check_recording(path)
        sheet = recordings.recording_sheet(path, sheet, audio.shape[-1] / rate, self.settings.max_lyrics_chars)
        missing = self.recording_missing(variant)
        if missing:
            raise ModelsMissing(missing)
        return recordings.RecordingJob(Path(path), audio, rate, sheet, variant, self.settings, self.music,
                                       self.history, self.device_queue)

    def stop(self, session: str = "") -> int:
        """Cancel everything `session` has running; returns how many jobs were told to stop."""
        return self.jobs.stop(session)

    def check_sheet(self, sheet: Sheet, fill: frozenset[str], *, need_music: bool) -> Sheet:
        """`inputs.check_sheet` within this studio's limits on lyrics: the sheet, cleaned, or InvalidInput."""
        return check_sheet(sheet, fill, need_music=need_music, max_lyrics_chars=self.settings.max_lyrics_chars,
                           max_lyrics_lines=self.settings.max_lyrics_lines)

    # -- history -----------------------------------------------------------------------------------------

    def search(self, text: str = "", sort: str = "newest") -> list[Song]:
        query = clean_text(text, "the search", max_chars=QUERY_CHARS)
        return self.history.search(query, sort=sort)  # type: ignore[arg-type]

    def song(self, song_id: str) -> Song:
        return self.history.get(song_id)

    def children(self, song_id: str) -> list[Song]:
        """The songs continued from `song_id` (extended or redone), oldest first."""
        return self.history.children(song_id)

    def delete(self, song_id: str) -> None:
        self.history.delete(song_id)

    def export(self, song_id: str, index: int, fmt: str) -> Path:
        return self.history.export(song_id, index, fmt)

    def remake_audio(self, song_id: str, index: int, session: str = "") -> Iterator[Event]:
        """Make take `index`'s audio again from its saved tokens (same seed), on the device, in turn: Progress
        ("waiting", then "redecoding" windows done of total), then `Finished(song)`. Checked at once."""
        work = remaking.remake_audio(self.history, self.music, self.music_queue, self.settings.lm_variant,
                                     song_id, index)
        return self.jobs.run(session, work)

    def redecode(self, song_id: str, index: int, session: str = "") -> Take:
        """`remake_audio` without its progress: the take with its new audio."""
        *_, finished = self.remake_audio(song_id, index, session)
        return next(t for t in finished.song.takes if t.index == index)

    # -- uploads and transcription -------------------------------------------------------------------------

    def check_upload(self, path: str | Path, *, max_seconds: float) -> tuple[np.ndarray, int]:
        """Read an uploaded recording within the size cap and `max_seconds` (every upload path passes its cap
        from the settings); corrupt, too large or too long is a clear `InvalidRequest` that names the file as
        the musician knows it (not the server's upload folder).

        The length comes from the file's header and is checked before anything is decoded, and decoding reads
        no more than the header's length, so a small compressed file holding hours of silence costs nothing.
        """
        try:
            return read_audio(path, max_bytes=self.settings.max_upload_bytes, max_seconds=max_seconds)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc).replace(str(path), Path(path).name)) from None

    def check_reference(self, path: str | Path) -> tuple[np.ndarray, int]:
        """A style reference as `check_upload` reads it, and long enough to carry a style: the same check, and
        the same words, as `python -m heartmula_core embed` (the page says it on upload, Compose again)."""
        audio, rate = self.check_upload(path, max_seconds=self.settings.max_style_audio_s)
        check_reference_length(audio.shape[-1], rate, Path(path).name)
        return audio, rate

    def transcribing(self, path: str | Path, session: str = "") -> Iterator[Event | remaking.Transcribed]:
        """The lyrics heard in an uploaded song, with [verse]/[chorus] where repetition makes them clear: Progress
        ("waiting", "loading", then "transcribing" parts done of total), then one `Transcribed`. The upload is
        checked at once."""
        self.check_upload(path, max_seconds=self.settings.max_transcribe_audio_s)
        return self.jobs.run(session, remaking.transcribe_upload(path, self._need_transcriber, self.device_queue))

    def transcribe(self, path: str | Path) -> str:
        """`transcribing` without its progress: the lyrics' text."""
        *_, heard = self.transcribing(path)
        return heard.text

    def _need_transcriber(self) -> Transcriber:
        from heartmula_core.transcribe import Transcriber  # torch: imported when first used, like the pipeline

        with self._lock:
            if self._transcriber is None:
                folder = self.music.catalogue().resolve("transcriptor", download=False).path
                device, _ = device_and_dtype(self.settings)
                self._transcriber = Transcriber(folder, device, "float32" if device == "cpu" else "float16")
            return self._transcriber

    # -- models ------------------------------------------------------------------------------------------

    def model_rows(self) -> list[ModelRow]:
        """Every catalogue entry: present / partial / missing, its size (on disk, or on the Hub when missing and
        Hugging Face can be asked), where, and whether one folder serves every LM variant."""
        return model_rows(self.music.catalogue(), self.music.hub_sizes)

    def song_models(self, variant: str | None = None) -> list[ModelRow]:
        """The models a song with LM `variant` (default: the setting) needs, in the same form."""
        names = song_model_names(variant or self.settings.lm_variant)
        return model_rows(self.music.catalogue(), self.music.hub_sizes, names)

    def transcriber_missing(self) -> str | None:
        """Why Transcribe cannot run here (its model is not on this computer), or None when it can."""
        (row,) = model_rows(self.music.catalogue(), self.music.hub_sizes, ["transcriptor"])
        if row.state == "present":
            return None
        size = f" ({row.size})" if row.size_bytes else ""
        return (f"Transcribing needs the transcriptor model{size}, which this computer does not have: download it in "
                "Models & Settings (or run `python -m heartmula_core download transcriptor`).")

    def shared_lm_folder(self) -> Path | None:
        """The one folder serving every LM variant (then the variant choice changes nothing), else None."""
        return shared_lm_folder(self.music.catalogue())

    def model_names(self) -> list[str]:
        return list(CATALOGUE)

    def start_download(self, name: str) -> Download:
        """Start downloading a catalogue entry in the background; the page follows its `progress()`."""
        return Download(self.music.catalogue(), name).start()

    def download_models(self, names: list[str]) -> Iterator[tuple[int, DownloadProgress]]:
        """Download `names` in turn, yielding (which, its progress); raises the first failure (logged)."""
        return download_all(self.music.catalogue(), names)

    def llm_health(self, ollama_url: str = "", openai_url: str = "", key: str = "") -> list[Health]:
        """Whether Ollama and the OpenAI-compatible server answer (one line each, with the usual hints)."""
        found = []
        for backend, url, secret in (("ollama", ollama_url, ""), ("openai", openai_url, key)):
            health = make_llm_backend(self.settings, self.llm_choice(backend, url, "", secret)).health()
            if not health.ok:
                log.warning("LLM check: %s", health.message)
            found.append(health)
        return found

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
