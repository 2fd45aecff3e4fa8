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
from .jobs import EtaClock, MusicSettings, Progress, Sheet, SheetWritten

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
    """`MusicMaker` over `heartmula_core.pipeline.MusicPipeline` (one per LM variant) and the style encoder,
    each built on first use and kept until `unload()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipelines: dict[str, Any] = {}
        self._style: Any = None
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
                pipeline_mod = load_layer("heartmula_core.pipeline", "Making music")
                models = self.catalogue().music_models(variant, download=False)
                device, dtype = device_and_dtype(self.settings)
                self._pipelines[variant] = pipeline_mod.MusicPipeline(models, device=device, dtype=dtype)
            return self._pipelines[variant]

    def style_encoder(self) -> Any:
        with self._lock:
            if self._style is None:
                style_mod = load_layer("heartmula_core.style", "Style from a reference or a style text")
                catalogue = self.catalogue()
                folder = catalogue.resolve("style", download=False).path
                device, dtype = device_and_dtype(self.settings)
                self._style = style_mod.StyleEncoder.load(
                    folder, "float32" if device == "cpu" else dtype, device, catalogue=catalogue,
                    max_seconds=self.settings.max_style_audio_s, cache_dir=self.settings.data_dir / "style-cache",
                )
            return self._style

    def unload(self) -> int:
        """Free every loaded model; returns how many were loaded."""
        with self._lock:
            count = len(self._pipelines) + (self._style is not None)
            for pipeline in self._pipelines.values():
                pipeline.unload()
            self._pipelines.clear()
            self._style = None
        if count:
            import gc

            gc.collect()
        return count

    def make(
        self, sheet: Sheet, settings: MusicSettings, progress: Callable[[Progress], None], cancel: threading.Event
    ) -> list[NewTake]:
        from heartmula_core.errors import Cancelled

        request_mod = load_layer("heartmula_core.request", "Making music")
        progress(Progress("loading"))
        try:
            style = self.style_vector(settings)
            request = request_mod.MusicRequest(
                tags=sheet.tags,
                lyrics=sheet.lyrics,
                seconds=sheet.seconds,
                variants=settings.variants,
                seed=settings.seed,
                cfg=settings.cfg,
                topk=settings.topk,
                temperature=settings.temperature,
                style=style,
            )
            clock = EtaClock()

            def on_progress(event: Any) -> None:
                # The pipeline's ETA when it has one; otherwise our own from the rate so far.
                stamped = clock.stamp(event.phase.value, event.done, event.total)
                eta = event.eta if event.eta is not None else stamped.eta_s
                progress(Progress(event.phase.value, event.done, event.total, eta))

            result = self.pipeline(settings.lm_variant).generate(request, progress=on_progress, cancel=cancel)
        except Cancelled:
            raise JobCancelled("Stopped; nothing was kept.") from None
        return [
            NewTake(audio=audio, sample_rate=result.sample_rate, seed=seed, tokens=tokens)
            for audio, tokens, seed in zip(result.audio, result.tokens, result.seeds, strict=True)
        ]

    def style_vector(self, settings: MusicSettings) -> Any:
        """The [512] style vector for the reference recording (or else the style text), or None without either."""
        if not settings.style_audio and not settings.style_text.strip():
            return None
        style_mod = load_layer("heartmula_core.style", "Style from a reference or a style text")
        encoder = self.style_encoder()
        if settings.style_audio:
            embedding = encoder.embed_audio(settings.style_audio)
        else:
            embedding = encoder.embed_text(settings.style_text.strip())
        return style_mod.scale_style(embedding.reshape(-1), settings.style_strength)  # (dim,)

    def decode(self, variant: str, tokens: Any, seed: int) -> tuple[Any, int]:
        """Re-make the audio of saved tokens (frames, codebooks); returns (audio (channels, samples), rate)."""
        pipeline = self.pipeline(variant)
        return pipeline.decode(tokens, seed), pipeline.sample_rate

    @property
    def loaded(self) -> list[str]:
        return sorted(self._pipelines)
