"""Start from a recording: a musician's own audio turned into HeartMuLa tokens and kept as a History song, which
is then extended or redone exactly like any kept take (`Studio.continue_song`).

The recording is checked like every upload (the size cap, and `max_recording_audio_s`), then for what makes
encoding pointless (unreadable, silent, shorter than one token frame, NaN samples): one clear line each, before
any model loads. The HeartCodec encoder turns it into int64 [frames, 8] tokens, 29.76 s chunk by chunk (progress
per chunk, Stop checked before each), and the codec decodes those tokens into the take's audio, so the kept take
is what the tokens hold: a continuation keeps exactly what History plays. The song's settings say
`origin: recording`; a copy of the recording is kept beside its take (`recording.<ext>`), and the songs continued
straight from it keep a copy too. Nothing reaches the history unless the whole song does (`History.save`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from heartmula_core.errors import Cancelled as MakingCancelled
from heartmula_core.errors import InvalidRequest
from heartmula_core.hub.catalogue import DEFAULT_CODEC, DEFAULT_ENCODER
from heartmula_core.request import FRAME_RATE, random_seed

from .continuing import Kind, clock
from .engines import device_and_dtype
from .errors import InvalidInput, JobCancelled
from .history import History, Song
from .inputs import clean_sheet
from .records import RECORDING_ORIGIN
from .jobs import DeviceQueue, EtaClock, Event, Finished, KeepGate, Progress, Sheet
from .models import missing_message, model_rows, song_model_names
from .music import StudioMusic
from .song_files import Decoded, NewTake

if TYPE_CHECKING:
    from app.settings import Settings

@dataclass(frozen=True)
class RecordingKept:
    """The recording is in the history as a song of its own; the continuation made from it comes next."""

    song: Song


def check_recording(path: str | Path, settings: Settings) -> tuple[np.ndarray, int]:
    """A recording as float32 (channels, samples) and its rate, within the upload caps and worth encoding.

    Raises InvalidRequest (one line naming the file as the musician knows it, not the server's upload folder):
    empty, corrupt, over `max_upload_mb` or `max_recording_audio_s`, more than two channels, shorter than one
    token frame (80 ms), NaN or infinite samples, or silent.
    """
    from heartmula_core.codec.encoder.recording import read_recording  # torch: loaded with the first recording

    try:
        return read_recording(path, max_seconds=settings.max_recording_audio_s, max_bytes=settings.max_upload_bytes)
    except InvalidRequest as exc:
        raise InvalidRequest(str(exc).replace(str(path), Path(path).name)) from None


def missing_models(maker: StudioMusic, variant: str) -> str | None:
    """Why a recording cannot be started from here (the encoder, or a model every song needs, is not on this
    computer), or None when it can."""
    catalogue = maker.catalogue()
    (encoder,) = model_rows(catalogue, maker.hub_sizes, [DEFAULT_ENCODER])
    if encoder.state != "present":
        size = f" ({encoder.size})" if encoder.size_bytes else ""
        how = ("download it where Hugging Face can be reached (`python -m heartmula_core download encoder`) or set "
               "HEARTSONG_ENCODER_DIR" if catalogue.offline else
               "download it in Models & Settings (or run `python -m heartmula_core download encoder`)")
        state = "only partly downloaded" if encoder.state == "partial" else "not on this computer"
        return (f"Starting from a recording needs the HeartCodec encoder (the 'encoder' model, "
                f"HeartMuLa/HeartCodec-oss-encoder{size}), which is {state}: {how}.")
    rows = model_rows(catalogue, maker.hub_sizes, song_model_names(variant))
    if any(row.state == "missing" for row in rows):
        return missing_message(rows, catalogue.offline)
    return None


def recording_sheet(path: str | Path, sheet: Sheet, seconds: float, max_lyrics_chars: int) -> Sheet:
    """The kept song's sheet: what the musician said about the recording, its title defaulting to the file's
    name, its length the recording's. Tags are needed: every song the model makes from it is made with them."""
    sheet = clean_sheet(sheet, max_lyrics_chars=max_lyrics_chars)
    if not sheet.tags.strip():
        raise InvalidInput('Give the recording its tags (its style, e.g. "pop, piano"): the model goes on from it '
                           "in that style.")
    title = sheet.title.strip() or f"{Path(path).stem[:150]} (recording)"
    return dataclasses.replace(sheet, title=title, seconds=round(seconds, 2))


@dataclass
class RecordingJob:
    """Encode one checked recording, decode its tokens, keep it as a song; `run(emit, gate)` does it."""

    path: Path
    audio: np.ndarray  # float32 (channels, samples), as `check_recording` read it
    rate: int
    sheet: Sheet
    variant: str  # the LM release its settings name (whose pipeline decodes the tokens)
    settings: Settings
    maker: StudioMusic
    history: History
    device_queue: DeviceQueue

    def run(self, emit: Callable[[Event], None], gate: KeepGate) -> Song:
        """Raises JobCancelled after a Stop (nothing kept), the engine's one-line errors otherwise."""
        cancel = gate.cancel
        try:
            with self.device_queue.turn(lambda place: emit(Progress("waiting", place=place)), cancel):
                emit(Progress("loading"))
                tokens = self.encode(emit, cancel)
                seed = random_seed()
                decoded = self.decode(tokens, seed, emit, cancel)
        except MakingCancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None
        emit(Progress("saving"))
        settings = {"origin": RECORDING_ORIGIN, "recording_name": self.path.name, "lm_variant": self.variant,
                    "encoder": DEFAULT_ENCODER, "seeds": [seed]}
        song = self.history.save(
            title=self.sheet.title, description=self.sheet.description, lyrics=self.sheet.lyrics,
            tags=self.sheet.tags, seconds=len(tokens) / FRAME_RATE, settings=settings,
            # Its codec latents too, so a continuation of the recording does not decode its kept windows again.
            takes=[NewTake(audio=decoded.audio, sample_rate=decoded.sample_rate, seed=seed, tokens=tokens,
                           codec_tails=decoded.codec_tails)],
            recording=self.path, before_commit=gate.keep,
        )
        emit(Finished(song))
        return song

    def encode(self, emit: Callable[[Event], None], cancel: threading.Event) -> np.ndarray:
        """The recording's tokens, int64 [frames, 8]. The encoder (about 2.15 GB at full size) is loaded for this
        recording and dropped after it: held beside the LM and codec it would take memory the songs need."""
        from heartmula_core.codec.encoder import load_encoder  # torch: see engines.py
        from heartmula_core.memory import free_memory

        catalogue = self.maker.catalogue()
        device, _ = device_and_dtype(self.settings)
        encoder = load_encoder(catalogue.resolve(DEFAULT_ENCODER, download=False).path,
                               catalogue.resolve(DEFAULT_CODEC, download=False).path, device=device)
        eta = EtaClock()
        try:
            codes = encoder.tokenize(self.audio, self.rate, cancel=cancel,
                                     callback=lambda done, total: emit(eta.stamp("encoding", done, total)))
        finally:
            where = encoder.device
            del encoder
            free_memory(where)
        return codes.numpy().astype(np.int64)

    def decode(self, tokens: np.ndarray, seed: int, emit: Callable[[Event], None],
               cancel: threading.Event) -> Decoded:
        """The tokens' audio float32 [2, samples] at the codec's rate, decoded with `seed`, and its codec latents."""
        emit(Progress("decoding"))

        def on_progress(done: int, total: int, eta: float | None) -> None:
            emit(Progress("decoding", done, total, eta))

        # Through the music maker's own decode, so a studio on a Ray cluster decodes on its workers too.
        return self.maker.decode(self.variant, tokens, seed, on_progress, cancel,
                                 on_place=lambda place: emit(Progress("waiting", place=place)))


def check_words(kind: Kind, old_lyrics: str, new_lyrics: str, fill: frozenset[str]) -> None:
    """The model sings words: a continuation of a recording kept without lyrics needs new ones (an extension's,
    typed or written by the LLM)."""
    if old_lyrics.strip() or (kind == "extend" and (new_lyrics.strip() or fill)):
        return
    raise InvalidInput("The model needs words to sing: give the recording's lyrics (a section tag such as "
                       "[instrumental] will do)" + (", or new lyrics for the extension." if kind == "extend" else "."))


def check_continuation(kind: Kind, seconds: float, from_seconds: float | None, fill: frozenset[str],
                       length: float) -> None:
    """What `Studio.continue_song` would refuse about continuing a recording `length` seconds long, said before
    the recording is encoded (the song made from it is only a few frames off that length)."""
    if kind not in ("extend", "redo"):
        raise InvalidInput(f"Continue means extend or redo, not {kind!r}.")
    if fill - {"lyrics"}:
        raise InvalidInput("Only the new lyrics can be written by the LLM when continuing a song.")
    if kind == "extend":
        if from_seconds is not None:
            raise InvalidInput("An extension keeps the whole recording; give a time only to redo from it.")
        if not seconds > 0:
            raise InvalidInput("Say how many seconds to add (more than 0).")
        return
    if fill:
        raise InvalidInput("A redo keeps the song's lyrics; new lyrics are for an extension.")
    if from_seconds is None:
        raise InvalidInput("Say from when to redo the recording (seconds or mm:ss).")
    if not 0 < from_seconds < length:
        raise InvalidInput(f"Redo from a time inside the recording: after 0:00 and before {clock(length)}.")
    if not seconds > from_seconds:
        raise InvalidInput(f"The redone song must be longer than the part it keeps ({clock(from_seconds)}).")


def chain(kept: Iterator[Event], then: Callable[[Song], Iterator[Event]]) -> Iterator[Event]:
    """The events of keeping a recording (its `Finished` passed on as `RecordingKept`), then those of `then(song)`."""
    song = None
    for event in kept:
        if isinstance(event, Finished):
            song = event.song
            yield RecordingKept(song)
        else:
            yield event
    if song is None:  # keeping either ends with Finished or raises
        raise JobCancelled("Stopped; nothing was kept.")
    yield from then(song)
