"""Adapters from the songwriting layer and the music engine to the job's two small protocols.

The engine's torch-bound modules (`heartmula_core.pipeline`) are imported when the first song is made, not
when the page starts: importing torch takes seconds, and a musician who only writes lyrics never needs it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import SecretStr

from app.settings import Settings
from app.songwriter.backends import LLMBackend, make_backend
from app.songwriter.errors import Cancelled as WritingCancelled
from app.songwriter.quoted import strip_line_quotes
from app.songwriter.sheet import MAX_SECONDS, SongSheet, parse_fill
from app.songwriter.writer import SongWriter
from heartmula_core.errors import Cancelled as MakingCancelled
from heartmula_core.hub import Catalogue
from heartmula_core.hub.catalogue import DEFAULT_STYLE
from heartmula_core.request import MusicRequest
from heartmula_core.progress import ProgressEvent
from heartmula_core.result import AudioChunk

from .continuing import Continuation
from .errors import JobCancelled
from .history import NewTake
from .song_files import Decoded
from .jobs import MusicSettings, Progress, Sheet, SheetWritten, TakeAudio
from .models import HubSizes, ModelsMissing, missing_message, model_rows, song_model_names

if TYPE_CHECKING:
    from heartmula_core.pipeline import MusicPipeline  # imported at first use: see the module docstring

log = logging.getLogger(__name__)

# The songwriter sizes lyrics from the length; it refuses lengths below this, which the music engine allows
# (short sketches and the tiny test models), so the writer is asked for at least this much.
MIN_WRITER_SECONDS = 5.0
STYLE_CACHE = "style-cache"  # under the data folder: reference embeddings, so a reused reference is instant


@dataclass(frozen=True)
class LlmChoice:
    """Which LLM server writes the song: the switch and dropdown on the Create tab, the URLs and key from Settings."""

    backend: str  # "ollama" | "openai"
    url: str = ""
    model: str = ""
    api_key: str = dataclasses.field(default="", repr=False)  # never logged, never kept

    def settings(self, base: Settings) -> Settings:
        """`base` with this choice applied (empty values keep the configured ones).

        The stored API key belongs to the configured OpenAI URL: a URL typed on the page gets only the key typed
        with it (or none), so a visitor cannot make Heartsong send the stored key to a server of their choosing.
        """
        from pydantic import SecretStr

        update: dict[str, Any] = {"llm_backend": self.backend}
        if self.backend == "ollama":
            update |= {"ollama_url": self.url or base.ollama_url, "ollama_model": self.model or base.ollama_model}
        else:
            url = self.url.strip().rstrip("/") or base.openai_base_url
            update |= {"openai_base_url": url, "openai_model": self.model or base.openai_model}
            if self.api_key:
                update["openai_api_key"] = SecretStr(self.api_key)
            elif url != base.openai_base_url:
                update["openai_api_key"] = None
        return base.model_copy(update=update)

    def public(self) -> dict[str, str]:
        """What may be kept with a song: the backend and model, never the URL's credentials or the key."""
        return {"backend": self.backend, "model": self.model}


def make_llm_backend(settings: Settings, choice: LlmChoice) -> LLMBackend:
    """The songwriting layer's backend object for `choice` (Ollama or OpenAI-compatible)."""
    return make_backend(choice.settings(settings), choice.backend)


class LlmSheetWriter:
    """`SheetWriter` over the songwriting layer's `SongWriter` (which also unloads the LLM once it has written)."""

    def __init__(self, settings: Settings, choice: LlmChoice) -> None:
        self.settings = settings
        self.choice = choice

    def write(
        self, sheet: Sheet, fill: frozenset[str], on_text: Callable[[str], None], cancel: threading.Event
    ) -> SheetWritten:
        song_sheet = SongSheet(
            description=sheet.description,
            title=sheet.title,
            lyrics=sheet.lyrics,
            tags=sheet.tags,
            seconds=min(max(MIN_WRITER_SECONDS, sheet.seconds), MAX_SECONDS),
        )
        writer = SongWriter(
            make_llm_backend(self.settings, self.choice),
            max_lyrics_lines=self.settings.max_lyrics_lines,
            max_lyrics_chars=self.settings.max_lyrics_chars,
        )
        try:
            result = writer.write(song_sheet, parse_fill(fill), on_text=on_text, cancel=cancel)
        except WritingCancelled:
            raise JobCancelled("Stopped while the song was being written; nothing was changed.") from None
        out = result.sheet
        written = Sheet(out.description, out.title, out.lyrics, out.tags, sheet.seconds)
        return SheetWritten(written, tuple(result.repairs))


