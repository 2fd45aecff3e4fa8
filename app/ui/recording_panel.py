"""Create's "Start from a recording": upload your own recording, see it turned into notes (tokens) with progress,
then extend it or redo it from a time, exactly as History does with a kept take.

Turning it into notes keeps it in History as a song of its own (its take is what the notes hold, the recording is
kept beside it); Compose then continues that song (`Studio.continue_song`), and its takes appear in Create's
players like any Compose's, with Create's variants, seed and LLM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.studio.errors import InvalidInput, JobCancelled
from app.studio.jobs import Finished, MusicSettings, Progress, Sheet, SheetWritten, TextChunk
from app.studio.recordings import check_words
from app.studio.service import Studio
from heartmula_core.request import FRAME_RATE, parse_time

from .common import guarded, progress_html, session_of, upload_note
from .job_view import STOPPED, JobView, cleared

if TYPE_CHECKING:
    from .create_tab import CreateTab

Updates = dict[Any, Any]
MODES = {"Extend it": "extend", "Redo it from a time": "redo"}
HINT = ("Bring a demo, a voice memo or last year's song: it is turned into the notes (tokens) the model speaks and "
        "kept in History, then extended or redone from a time like any take. Tags say its style; its lyrics help "
        "the model sing on.")


@dataclass
class RecordingPanel:
    """The section's components."""

    box: gr.Accordion
    file: gr.File
    title: gr.Textbox
    tags: gr.Textbox
    lyrics: gr.Textbox
    encode: gr.Button
    status: gr.HTML
    player: gr.Audio  # the kept take: what the notes hold
    song_id: gr.State  # the recording's song in History, once it is kept
    next_box: gr.Group  # how to go on, shown once the recording is kept
    mode: gr.Radio
    more_seconds: gr.Number
    new_lyrics: gr.Textbox
    write_lyrics: gr.Checkbox
    cut: gr.Textbox
    total_seconds: gr.Number
    compose: gr.Button
    stop: gr.Button


def build() -> RecordingPanel:
    """Lay out the section (inside the Create tab)."""
    with gr.Accordion("Start from a recording", open=False, elem_id="recording-box") as box:
        gr.Markdown(HINT, elem_classes="hs-hint")
        with gr.Row():
            file = gr.File(label="Your recording (wav, flac, ogg, mp3)", file_types=["audio"], scale=2,
                           elem_id="recording-file")
            with gr.Column(scale=3):
                title = gr.Textbox(label="Title", placeholder="left empty: the file's name", elem_id="recording-title")
                tags = gr.Textbox(label="Tags (its style)", placeholder="indie,guitar,male vocal",
                                  elem_id="recording-tags")
                lyrics = gr.Textbox(label="Lyrics sung in it", lines=3, placeholder="[verse]\n...",
                                    elem_id="recording-lyrics")
        encode = gr.Button("Turn it into notes", elem_id="recording-encode")
        status = gr.HTML(elem_id="recording-status")
        player = gr.Audio(label="What the notes hold", type="filepath", interactive=False, visible=False,
                          elem_id="recording-player")
        song_id = gr.State(None)
        with gr.Group(visible=False, elem_id="recording-next") as next_box:
            mode = gr.Radio(list(MODES), value="Extend it", label="Then", elem_id="recording-mode")
            with gr.Row():
                more_seconds = gr.Number(30, label="Seconds to add", minimum=1, elem_id="recording-more")
                cut = gr.Textbox(label="Redo from (mm:ss)", placeholder="0:45", visible=False, elem_id="recording-from")
                total_seconds = gr.Number(30, label="Length in all (seconds)", minimum=1, visible=False,
                                          elem_id="recording-total")
            with gr.Row():
                new_lyrics = gr.Textbox(label="New lyrics, after the recording's (optional)", lines=3, scale=5,
                                        elem_id="recording-new-lyrics")
                write_lyrics = gr.Checkbox(label="generate", scale=1, min_width=130, elem_id="recording-gen-lyrics",
                                           elem_classes="hs-gen")
            with gr.Row():
                compose = gr.Button("Compose from the recording", variant="primary", elem_id="recording-compose")
                stop = gr.Button("Stop", variant="stop", elem_id="recording-stop")
    return RecordingPanel(box, file, title, tags, lyrics, encode, status, player, song_id, next_box, mode,
                          more_seconds, new_lyrics, write_lyrics, cut, total_seconds, compose, stop)


