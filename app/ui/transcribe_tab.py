"""The Transcribe tab: upload a song, get its lyrics, send them to Create."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.service import Studio

from .common import guarded, progress_html, upload_note

NOTHING_HEARD = "No words were heard in this recording: write the lyrics yourself, or try a clearer mix."


@dataclass
class TranscribeTab:
    """The Transcribe tab's components."""

    upload: gr.File
    run: gr.Button
    lyrics: gr.Textbox
    send: gr.Button
    status: gr.HTML


def build() -> TranscribeTab:
    """Lay out the Transcribe tab (inside an open `gr.Tab`)."""
    gr.Markdown("Upload a recording (WAV, FLAC, MP3 or OGG) and Heartsong writes down the lyrics it hears.")
    with gr.Row(equal_height=False):
        with gr.Column():
            upload = gr.File(label="Song", file_types=["audio"], elem_id="transcribe-upload")
            run = gr.Button("Transcribe", variant="primary", elem_id="transcribe-run")
            status = gr.HTML(elem_id="transcribe-status")
        with gr.Column():
            lyrics = gr.Textbox(label="Lyrics", lines=14, elem_id="transcribe-lyrics")
            send = gr.Button("Send to Create", elem_id="transcribe-send")
    return TranscribeTab(upload, run, lyrics, send, status)


def wire(tab: TranscribeTab, studio: Studio) -> None:
    """Attach the Transcribe tab's events (sending to Create is wired by the app)."""

    @guarded
    def check(path: str | None) -> str:
        return upload_note(path, "Ready to transcribe",
                           functools.partial(studio.check_upload, max_seconds=studio.settings.max_transcribe_audio_s))

    tab.upload.upload(check, tab.upload, tab.status, api_visibility="private")

    @guarded
    def transcribe(path: str | None) -> dict[Any, Any]:
        if not path:
            raise gr.Error("Upload a song first.", print_exception=False)
        text = studio.transcribe(path)
        if not text.strip():
            return {tab.lyrics: "", tab.status: progress_html(None, NOTHING_HEARD)}
        return {tab.lyrics: text, tab.status: progress_html(None, "Done: edit the lyrics, then Send to Create.")}

    tab.run.click(transcribe, tab.upload, [tab.lyrics, tab.status], api_visibility="private")
