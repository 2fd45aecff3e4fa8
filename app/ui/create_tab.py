"""The Create tab: describe the song, let the LLM fill what is ticked, compose, listen, download."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.errors import JobCancelled, explain
from app.studio.history import EXPORT_FORMATS, Song
from app.studio.jobs import FIELDS, Finished, MusicSettings, Progress, Sheet, SheetWritten, TextChunk
from app.studio.service import Studio

from .common import guarded, progress_html, session_of
from .live_text import partial_fields

MAX_TAKES = 8
LLM_CHOICES = ("Ollama", "OpenAI")
QUOTE_HINT = 'Lines in "double quotes" are kept exactly as you wrote them; the LLM writes around them.'


@dataclass
class TakeSlot:
    """One take's player and its download buttons (hidden until that take exists)."""

    box: gr.Group
    audio: gr.Audio
    downloads: dict[str, gr.DownloadButton]


@dataclass
class CreateTab:
    """The Create tab's components (other tabs load songs into them)."""

    fields: dict[str, gr.Textbox]
    generate: dict[str, gr.Checkbox]
    seconds: gr.Slider
    variants: gr.Slider
    seed: gr.Number
    cfg: gr.Slider
    temperature: gr.Slider
    topk: gr.Slider
    lm_variant: gr.Radio
    style_audio: gr.File
    style_text: gr.Textbox
    style_strength: gr.Slider
    llm_backend: gr.Radio
    llm_model: gr.Dropdown
    refresh_models: gr.Button
    write: gr.Button
    compose: gr.Button
    stop: gr.Button
    status: gr.HTML
    takes: list[TakeSlot]
    song_id: gr.State

    def text_inputs(self) -> set[Any]:
        return {*self.fields.values(), *self.generate.values(), self.seconds}

    def music_inputs(self) -> set[Any]:
        return {self.variants, self.seed, self.cfg, self.temperature, self.topk, self.lm_variant,
                self.style_audio, self.style_text, self.style_strength}

    def sheet(self, data: dict[Any, Any]) -> tuple[Sheet, frozenset[str]]:
        """The page's values (a set-inputs dict) → the sheet and the fields ticked for the LLM."""
        sheet = Sheet(*(str(data[self.fields[f]] or "") for f in FIELDS), seconds=float(data[self.seconds] or 0))
        return sheet, frozenset(f for f in FIELDS if data[self.generate[f]])

    def music(self, data: dict[Any, Any]) -> MusicSettings:
        """The page's values → how to make the music."""
        seed = data[self.seed]
        return MusicSettings(
            variants=int(data[self.variants]), seed=None if seed in (None, "") or int(seed) < 0 else int(seed),
            cfg=float(data[self.cfg]), temperature=float(data[self.temperature]), topk=int(data[self.topk]),
            lm_variant=str(data[self.lm_variant]), style_audio=data[self.style_audio] or None,
            style_text=str(data[self.style_text] or ""), style_strength=float(data[self.style_strength]),
        )

    def take_outputs(self) -> list[Any]:
        out: list[Any] = []
        for slot in self.takes:
            out += [slot.box, slot.audio, *slot.downloads.values()]
        return out