def wire(panel: RecordingPanel, tab: CreateTab, studio: Studio, llm_inputs: list[Any]) -> None:
    """Attach the section's events. Its songs play in Create's players (`tab`) with Create's variants, seed and
    LLM; `llm_inputs` are the Settings tab's (Ollama URL, OpenAI URL, OpenAI key)."""
    forgotten = {panel.song_id: None, panel.player: gr.update(visible=False, value=None),
                 panel.next_box: gr.update(visible=False)}

    @guarded
    def check(path: str | None, variant: str) -> Updates:
        note = upload_note(path, "Recording", studio.check_recording)  # a bad file is one clear line at once
        missing = studio.recording_missing(variant) if path else None
        return {panel.status: progress_html(None, missing) if missing else note, **forgotten}

    panel.file.upload(check, [panel.file, tab.lm_variant], [panel.status, *forgotten], api_visibility="private")
    panel.file.clear(lambda: {panel.status: "", **forgotten}, None, [panel.status, *forgotten],
                     api_visibility="private", queue=False)

    @guarded
    def encode(path: str | None, title: str, tags: str, lyrics: str, variant: str,
               request: gr.Request) -> Iterator[Updates]:
        if not path:
            raise InvalidInput("Upload a recording first.")
        events = studio.keep_recording(path, Sheet(title=title or "", tags=tags or "", lyrics=lyrics or ""),
                                       lm_variant=variant, session=session_of(request))  # checked at once
        yield {panel.status: progress_html(Progress("waiting")), **forgotten}
        try:
            for event in events:
                if isinstance(event, Progress):
                    yield {panel.status: progress_html(event)}
                elif isinstance(event, Finished):
                    song = event.song
                    frames = round(song.seconds * FRAME_RATE)
                    note = (f"Kept “{song.title}” in History: {song.seconds:.1f} s as {frames} frames of notes. "
                            "Now extend it, or redo it from a time.")
                    yield {panel.status: progress_html(None, note), panel.song_id: song.id,
                           panel.player: gr.update(visible=True, value=str(song.takes[0].audio)),
                           panel.next_box: gr.update(visible=True), panel.total_seconds: round(song.seconds) + 30}
        except JobCancelled:
            yield {panel.status: progress_html(None, STOPPED)}

    panel.encode.click(encode, [panel.file, panel.title, panel.tags, panel.lyrics, tab.lm_variant],
                       [panel.status, *forgotten, panel.total_seconds], api_visibility="private",
                       concurrency_limit=None, show_progress="hidden")

    def show_mode(mode: str) -> Updates:
        redo = MODES.get(mode) == "redo"
        return {panel.more_seconds: gr.update(visible=not redo), panel.new_lyrics: gr.update(visible=not redo),
                panel.write_lyrics: gr.update(visible=not redo), panel.cut: gr.update(visible=redo),
                panel.total_seconds: gr.update(visible=redo)}

    panel.mode.change(show_mode, panel.mode, [panel.more_seconds, panel.new_lyrics, panel.write_lyrics, panel.cut,
                                              panel.total_seconds], api_visibility="private", queue=False)

    @guarded
    def compose(data: dict[Any, Any], request: gr.Request) -> Iterator[Updates]:
        song_id = data[panel.song_id]
        if not song_id:
            raise InvalidInput("Turn the recording into notes first.")
        kind = MODES.get(data[panel.mode], "extend")
        parent = studio.song(song_id)
        new_lyrics = str(data[panel.new_lyrics] or "") if kind == "extend" else ""
        fill = frozenset({"lyrics"}) if kind == "extend" and data[panel.write_lyrics] else frozenset()
        check_words(kind, parent.lyrics, new_lyrics, fill)
        created = tab.music(data)  # Create's variants and seed; the style and settings are the recording's
        music = dataclasses.replace(MusicSettings.of_song(parent, studio.settings.lm_variant),
                                    variants=created.variants, seed=created.seed)
        backend = data[tab.llm_backend]
        ollama_url, openai_url, key = (data[c] for c in llm_inputs)
        choice = studio.llm_choice(backend, openai_url if backend == "OpenAI" else ollama_url,
                                   data[tab.llm_model] or "", key if backend == "OpenAI" else "") if fill else None
        if kind == "extend":
            events = studio.continue_song(song_id, 1, "extend", seconds=float(data[panel.more_seconds] or 0),
                                          new_lyrics=new_lyrics, fill=fill, music=music, choice=choice,
                                          session=session_of(request))
        else:
            cut = str(data[panel.cut] or "").strip()
            if not cut:
                raise InvalidInput("Say from when to redo the recording (mm:ss).")
            events = studio.continue_song(song_id, 1, "redo", seconds=float(data[panel.total_seconds] or 0),
                                          from_seconds=parse_time(cut), music=music, session=session_of(request))
        yield cleared(tab, progress_html(Progress("waiting")))
        view = JobView(tab, studio, frozenset())
        try:
            for event in events:
                if isinstance(event, SheetWritten):  # the LLM's new lyrics: the musician's to edit from now on
                    yield {panel.new_lyrics: event.sheet.lyrics, panel.write_lyrics: False}
                elif not isinstance(event, TextChunk):
                    yield from filter(None, view.on(event))
        except JobCancelled:
            yield view.ended(progress_html(None, STOPPED))
        except Exception:
            yield view.ended("")  # the error itself is shown as a message by the guard
            raise

    inputs = {panel.song_id, panel.mode, panel.more_seconds, panel.new_lyrics, panel.write_lyrics, panel.cut,
              panel.total_seconds, *tab.music_inputs(), tab.llm_backend, tab.llm_model, *llm_inputs}
    outputs = [tab.status, tab.live, tab.song_id, *tab.take_outputs(), panel.new_lyrics, panel.write_lyrics]
    panel.compose.click(compose, inputs, outputs, api_visibility="private", concurrency_limit=None,
                        show_progress="hidden")

    def stop(request: gr.Request) -> None:
        session = session_of(request)
        if session:  # a request without a session owns no job
            studio.stop(session)

    # Not queued, like Create's Stop: it must never wait behind the work it stops.
    panel.stop.click(stop, None, None, api_visibility="private", queue=False)
