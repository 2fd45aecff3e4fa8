"""Adapters from the songwriting layer and the music engine to the job's two small protocols.

Each layer is imported only when first used, so the page starts (and says clearly what is missing) even in a
build where a layer has not landed yet. Nothing here fakes a result: a missing layer is a `LayerMissing` error.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .continuing import Continuation
from .errors import JobCancelled, StudioError
from .history import NewTake
from .jobs import EtaClock, MusicSettings, Progress, Sheet, SheetWritten, TakeAudio

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

# The songwriter sizes lyrics from the length; it refuses lengths below this, which the music engine allows
# (short sketches and the tiny test models), so the writer is asked for at least this much.
MIN_WRITER_SECONDS = 5.0
STYLE_CACHE = "style-cache"  # under the data folder: reference embeddings, so a reused reference is instant


class LayerMissing(StudioError):
    """A part of Heartsong this build does not have yet (the message names it and what still works)."""


def load_layer(module: str, what: str) -> ModuleType:
    """Import `module`, or raise `LayerMissing` naming `what` the musician cannot do without it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise LayerMissing(f"{what} is not available in this build of Heartsong yet ({module} is missing).") from None
        raise


@dataclass(frozen=True)
class LlmChoice:
    """Which LLM server writes the song: the switch and dropdown on the Create tab, the URLs and key from Settings."""

    backend: str  # "ollama" | "openai"
    url: str = ""
    model: str = ""
    api_key: str = dataclasses.field(default="", repr=False)  # never logged, never kept

    def settings(self, base: Settings) -> Settings:
        """`base` with this choice applied (empty values keep the configured ones)."""
        update: dict[str, Any] = {"llm_backend": self.backend}
        if self.backend == "ollama":
            update |= {"ollama_url": self.url or base.ollama_url, "ollama_model": self.model or base.ollama_model}
        else:
            update |= {"openai_base_url": self.url or base.openai_base_url, "openai_model": self.model or base.openai_model}
            if self.api_key:
                from pydantic import SecretStr

                update["openai_api_key"] = SecretStr(self.api_key)
        return base.model_copy(update=update)

    def public(self) -> dict[str, str]:
        """What may be kept with a song: the backend and model, never the URL's credentials or the key."""
        return {"backend": self.backend, "model": self.model}


def make_llm_backend(settings: Settings, choice: LlmChoice) -> Any:
    """The songwriting layer's backend object for `choice` (Ollama or OpenAI-compatible)."""
    backends = load_layer("app.songwriter.backends", "Writing with an LLM")
    return backends.make_backend(choice.settings(settings), choice.backend)


class LlmSheetWriter:
    """`SheetWriter` over the songwriting layer's `SongWriter` (which also unloads the LLM once it has written)."""

    def __init__(self, settings: Settings, choice: LlmChoice) -> None:
        self.settings = settings
        self.choice = choice

    def write(
        self, sheet: Sheet, fill: frozenset[str], on_text: Callable[[str], None], cancel: threading.Event
    ) -> SheetWritten:
        writer_mod = load_layer("app.songwriter.writer", "Writing with an LLM")
        sheet_mod = load_layer("app.songwriter.sheet", "Writing with an LLM")
        errors = load_layer("app.songwriter.errors", "Writing with an LLM")
        song_sheet = sheet_mod.SongSheet(
            description=sheet.description,
            title=sheet.title,
            lyrics=sheet.lyrics,
            tags=sheet.tags,
            seconds=min(max(MIN_WRITER_SECONDS, sheet.seconds), sheet_mod.MAX_SECONDS),
        )
        writer = writer_mod.SongWriter(
            make_llm_backend(self.settings, self.choice),
            max_lyrics_lines=self.settings.max_lyrics_lines,
            max_lyrics_chars=self.settings.max_lyrics_chars,
        )
        try:
            result = writer.write(song_sheet, sheet_mod.parse_fill(fill), on_text=on_text, cancel=cancel)
        except errors.Cancelled:
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


