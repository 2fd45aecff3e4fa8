"""The Transcribe tab: upload a song, get its lyrics, send them to Create."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.jobs import Progress
from app.studio.remaking import Transcribed
from app.studio.service import Studio

from .common import as_message, guarded, progress_html, session_of, upload_note

MISSING_MARK = "needs the transcriptor model"  # in Studio.transcriber_missing's line
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


def wire(tab: TranscribeTab, studio: Studio, demo: gr.Blocks) -> Callable[[str | None], dict[Any, Any]]:
    """Attach the Transcribe tab's events (sending to Create is wired by the app). Without its model the button is
    off and the status line says why, from the moment the page opens. Returns the readiness check, for the app
    to run when the tab is opened (with the status line: a model downloaded meanwhile turns the button on)."""

    @guarded
    def readiness() -> dict[Any, Any]:
        missing = studio.transcriber_missing()
        return {tab.run: gr.update(interactive=missing is None), tab.status: progress_html(None, missing or "")}

    demo.load(readiness, None, [tab.run, tab.status], api_visibility="private")

    @guarded
    def reopened(status: str | None) -> dict[Any, Any]:
        """On opening the tab: the model may have come or gone meanwhile; an upload's own line is left alone."""
        missing = studio.transcriber_missing()
        if missing or MISSING_MARK in (status or ""):
            return readiness()
        return {tab.run: gr.update(), tab.status: gr.update()}

    @guarded
    def check(path: str | None) -> Iterator[dict[Any, Any]]:
        missing = studio.transcriber_missing()
        if missing:
            yield {tab.status: progress_html(None, missing), tab.run: gr.update(interactive=False)}
            return
        try:
            note = upload_note(path, "Ready to transcribe", functools.partial(
                studio.check_upload, max_seconds=studio.settings.max_transcribe_audio_s))
        except Exception as exc:  # the status line says what the error says, never "Ready" beside it
            message = as_message(exc)
            yield {tab.status: progress_html(None, f"Not usable: {message.message}"),
                   tab.run: gr.update(interactive=False)}
            raise message from None
        yield {tab.status: note, tab.run: gr.update(interactive=True)}

    tab.upload.upload(check, tab.upload, [tab.status, tab.run], api_visibility="private", show_progress="hidden")
    tab.upload.clear(readiness, None, [tab.run, tab.status], api_visibility="private")

    @guarded
    def transcribe(path: str | None, request: gr.Request) -> Iterator[dict[Any, Any]]:
        if not path:
            raise gr.Error("Upload a song first.", print_exception=False)
        text = ""
        try:
            events = studio.transcribing(path, session_of(request))  # the upload is checked at once
            yield {tab.status: progress_html(Progress("waiting")), tab.run: gr.update(interactive=False)}
            for event in events:
                if isinstance(event, Progress):
                    yield {tab.status: progress_html(event)}
                elif isinstance(event, Transcribed):
                    text = event.text
        except Exception as exc:  # the status line says what the error says, never "Ready" beside it
            message = as_message(exc)
            yield {tab.status: progress_html(None, f"Not transcribed: {message.message}"),
                   tab.run: gr.update(interactive=True)}
            raise message from None
        done = {tab.run: gr.update(interactive=True)}
        if not text.strip():
            yield {**done, tab.lyrics: "", tab.status: progress_html(None, NOTHING_HEARD)}
            return
        yield {**done, tab.lyrics: text,
               tab.status: progress_html(None, "Done: edit the lyrics, then Send to Create.")}

    tab.run.click(transcribe, tab.upload, [tab.lyrics, tab.status, tab.run], api_visibility="private",
                  show_progress="hidden", show_progress_on=[tab.status], concurrency_limit=None)
    return reopened
