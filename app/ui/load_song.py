"""History's "Load into Create" and Transcribe's "Send to Create": the song's text and settings (or the lyrics
heard) go into Create at once (a musician loads a song to vary it, and a question each time would be in the
way), and when Create held a draft of the musician's, it is put aside: "Undo load" under Create's status line
brings it back, exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.studio.drafts import DraftText, worth_keeping
from app.studio.jobs import FIELDS, MusicSettings, Sheet
from app.studio.service import Studio

from .common import guarded, progress_html

if TYPE_CHECKING:
    from .create_tab import CreateTab


@dataclass
class UndoLoad:
    """The button that brings a draft back, the draft (Create's values, in `draft_components` order; None when
    there is nothing to bring back) and the words the last load put in Create."""

    button: gr.Button
    draft: gr.State
    loaded: gr.State


def build() -> UndoLoad:
    """Lay out the button (inside Create, under its status line; hidden until a load puts a draft aside)."""
    button = gr.Button("Undo load: bring back my draft", visible=False, size="sm", elem_id="create-undo-load")
    return UndoLoad(button, gr.State(None), gr.State(None))


def draft_components(create: CreateTab) -> list[Any]:
    """Everything of Create that a load replaces (and an undo restores)."""
    return [*create.fields.values(), *create.generate.values(), create.seconds, create.variants, create.seed,
            create.cfg, create.temperature, create.topk, create.lm_variant, create.style_audio, create.style_text,
            create.style_strength]


def draft_text(sheet: Sheet, style_text: str | None, style_audio: str | None) -> DraftText:
    # A recording is compared by its name: Gradio hands a file back from a cache folder of its own.
    return DraftText(sheet, style_text or "", Path(style_audio).name if style_audio else "")


def wire(create: CreateTab, studio: Studio, load: gr.Button, selected: gr.State, tabs: gr.Tabs, send: gr.Button,
         lyrics: gr.Textbox) -> None:
    """Attach "Load into Create" (History's `load` button, for the song id in `selected`), "Send to Create"
    (Transcribe's `send` button, with its `lyrics`) and Create's undo."""
    undo = create.undo_load
    components = draft_components(create)

    @guarded
    def load_song(data: dict[Any, Any]) -> dict[Any, Any]:
        """Put a kept song into Create (fields unticked, its settings, first seed and style) to edit or vary it."""
        song_id = data[selected]
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
        current = draft_text(create.sheet(data)[0], data[create.style_text], data[create.style_audio])
        last = data[undo.loaded]
        draft = data[undo.draft]
        if worth_keeping(current, last):
            draft = [data[c] for c in components]
        elif current.empty:
            draft = None  # cleared by the musician: nothing to bring back
        note = f"Loaded “{song.title or 'Untitled'}” from History."
        if draft is not None:
            note += " Your draft was put aside: “Undo load” brings it back."
        loaded = draft_text(Sheet(song.description, song.title, song.lyrics, song.tags, song.seconds),
                            music.style_text, music.style_audio)
        return {**updates, undo.draft: draft, undo.loaded: loaded, undo.button: gr.update(visible=draft is not None),
                create.status: progress_html(None, note)}

    outputs = [*components, create.style_box, tabs, undo.draft, undo.loaded, undo.button, create.status]
    load.click(load_song, {selected, undo.draft, undo.loaded, *components}, outputs, api_visibility="private")

    @guarded
    def send_lyrics(data: dict[Any, Any]) -> dict[Any, Any]:
        """Put transcribed lyrics into Create's Lyrics (unticked: the musician's now); other fields stay."""
        text = data[lyrics]
        current = draft_text(create.sheet(data)[0], data[create.style_text], data[create.style_audio])
        draft = [data[c] for c in components] if current.sheet.lyrics.strip() else data[undo.draft]
        note = "The lyrics heard are in Create."
        if current.sheet.lyrics.strip():
            note += " Your lyrics were put aside: “Undo load” brings them back."
        return {create.fields["lyrics"]: text, create.generate["lyrics"]: False, tabs: gr.Tabs(selected="create"),
                undo.draft: draft, undo.loaded: None, undo.button: gr.update(visible=draft is not None),
                create.status: progress_html(None, note)}

    send.click(send_lyrics, {lyrics, undo.draft, *components},
               [create.fields["lyrics"], create.generate["lyrics"], tabs, undo.draft, undo.loaded, undo.button,
                create.status], api_visibility="private")

    @guarded
    def bring_back(draft: list[Any] | None) -> dict[Any, Any]:
        if not draft:
            return {undo.button: gr.update(visible=False)}
        return {**dict(zip(components, draft, strict=True)), undo.draft: None, undo.loaded: None,
                undo.button: gr.update(visible=False), create.status: progress_html(None, "Your draft is back.")}

    undo.button.click(bring_back, undo.draft, [*components, undo.draft, undo.loaded, undo.button, create.status],
                      api_visibility="private")