def device_and_dtype(settings: Settings) -> tuple[str, str]:
    """The settings' device and dtype with "auto" resolved: a GPU in bfloat16 when there is one, else CPU float32."""
    import torch

    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = settings.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    return device, dtype


def settings_catalogue(s: Settings) -> Catalogue:
    """The model catalogue the settings name: an official `ckpt/` folder and/or one folder per model."""
    folders = {
        "lm": s.lm_dir,
        "gen": s.gen_dir,
        "codec": s.codec_dir,
        "encoder": s.encoder_dir,
        "transcriptor": s.transcriber_dir,
        "style": s.style_dir,
    }
    return Catalogue(ckpt_dir=s.ckpt_dir, folders=folders)


class PipelineMusicMaker:
    """`MusicMaker` over `heartmula_core.pipeline.MusicPipeline`, one per LM variant, each built on first use and
    kept until `unload()`. The pipeline itself embeds a style reference or text (MuQ-MuLan, loaded only when a
    song asks for a style, with its embeddings cached under the data folder)."""

    slots = 1  # one song at a time: the pipeline holds per-batch caches (songs wait in the studio's DeviceQueue)
    own_queue = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipelines: dict[str, MusicPipeline] = {}
        self._lock = threading.Lock()
        self.hub_sizes = HubSizes()  # the missing models' sizes, asked of the Hub once

    def catalogue(self) -> Catalogue:
        return settings_catalogue(self.settings)

    def pipeline(self, variant: str) -> MusicPipeline:
        """The pipeline for LM `variant`. Models are never downloaded here: that is the Models tab's job."""
        with self._lock:
            if variant not in self._pipelines:
                from heartmula_core.pipeline import MusicPipeline  # torch: see the module docstring

                catalogue = self.catalogue()
                rows = model_rows(catalogue, self.hub_sizes, song_model_names(variant))
                if any(row.state == "missing" for row in rows):  # a partial copy says what is wrong with it below
                    raise ModelsMissing(missing_message(rows, catalogue.offline))
                models = catalogue.music_models(variant, download=False)
                device, dtype = device_and_dtype(self.settings)
                # Settings.style_dir names a folder for the catalogue's DEFAULT_STYLE entry.
                self._pipelines[variant] = MusicPipeline(
                    models, device=device, dtype=dtype, style_model=DEFAULT_STYLE, catalogue=catalogue,
                    style_cache_dir=self.settings.data_dir / STYLE_CACHE, style_max_seconds=self.settings.max_style_audio_s,
                    int8=self.settings.int8, compiled=self.settings.compile,
                    cuda_graph=self.settings.cuda_graphs and device.startswith("cuda"),
                )
            return self._pipelines[variant]

    def unload(self) -> int:
        """Free every loaded model; returns how many pipelines were loaded."""
        with self._lock:
            count = len(self._pipelines)
            for pipeline in self._pipelines.values():
                pipeline.unload()
            self._pipelines.clear()
        if count:
            gc.collect()
        return count

    def request(self, sheet: Sheet, settings: MusicSettings, continuation: Continuation | None = None) -> MusicRequest:
        """The engine's `MusicRequest` for `sheet` made with `settings` (InvalidRequest on a bad value); a
        continuation's takes start with its kept tokens and decode with its seed.

        A style source must be a local model: the check says so at once, instead of a download starting here.
        """
        style_text = settings.style_text.strip()
        style_audio = settings.style_audio or None
        if (style_audio or style_text) and settings.style_strength > 0:
            self.catalogue().resolve(DEFAULT_STYLE, download=False)
        return MusicRequest(
            tags=sheet.tags,
            lyrics=strip_line_quotes(sheet.lyrics),  # the quotes protect lines from the LLM; they are not sung
            seconds=sheet.seconds,
            variants=settings.variants,
            seed=settings.seed,
            cfg=settings.cfg,
            topk=settings.topk,
            temperature=settings.temperature,
            # One source: a reference recording wins over the text (the page offers both).
            style_audio=style_audio,
            style_text=None if style_audio or not style_text else style_text,
            style_strength=settings.style_strength,
            **({} if continuation is None else continuation_fields(continuation)),
        )

    def make(
        self, sheet: Sheet, settings: MusicSettings, emit: Callable[[Progress | TakeAudio], None],
        cancel: threading.Event, continuation: Continuation | None = None,
    ) -> list[NewTake]:
        """Make the takes; emits progress, and each take's audio piece by piece as the codec decodes it."""
        emit(Progress("loading"))
        try:
            request = self.request(sheet, settings, continuation)
            made_tokens = threading.Event()

            def on_progress(event: ProgressEvent) -> None:
                phase = event.phase.value
                if phase == "tokens":
                    made_tokens.set()
                elif phase == "loading" and made_tokens.is_set():
                    # The codec is loaded after the tokens and reports its first window only once it is
                    # done: say at once that the audio is being made.
                    emit(Progress("decoding"))
                    return
                # The pipeline's ETA, which waits for a measured rate (none over the first frame's warm-up).
                emit(Progress(phase, event.done, event.total, event.eta))

            pipeline = self.pipeline(settings.lm_variant)

            def on_audio(chunk: AudioChunk) -> None:
                emit(TakeAudio(chunk.variant, chunk.samples, pipeline.sample_rate, chunk.final))

            result = pipeline.generate(request, progress=on_progress, cancel=cancel, on_audio=on_audio)
        except MakingCancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None
        return [
            NewTake(audio=audio, sample_rate=result.sample_rate, seed=seed, tokens=tokens,
                    decode_seed=decode_seed if decode_seed != seed else None, codec_tails=tails)
            for audio, tokens, seed, decode_seed, tails in zip(
                result.audio, result.tokens, result.seeds, result.decode_seeds, result.codec_tails, strict=True)
        ]

    def decode(self, variant: str, tokens: np.ndarray, seed: int,
               progress: Callable[[int, int, float | None], None] | None = None,
               cancel: threading.Event | None = None, on_place: Callable[[int], None] | None = None) -> Decoded:
        """Re-make the audio of saved tokens (frames, codebooks), with the codec latents a continuation of it
        reuses. `progress(windows done, windows total, eta s or None)` follows the codec's windows. `on_place` is
        never called: this pipeline has no queue of its own (the studio's DeviceQueue gave the decode its turn)."""
        pipeline = self.pipeline(variant)

        def on_progress(event: ProgressEvent) -> None:
            if progress is not None and event.phase.value == "decoding":
                progress(event.done, event.total, event.eta)

        audio, tails = pipeline.decode_take(tokens, seed, progress=on_progress, cancel=cancel)
        return Decoded(audio, pipeline.sample_rate, tails)

    @property
    def loaded(self) -> list[str]:
        return sorted(self._pipelines)


def continuation_fields(continuation: Continuation) -> dict[str, Any]:
    """The `MusicRequest` fields of a continued song: its kept tokens, the parent's codec seed, and what of the
    parent's decode it reuses (its kept audio and codec latents, when the take could give them)."""
    fields: dict[str, Any] = {"prefix": continuation.prefix, "decode_seed": continuation.decode_seed}
    if continuation.audio is not None:
        fields["kept_audio"] = continuation.audio
        fields["kept_latents"] = continuation.latents
    return fields
