"""The page: four tabs laid out and wired to one `Studio`. Layout and wiring only; the work is in the service."""

from __future__ import annotations


import gradio as gr

from app.studio.service import Studio

from starlette.middleware import Middleware

from . import api, api_recording, create_tab, history_tab, live_route, load_song, models_tab, take_route, transcribe_tab
from .common import CSS
from .guard import RequestGuard, allowed_hosts
from .handover import HANDOVER_JS

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
            with gr.Tab("Transcribe", id="transcribe") as transcribe_page:
                transcribe = transcribe_tab.build()
            with gr.Tab("Models & Settings", id="models") as models_page:
                models = models_tab.build(studio)

        api.register(studio)  # first, so the named endpoints get their plain names (/write, /compose, /search)
        api_recording.register(studio)
        create_tab.wire(create, studio, models.llm_inputs, demo)
        refresh_history, listing = history_tab.wire(history, studio)
        transcribe_ready = transcribe_tab.wire(transcribe, studio, demo)
        refresh_models = models_tab.wire(models, studio)

        history_page.select(refresh_history, [history.query, history.sort, history.selected], listing,
                            api_visibility="private")
        transcribe_page.select(transcribe_ready, transcribe.status, [transcribe.run, transcribe.status],
                               api_visibility="private")
        models_page.select(refresh_models, None, [models.table, models.loaded], api_visibility="private")

        load_song.wire(create, studio, history.load, history.selected, tabs, transcribe.send, transcribe.lyrics)

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
        theme=gr.themes.Soft(), css=CSS, js=HANDOVER_JS, footer_links=["api"], quiet=True,
        app_kwargs={"routes": live_route.routes(studio) + take_route.routes(studio), "middleware": [guard]},
    )
    return demo