class PipelineMusicMaker:
    """`MusicMaker` over `heartmula_core.pipeline.MusicPipeline`, one per LM variant, each built on first use and
    kept until `unload()`. The pipeline itself embeds a style reference or text (MuQ-MuLan, loaded only when a
    song asks for a style, with its embeddings cached under the data folder)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipelines: dict[str, Any] = {}
        self._lock = threading.Lock()

    def catalogue(self) -> Any:
        from heartmula_core.hub import Catalogue

        s = self.settings
        folders = {
            "lm": s.lm_dir,
            "gen": s.gen_dir,
            "codec": s.codec_dir,
            "transcriptor": s.transcriber_dir,
            "style": s.style_dir,
        }
        return Catalogue(ckpt_dir=s.ckpt_dir, folders=folders)

    def pipeline(self, variant: str) -> Any:
        """The pipeline for LM `variant`. Models are never downloaded here: that is the Models tab's job."""
        with self._lock:
            if variant not in self._pipelines:
                from heartmula_core.hub.catalogue import DEFAULT_STYLE  # Settings.style_dir names a folder for it

                pipeline_mod = load_layer("heartmula_core.pipeline", "Making music")
                catalogue = self.catalogue()
                models = catalogue.music_models(variant, download=False)
                device, dtype = device_and_dtype(self.settings)
                self._pipelines[variant] = pipeline_mod.MusicPipeline(
                    models, device=device, dtype=dtype, style_model=DEFAULT_STYLE, catalogue=catalogue,
                    style_cache_dir=self.settings.data_dir / STYLE_CACHE, style_max_seconds=self.settings.max_style_audio_s,
                    int8=self.settings.int8, compiled=self.settings.compile,
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
            import gc

            gc.collect()
        return count

    def request(self, sheet: Sheet, settings: MusicSettings, continuation: Continuation | None = None) -> Any:
        """The engine's `MusicRequest` for `sheet` made with `settings` (InvalidRequest on a bad value); a
        continuation's takes start with its kept tokens and decode with its seed.

        A style source must be a local model: the check says so at once, instead of a download starting here.
        """
        request_mod = load_layer("heartmula_core.request", "Making music")
        style_text = settings.style_text.strip()
        style_audio = settings.style_audio or None
        if (style_audio or style_text) and settings.style_strength > 0:
            from heartmula_core.hub.catalogue import DEFAULT_STYLE

            self.catalogue().resolve(DEFAULT_STYLE, download=False)
        return request_mod.MusicRequest(
            tags=sheet.tags,
            lyrics=sheet.lyrics,
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
            **({} if continuation is None else {"prefix": continuation.prefix, "decode_seed": continuation.decode_seed}),
        )

    def make(
        self, sheet: Sheet, settings: MusicSettings, emit: Callable[[Progress | TakeAudio], None],
        cancel: threading.Event, continuation: Continuation | None = None,
    ) -> list[NewTake]:
        """Make the takes; emits progress, and each take's audio piece by piece as the codec decodes it."""
        from heartmula_core.errors import Cancelled

        emit(Progress("loading"))
        try:
            request = self.request(sheet, settings, continuation)
            clock = EtaClock()
            made_tokens = threading.Event()

            def on_progress(event: Any) -> None:
                phase = event.phase.value
                if phase == "tokens":
                    made_tokens.set()
                elif phase == "loading" and made_tokens.is_set():
                    # The codec is loaded after the tokens and reports its first window only once it is
                    # done: say at once that the audio is being made.
                    emit(Progress("decoding"))
                    return
                # The pipeline's ETA when it has one; otherwise our own from the rate so far.
                stamped = clock.stamp(phase, event.done, event.total)
                eta = event.eta if event.eta is not None else stamped.eta_s
                emit(Progress(phase, event.done, event.total, eta))

            pipeline = self.pipeline(settings.lm_variant)

            def on_audio(chunk: Any) -> None:
                emit(TakeAudio(chunk.variant, chunk.samples, pipeline.sample_rate, chunk.final))

            result = pipeline.generate(request, progress=on_progress, cancel=cancel, on_audio=on_audio)
        except Cancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None
        return [
            NewTake(audio=audio, sample_rate=result.sample_rate, seed=seed, tokens=tokens,
                    decode_seed=decode_seed if decode_seed != seed else None)
            for audio, tokens, seed, decode_seed in zip(result.audio, result.tokens, result.seeds,
                                                        result.decode_seeds, strict=True)
        ]

    def decode(self, variant: str, tokens: Any, seed: int) -> tuple[Any, int]:
        """Re-make the audio of saved tokens (frames, codebooks); returns (audio (channels, samples), rate)."""
        pipeline = self.pipeline(variant)
        return pipeline.decode(tokens, seed), pipeline.sample_rate

    @property
    def loaded(self) -> list[str]:
        return sorted(self._pipelines)