def build(studio: Studio) -> CreateTab:
    """Lay out the Create tab (inside an open `gr.Tab`)."""
    settings = studio.settings
    fields: dict[str, gr.Textbox] = {}
    generate: dict[str, gr.Checkbox] = {}
    shapes = {"description": 3, "title": 1, "lyrics": 12, "tags": 1}
    placeholders = {
        "description": "energetic summer pop about traveling, female vocal",
        "title": "left empty, the LLM can name it",
        "lyrics": '[verse]\n...\n[chorus]\n"this line stays exactly as written"',
        "tags": "pop,female vocal,happy",
    }
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            for name in FIELDS:
                with gr.Row(equal_height=True):
                    fields[name] = gr.Textbox(
                        label=name.capitalize(), lines=shapes[name], max_lines=40 if name == "lyrics" else shapes[name] + 4,
                        placeholder=placeholders[name], scale=5, elem_id=f"create-{name}",
                    )
                    generate[name] = gr.Checkbox(
                        label="generate", value=name != "description", scale=1, min_width=110,
                        elem_id=f"create-gen-{name}", elem_classes="hs-gen",
                    )
            gr.Markdown(QUOTE_HINT, elem_classes="hs-hint")
        with gr.Column(scale=2):
            with gr.Row():
                llm_backend = gr.Radio(
                    list(LLM_CHOICES), value="OpenAI" if settings.llm_backend == "openai" else "Ollama",
                    label="LLM", elem_id="create-llm",
                )
                llm_model = gr.Dropdown(
                    choices=[], value=None, label="LLM model", allow_custom_value=True, scale=2,
                    elem_id="create-llm-model",
                )
            refresh_models = gr.Button("Refresh models", size="sm")
            seconds = gr.Slider(1, 600, value=30, step=1, label="Length (seconds)", elem_id="create-seconds")
            with gr.Row():
                variants = gr.Slider(1, MAX_TAKES, value=2, step=1, label="Variants", elem_id="create-variants")
                seed = gr.Number(value=-1, precision=0, minimum=-1, label="Seed (-1: random)", elem_id="create-seed")
            with gr.Accordion("Advanced", open=False):
                cfg = gr.Slider(1.0, 10.0, value=1.5, step=0.1, label="CFG (how closely to follow tags and lyrics)")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                topk = gr.Slider(1, 500, value=50, step=1, label="Top-k")
                lm_variant = gr.Radio(["rl", "hny", "base"], value=settings.lm_variant, label="Model variant")
            with gr.Accordion("Style", open=False):
                style_audio = gr.File(label="Reference recording", file_types=["audio"], elem_id="create-style-audio")
                style_text = gr.Textbox(label="…or describe the style", placeholder="warm analog synths, 80s")
                style_strength = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Strength")
            with gr.Row():
                write = gr.Button("Write", elem_id="create-write")
                compose = gr.Button("Compose", variant="primary", elem_id="create-compose")
                stop = gr.Button("Stop", variant="stop", elem_id="create-stop")
            status = gr.HTML(elem_id="create-status")
    takes = []
    with gr.Row():
        for index in range(1, MAX_TAKES + 1):
            with gr.Group(visible=False, elem_id=f"take-{index}") as box:
                audio = gr.Audio(label=f"Take {index}", type="filepath", interactive=False, elem_id=f"take-{index}-audio")
                with gr.Row():
                    downloads = {
                        fmt: gr.DownloadButton(fmt.upper(), size="sm", visible=False, elem_id=f"take-{index}-{fmt}")
                        for fmt in EXPORT_FORMATS
                    }
            takes.append(TakeSlot(box, audio, downloads))
    song_id = gr.State(None)
    return CreateTab(fields, generate, seconds, variants, seed, cfg, temperature, topk, lm_variant, style_audio,
                     style_text, style_strength, llm_backend, llm_model, refresh_models, write, compose, stop,
                     status, takes, song_id)


def stopped_quietly(events: Iterator[Any]) -> Iterator[Any]:
    """The events, ending without an error dialog when the musician pressed Stop (Stop says so itself)."""
    try:
        yield from events
    except JobCancelled:
        return


def take_updates(tab: CreateTab, studio: Studio, song: Song | None, formats: tuple[str, ...]) -> dict[Any, Any]:
    """Show one player per take of `song` (hide the rest), with download buttons for `formats`."""
    updates: dict[Any, Any] = {}
    takes = song.takes if song else ()
    for index, slot in enumerate(tab.takes):
        take = takes[index] if index < len(takes) else None
        updates[slot.box] = gr.update(visible=take is not None)
        updates[slot.audio] = str(take.audio) if take else None
        for fmt, button in slot.downloads.items():
            if take is not None and fmt in formats:
                updates[button] = gr.update(value=str(studio.export(song.id, take.index, fmt)), visible=True)
            else:
                updates[button] = gr.update(visible=False)
    return updates


