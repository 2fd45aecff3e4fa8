"""The Create tab: describe the song, let the LLM fill what is ticked, compose, listen, download."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.errors import explain
from app.studio.jobs import FIELDS, MAX_STYLE_STRENGTH, MusicSettings, Progress, Sheet
from app.studio.service import Studio

from . import first_run, load_song, recording_panel, tag_suggestions, take_slots
from .common import guarded, progress_html, session_of, upload_note
from .first_run import FirstRun
from .job_view import JobView, cleared
from .load_song import UndoLoad
from .recording_panel import RecordingPanel
from .take_slots import MAX_TAKES, TakeSlot

log = logging.getLogger(__name__)

LLM_CHOICES = ("Ollama", "OpenAI")
EXAMPLES = [
    ["a warm acoustic folk song about walking home after a long shift, male vocal"],
    ["energetic summer pop about a road trip with friends, female vocal"],
    ["a slow rainy-night jazz ballad, piano and soft saxophone"],
    ["an 80s synth-pop anthem about neon city lights"],
]
QUOTE_HINT = 'Lines in "double quotes" are kept exactly as you wrote them; the LLM writes around them.'
KEEP_HINT = "A song you start is finished and kept in History even if you close this tab; Stop drops it."


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
    style_box: gr.Accordion  # opened when a loaded song brings a style back
    llm_backend: gr.Radio
    llm_model: gr.Dropdown
    write: gr.Button
    compose: gr.Button
    stop: gr.Button
    status: gr.HTML
    live: gr.HTML  # the first take, played while it is made
    takes: list[TakeSlot]
    song_id: gr.State
    first_run: FirstRun  # the models a song needs and the LLM servers, before the first click
    undo_load: UndoLoad  # brings back the draft a "Load into Create" put aside
    tag_hints: gr.Radio  # vocabulary tags offered as the musician types the Tags field
    recording: RecordingPanel  # "Start from a recording": its songs play in Create's players

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
    ready = first_run.build()
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            for name in FIELDS:
                with gr.Row(equal_height=True):
                    fields[name] = gr.Textbox(
                        label=name.capitalize(), lines=shapes[name], max_lines=40 if name == "lyrics" else shapes[name] + 4,
                        placeholder=placeholders[name], scale=5, elem_id=f"create-{name}",
                    )
                    generate[name] = gr.Checkbox(
                        label="generate", value=name != "description", scale=1, min_width=130,
                        elem_id=f"create-gen-{name}", elem_classes="hs-gen",
                    )
            tag_hints = tag_suggestions.build(studio)
            gr.Markdown(QUOTE_HINT, elem_classes="hs-hint")
            gr.Examples(EXAMPLES, [fields["description"]], label="Not sure where to start? Pick a description")
            recording = recording_panel.build()
        with gr.Column(scale=2):
            with gr.Row(equal_height=True):
                llm_backend = gr.Radio(
                    list(LLM_CHOICES), value="OpenAI" if settings.llm_backend == "openai" else "Ollama",
                    label="LLM", scale=1, min_width=260, elem_id="create-llm",
                )
                # Listed again each time it is opened: a model pulled into Ollama meanwhile is there.
                llm_model = gr.Dropdown(
                    choices=[], value=None, label="LLM model", allow_custom_value=True, scale=1, min_width=150,
                    elem_id="create-llm-model",
                )
            seconds = gr.Slider(1, 600, value=30, step=1, label="Length (seconds)", elem_id="create-seconds")
            with gr.Row():
                variants = gr.Slider(1, MAX_TAKES, value=2, step=1, label="Variants", elem_id="create-variants")
                seed = gr.Number(value=-1, precision=0, minimum=-1, label="Seed (-1: random)", elem_id="create-seed")
            with gr.Row(equal_height=False):
                with gr.Accordion("Advanced", open=False, elem_id="create-advanced"):
                    cfg = gr.Slider(1.0, 10.0, value=1.5, step=0.1, label="CFG (how closely to follow tags and lyrics)")
                    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                    topk = gr.Slider(1, 500, value=50, step=1, label="Top-k")
                    shared = studio.shared_lm_folder()
                    lm_variant = gr.Radio(
                        ["hny", "rl", "base"], value=settings.lm_variant, label="Model variant",
                        interactive=shared is None, elem_id="create-variant",
                        info=f"One folder serves hny, rl and base here ({shared}): the choice changes nothing."
                        if shared else "hny: the authors' recommended release",
                    )
                with gr.Accordion("Style", open=False, elem_id="create-style") as style_box:
                    style_audio = gr.File(label="Reference recording (wins over the text)", file_types=["audio"],
                                          elem_id="create-style-audio")
                    style_text = gr.Textbox(label="…or describe the style", placeholder="warm analog synths, 80s",
                                            elem_id="create-style-text")
                    style_strength = gr.Slider(0.0, MAX_STYLE_STRENGTH, value=1.0, step=0.05,
                                               label="Strength (0: no style, 1: as heard)",
                                               elem_id="create-style-strength")
            with gr.Row():
                write = gr.Button("Write", min_width=60, elem_id="create-write")
                compose = gr.Button("Compose", variant="primary", min_width=90, elem_id="create-compose")
                stop = gr.Button("Stop", variant="stop", min_width=60, elem_id="create-stop")
            status = gr.HTML(elem_id="create-status")
            undo_load = load_song.build()
            live = gr.HTML(elem_id="create-live")
            takes = take_slots.build()
            gr.Markdown(KEEP_HINT, elem_classes="hs-hint", elem_id="create-keep-hint")
    song_id = gr.State(None)
    return CreateTab(fields, generate, seconds, variants, seed, cfg, temperature, topk, lm_variant, style_audio,
                     style_text, style_strength, style_box, llm_backend, llm_model, write, compose,
                     stop, status, live, takes, song_id, ready, undo_load, tag_hints, recording)


def wire(tab: CreateTab, studio: Studio, llm_inputs: list[Any], demo: gr.Blocks) -> None:
    """Attach the Create tab's events. `llm_inputs` are the Settings tab's (Ollama URL, OpenAI URL, OpenAI key)."""

    def choice(backend: str, model: str | None, ollama_url: str, openai_url: str, key: str):
        url = openai_url if backend == "OpenAI" else ollama_url
        return studio.llm_choice(backend, url, model or "", key if backend == "OpenAI" else "")

    def chosen(data: dict[Any, Any]):
        """The LLM picked on the page (the switch, the model, and the Settings tab's URLs and key)."""
        return choice(data[tab.llm_backend], data[tab.llm_model], *(data[c] for c in llm_inputs))

    def models_of(backend: str, ollama_url: str, openai_url: str, key: str, *, quiet: bool,
                  keep: str | None = None) -> Any:
        """The model list for `backend`; the chosen model is `keep` when given (a refresh), else the configured
        one. `quiet`: a server that is down changes nothing and says nothing (the readiness line says it)."""
        try:
            models = studio.llm_models(choice(backend, None, ollama_url, openai_url, key))
        except Exception as exc:  # a server that is down is worth a warning, not an error dialog
            message = explain(exc)
            if message is None:
                log.exception("listing the %s models failed", backend)
            if quiet:
                return gr.update()
            log.warning("listing the %s models: %s", backend, message)
            gr.Warning(message or f"Could not list the {backend} models.")
            return gr.update(choices=[], value=None)
        if keep:
            return gr.update(choices=models)
        configured = studio.settings.llm_model(backend.lower())
        value = configured if configured in models else (models[0] if models else None)
        return gr.update(choices=models, value=value)

    @guarded
    def list_models(backend: str, ollama_url: str, openai_url: str, key: str) -> Any:
        return models_of(backend, ollama_url, openai_url, key, quiet=False)

    @guarded
    def list_models_quietly(backend: str, ollama_url: str, openai_url: str, key: str) -> Any:
        return models_of(backend, ollama_url, openai_url, key, quiet=True)

    first_run.wire(tab.first_run, studio, tab.lm_variant, llm_inputs, demo)
    tag_suggestions.wire(tab.tag_hints, tab.fields["tags"], studio)
    recording_panel.wire(tab.recording, tab, studio, llm_inputs)
    model_inputs = [tab.llm_backend, *llm_inputs]
    tab.llm_backend.change(list_models, model_inputs, tab.llm_model, api_visibility="private")

    @guarded
    def refresh_models(backend: str, current: str | None, ollama_url: str, openai_url: str, key: str) -> Any:
        return models_of(backend, ollama_url, openai_url, key, quiet=True, keep=current)

    tab.llm_model.focus(refresh_models, [tab.llm_backend, tab.llm_model, *llm_inputs], tab.llm_model,
                        api_visibility="private", show_progress="hidden")
    # Filled when the page opens; a server that is down only speaks up when the musician uses it.
    demo.load(list_models_quietly, model_inputs, tab.llm_model, api_visibility="private")

    @guarded
    def write(data: dict[Any, Any], request: gr.Request) -> Iterator[dict[Any, Any]]:
        sheet, fill = tab.sheet(data)
        events = studio.write(sheet, fill, chosen(data), session_of(request))  # checks the sheet at once
        view = JobView(tab, studio, fill, music=False, done_note="Written. Edit anything you like, then Compose.")
        yield from view.follow(events)

    llm_args = {tab.llm_backend, tab.llm_model, *llm_inputs}
    text_outputs = [*tab.fields.values(), *tab.generate.values(), tab.status]
    tab.write.click(
        write, tab.text_inputs() | llm_args, text_outputs, api_visibility="private", concurrency_limit=None,
        show_progress="hidden", show_progress_on=[tab.status],
    )

    @guarded
    def compose(data: dict[Any, Any], request: gr.Request) -> Iterator[dict[Any, Any]]:
        sheet, fill = tab.sheet(data)
        events = studio.compose(sheet, fill, tab.music(data), chosen(data), session_of(request))  # checks at once
        yield cleared(tab, progress_html(Progress("waiting")))
        yield from JobView(tab, studio, fill).follow(events)

    music_outputs = [tab.live, tab.song_id, *tab.take_outputs()]
    tab.compose.click(
        compose, tab.text_inputs() | tab.music_inputs() | llm_args, [*text_outputs, *music_outputs],
        api_visibility="private", concurrency_limit=None, show_progress="hidden", show_progress_on=[tab.status],
    )

    @guarded
    def check_length(lyrics: str, seconds: float) -> str:
        warning = studio.length_warning(lyrics or "", float(seconds or 0))
        return progress_html(None, warning) if warning else ""

    # A Length changed after a Write can leave lyrics that cannot fit: say so while there is time to fix it.
    tab.seconds.input(check_length, [tab.fields["lyrics"], tab.seconds], tab.status, api_visibility="private",
                      trigger_mode="always_last", show_progress="hidden")

    @guarded
    def check_reference(path: str | None) -> str:
        return upload_note(path, "Style reference", studio.check_reference)

    # A bad reference speaks up as soon as it is uploaded (Compose checks it again).
    tab.style_audio.upload(check_reference, tab.style_audio, tab.status, api_visibility="private")

    def stop(request: gr.Request) -> None:
        session = session_of(request)
        if session:  # a request without a session owns no job
            studio.stop(session)

    # Stop sets this tab's cancel event; the running handler says "Stopped" (and clears the players) within a
    # second whatever the job is doing (sessions.stream), and it is the last thing that handler sends. Gradio's
    # `cancels=` is not used: messages the cancelled handler had in flight could land after its own "Stopped"
    # and put a stale progress line back (tests/e2e/test_compose.py caught it). Not queued: a Stop must never
    # wait behind the work it stops.
    tab.stop.click(stop, None, None, api_visibility="private", queue=False)
