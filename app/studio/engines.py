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

from .errors import JobCancelled, StudioError
from .history import NewTake
from .jobs import MusicSettings, Progress, Sheet, SheetWritten

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

# The songwriter sizes lyrics from the length; it refuses lengths below this, which the music engine allows
# (short sketches and the tiny test models), so the writer is asked for at least this much.
MIN_WRITER_SECONDS = 5.0


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
    """`SheetWriter` over the songwriting layer's `SongWriter`."""

    def __init__(self, settings: Settings, choice: LlmChoice) -> None:
        self.settings = settings
        self.choice = choice

    def write(
        self, sheet: Sheet, fill: frozenset[str], on_text: Callable[[str], None], cancel: threading.Event
    ) -> SheetWritten:
        writer_mod = load_layer("app.songwriter.writer", "Writing with an LLM")
        sheet_mod = load_layer("app.songwriter.sheet", "Writing with an LLM")
        errors = load_layer("app.songwriter.errors", "Writing with an LLM")
        backend = make_llm_backend(self.settings, self.choice)
        song_sheet = sheet_mod.SongSheet(
            description=sheet.description,
            title=sheet.title,
            lyrics=sheet.lyrics,
            tags=sheet.tags,
            seconds=max(MIN_WRITER_SECONDS, sheet.seconds),
        )
        writer = writer_mod.SongWriter(backend, settings=self.settings)
        try:
            result = writer.write(song_sheet, sheet_mod.parse_fill(fill), on_text=on_text, cancel=cancel)
        except errors.Cancelled:
            raise JobCancelled("Stopped while the song was being written; nothing was changed.") from None
        finally:
            _unload_quietly(backend)
        out = result.sheet
        written = Sheet(out.description, out.title, out.lyrics, out.tags, sheet.seconds)
        return SheetWritten(written, tuple(str(r) for r in getattr(result, "repairs", ())))


def _unload_quietly(backend: Any) -> None:
    """Free the LLM's GPU memory for the music; a server that cannot is no reason to fail the song."""
    try:
        backend.unload()
    except Exception as exc:  # the song is written; a failed unload only costs memory
        log.info("could not unload the LLM: %s", exc)


class PipelineMusicMaker:
    """`MusicMaker` over `heartmula_core.pipeline.MusicPipeline`, one pipeline per LM variant, built lazily."""

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
        """The pipeline for LM `variant`; resolving its models may download them (outside a job, Models tab)."""
        with self._lock:
            if variant not in self._pipelines:
                pipeline_mod = load_layer("heartmula_core.pipeline", "Making music")
                models = self.catalogue().music_models(variant, download=False)
                device = None if self.settings.device == "auto" else self.settings.device
                dtype = None if self.settings.dtype == "auto" else self.settings.dtype
                self._pipelines[variant] = pipeline_mod.MusicPipeline(models, device=device, dtype=dtype)
            return self._pipelines[variant]

    def unload(self) -> int:
        """Free every loaded model; returns how many pipelines were unloaded."""
        with self._lock:
            count = len(self._pipelines)
            for pipeline in self._pipelines.values():
                pipeline.unload()
            self._pipelines.clear()
        return count

    @property
    def loaded(self) -> list[str]:
        return sorted(self._pipelines)

    def make(
        self, sheet: Sheet, settings: MusicSettings, progress: Callable[[Progress], None], cancel: threading.Event
    ) -> list[NewTake]:
        from heartmula_core.errors import Cancelled

        request_mod = load_layer("heartmula_core.request", "Making music")
        progress(Progress("loading"))
        pipeline = self.pipeline(settings.lm_variant)
        request = request_mod.MusicRequest(
            tags=sheet.tags,
            lyrics=sheet.lyrics,
            seconds=sheet.seconds,
            variants=settings.variants,
            seed=settings.seed,
            cfg=settings.cfg,
            topk=settings.topk,
            temperature=settings.temperature,
            style=self.style_vector(settings),
        )

        def on_progress(event: Any) -> None:
            progress(Progress(event.phase.value, event.done, event.total, event.eta))

        try:
            result = pipeline.generate(request, progress=on_progress, cancel=cancel)
        except Cancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None
        return [
            NewTake(audio=audio, sample_rate=result.sample_rate, seed=seed, tokens=tokens)
            for audio, tokens, seed in zip(result.audio, result.tokens, result.seeds, strict=True)
        ]

    def style_vector(self, settings: MusicSettings) -> Any:
        """The style vector for a reference recording or a style text, or None when no style was given."""
        if not settings.style_audio and not settings.style_text.strip():
            return None
        raise LayerMissing("Style from a reference or a style text is not available in this build of Heartsong yet.")

    def decode(self, variant: str, tokens: Any, seed: int) -> tuple[Any, int]:
        """Re-make the audio of saved tokens (frames, codebooks); returns (audio (channels, samples), rate)."""
        return self.pipeline(variant).decode(tokens, seed)