def wire(tab: CreateTab, studio: Studio, llm_inputs: list[Any], demo: gr.Blocks) -> None:
    """Attach the Create tab's events. `llm_inputs` are the Settings tab's (Ollama URL, OpenAI URL, OpenAI key)."""
    text_outputs = [tab.fields[f] for f in FIELDS]

    def choice(backend: str, model: str | None, ollama_url: str, openai_url: str, key: str):
        url = openai_url if backend == "OpenAI" else ollama_url
        return studio.llm_choice(backend, url, model or "", key if backend == "OpenAI" else "")

    def chosen(data: dict[Any, Any]):
        """The LLM picked on the page (the switch, the model, and the Settings tab's URLs and key)."""
        return choice(data[tab.llm_backend], data[tab.llm_model], *(data[c] for c in llm_inputs))

    def models_of(backend: str, ollama_url: str, openai_url: str, key: str, *, quiet: bool) -> Any:
        try:
            models = studio.llm_models(choice(backend, None, ollama_url, openai_url, key))
        except Exception as exc:  # a server that is down is worth a warning, not an error dialog
            if not quiet:
                gr.Warning(explain(exc) or f"Could not list the {backend} models.")
            return gr.update(choices=[], value=None)
        configured = studio.settings.llm_model(backend.lower())
        value = configured if configured in models else (models[0] if models else None)
        return gr.update(choices=models, value=value)

    @guarded
    def list_models(backend: str, ollama_url: str, openai_url: str, key: str) -> Any:
        return models_of(backend, ollama_url, openai_url, key, quiet=False)

    @guarded
    def list_models_quietly(backend: str, ollama_url: str, openai_url: str, key: str) -> Any:
        return models_of(backend, ollama_url, openai_url, key, quiet=True)

    model_inputs = [tab.llm_backend, *llm_inputs]
    tab.llm_backend.change(list_models, model_inputs, tab.llm_model, api_visibility="private")
    tab.refresh_models.click(list_models, model_inputs, tab.llm_model, api_visibility="private")
    # Filled when the page opens; a server that is down only speaks up when the musician uses it.
    demo.load(list_models_quietly, model_inputs, tab.llm_model, api_visibility="private")

    def stream_fields(event: Any, fill: frozenset[str], base: Sheet) -> dict[Any, Any]:
        """Page updates for one write event: fields streaming in, then the finished sheet."""
        if isinstance(event, TextChunk):
            live = partial_fields(event.text, [f for f in FIELDS if f in fill])
            return {tab.fields[name]: value for name, value in live.items()}
        if isinstance(event, SheetWritten):
            updates: dict[Any, Any] = {tab.fields[f]: getattr(event.sheet, f) for f in FIELDS}
            updates |= {tab.generate[f]: False for f in fill}  # written: now the musician's to edit
            if event.repairs:
                gr.Info("Kept your quoted lines: " + "; ".join(event.repairs))
            return updates
        return {}

    @guarded
    def write(data: dict[Any, Any], request: gr.Request) -> Iterator[dict[Any, Any]]:
        sheet, fill = tab.sheet(data)
        llm = chosen(data)
        for event in stopped_quietly(studio.write(sheet, fill, llm, session_of(request))):
            updates = stream_fields(event, fill, sheet)
            if isinstance(event, Progress):
                updates[tab.status] = progress_html(event)
            elif isinstance(event, SheetWritten):
                updates[tab.status] = progress_html(None, "Written. Edit anything you like, then Compose.")
            if updates:
                yield updates

    llm_args = {tab.llm_backend, tab.llm_model, *llm_inputs}
    write_outputs = [*text_outputs, *tab.generate.values(), tab.status]
    write_event = tab.write.click(
        write, tab.text_inputs() | llm_args, write_outputs, api_visibility="private", concurrency_limit=None,
        show_progress="hidden",
    )

    @guarded
    def compose(data: dict[Any, Any], request: gr.Request) -> Iterator[dict[Any, Any]]:
        sheet, fill = tab.sheet(data)
        music = tab.music(data)
        llm = chosen(data)
        yield {tab.status: progress_html(Progress("waiting")), tab.song_id: None, **take_updates(tab, studio, None, ())}
        for event in stopped_quietly(studio.compose(sheet, fill, music, llm, session_of(request))):
            updates = stream_fields(event, fill, sheet)
            if isinstance(event, Progress):
                updates[tab.status] = progress_html(event)
            elif isinstance(event, Finished):
                song = event.song
                # Players and lossless downloads at once; the lossy encodes follow a moment later.
                yield {**take_updates(tab, studio, song, ("flac", "wav")), tab.song_id: song.id,
                       tab.status: progress_html(None, "Encoding MP3 and OGG downloads…")}
                updates = take_updates(tab, studio, song, EXPORT_FORMATS)
                updates[tab.status] = progress_html(
                    None, f"Kept “{song.title or 'Untitled'}” with {len(song.takes)} take(s) in History."
                )
            if updates:
                yield updates

    compose_outputs = [*write_outputs, tab.song_id, *tab.take_outputs()]
    compose_event = tab.compose.click(
        compose, tab.text_inputs() | tab.music_inputs() | llm_args, compose_outputs,
        api_visibility="private", concurrency_limit=None, show_progress="hidden",
    )

    def stop(request: gr.Request) -> str:
        stopped = studio.stop(session_of(request))
        return progress_html(None, "Stopped; nothing was kept." if stopped else "Nothing was running.")

    tab.stop.click(stop, None, tab.status, cancels=[write_event, compose_event], api_visibility="private",
                   concurrency_limit=None)
