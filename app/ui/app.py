"""The page: four tabs laid out and wired to one `Studio`. Layout and wiring only; the work is in the service."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.studio.jobs import FIELDS, MusicSettings
from app.studio.service import Studio

from starlette.middleware import Middleware

from . import api, api_recording, create_tab, history_tab, live_route, models_tab, take_route, transcribe_tab
from .common import CSS, guarded
from .guard import RequestGuard, allowed_hosts

TITLE = "Heartsong"


def build_app(studio: Studio) -> gr.Blocks:
    """Build the Blocks for `studio` (call `launch_app` to serve it)."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown("## Heartsong\nDescribe a song, let the LLM fill what you leave open, and listen.")
        with gr.Tabs() as tabs:
            with gr.Tab("Create", id="create"):
                create = create_tab.build(studio)
            with gr.Tab("History", id="history") as history_page:
                history = history_tab.build()
            with gr.Tab("Transcribe", id="transcribe"):
                transcribe = transcribe_tab.build()
            with gr.Tab("Models & Settings", id="models") as models_page:
                models = models_tab.build(studio)

        api.register(studio)  # first, so the named endpoints get their plain names (/write, /compose, /search)
        api_recording.register(studio)
        create_tab.wire(create, studio, models.llm_inputs, demo)
        refresh_history, listing = history_tab.wire(history, studio)
        transcribe_tab.wire(transcribe, studio, demo)
        refresh_models = models_tab.wire(models, studio)

        history_page.select(refresh_history, [history.query, history.sort], listing, api_visibility="private")
        models_page.select(refresh_models, None, [models.table, models.loaded], api_visibility="private")

        @guarded
        def load_song(song_id: str | None) -> dict[Any, Any]:
            """Put a kept song back into Create (fields unticked, its settings, first seed and style) to edit or
            vary it."""
            if not song_id:
                return {}
            song = studio.song(song_id)
            music = MusicSettings.of_song(song, studio.settings.lm_variant)
            updates: dict[Any, Any] = {create.fields[f]: getattr(song, f) for f in FIELDS}
            updates |= {create.generate[f]: False for f in FIELDS}
            updates |= {
                create.seconds: song.seconds, create.variants: music.variants, create.seed: music.seed,
                create.cfg: music.cfg, create.temperature: music.temperature, create.topk: music.topk,
                create.lm_variant: music.lm_variant, create.style_audio: music.style_audio,
                create.style_text: music.style_text, create.style_strength: music.style_strength,
                tabs: gr.Tabs(selected="create"),
            }
            if music.style_audio or music.style_text.strip():
                updates[create.style_box] = gr.Accordion(open=True)  # show that the song's style came back
            return updates

        load_outputs = [*create.fields.values(), *create.generate.values(), create.seconds, create.variants,
                        create.seed, create.cfg, create.temperature, create.topk, create.lm_variant,
                        create.style_audio, create.style_text, create.style_strength, create.style_box, tabs]
        history.load.click(load_song, history.selected, load_outputs, api_visibility="private")

        def send_lyrics(text: str) -> dict[Any, Any]:
            return {create.fields["lyrics"]: text, create.generate["lyrics"]: False, tabs: gr.Tabs(selected="create")}

        transcribe.send.click(send_lyrics, transcribe.lyrics,
                              [create.fields["lyrics"], create.generate["lyrics"], tabs], api_visibility="private")

    return demo


def launch_app(studio: Studio, host: str, port: int, *, block: bool = True) -> gr.Blocks:
    """Serve the page on host:port (no browser is opened); returns the running Blocks.

    Requests addressed to another host, and Gradio's file route into the data folder, are refused (guard.py).
    """
    settings = studio.settings
    demo = build_app(studio)
    demo.queue(default_concurrency_limit=None)
    guard = Middleware(RequestGuard, hosts=allowed_hosts(host, settings.allowed_hosts), private_dirs=[settings.data_dir])
    demo.launch(
        server_name=host, server_port=port, inbrowser=False, share=False, prevent_thread_lock=not block,
        allowed_paths=[str(settings.data_dir)], max_file_size=settings.max_upload_bytes,
        theme=gr.themes.Soft(), css=CSS, footer_links=["api"], quiet=True,
        app_kwargs={"routes": live_route.routes(studio) + take_route.routes(studio), "middleware": [guard]},
    )
    return demo
