"""The History tab: find a kept song, play it, load it back into Create, render its audio again, delete it, or extend or
redo it from a time (`continue_panel.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.errors import JobCancelled
from app.studio.history import EXPORT_FORMATS, Song
from app.studio.jobs import Finished, Progress
from app.studio.service import Studio

from . import continue_panel
from .common import counted, guarded, progress_html, session_of
from .continue_panel import ContinuePanel

SORTS = {"Newest first": "newest", "Oldest first": "oldest", "Title": "title"}
COLUMNS = ["Title", "Made", "Tags", "Length", "Takes"]


@dataclass
class HistoryTab:
    """The History tab's components."""

    query: gr.Textbox
    sort: gr.Radio
    table: gr.Dataframe
    ids: gr.State
    selected: gr.State
    details: gr.Markdown
    take: gr.Radio
    player: gr.Audio
    source: gr.Audio
    downloads: dict[str, gr.DownloadButton]
    load: gr.Button
    redecode: gr.Button
    delete: gr.Button
    confirm_row: gr.Row
    confirm: gr.Button
    keep: gr.Button
    status: gr.HTML
    cont: ContinuePanel


def build() -> HistoryTab:
    """Lay out the History tab (inside an open `gr.Tab`)."""
    with gr.Row():
        query = gr.Textbox(label="Search", placeholder="a word from the title, lyrics, description or tags",
                           scale=4, elem_id="history-search")
        sort = gr.Radio(list(SORTS), value="Newest first", label="Sort", scale=2, elem_id="history-sort")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, elem_id="history-table",
                         column_widths=["30%", "18%", "32%", "10%", "10%"], max_height=360)
    ids = gr.State([])
    selected = gr.State(None)
    with gr.Group():
        details = gr.Markdown("Pick a song in the list to play it.", elem_id="history-details")
        take = gr.Radio([], label="Take", visible=False, elem_id="history-take")
        player = gr.Audio(label="Play", type="filepath", interactive=False, visible=False, elem_id="history-player")
        with gr.Row():
            downloads = {
                fmt: gr.DownloadButton(fmt.upper(), size="sm", visible=False, elem_id=f"history-{fmt}")
                for fmt in EXPORT_FORMATS
            }
        # What the song was made from (a musician compares the two): the recording it continues, or its style reference.
        source = gr.Audio(type="filepath", interactive=False, visible=False, elem_id="history-source")
    with gr.Row():
        load = gr.Button("Load into Create", interactive=False, elem_id="history-load")
        redecode = gr.Button("Render the audio again (same notes)", interactive=False, elem_id="history-redecode")
        delete = gr.Button("Delete…", variant="stop", interactive=False, elem_id="history-delete")
    with gr.Row(visible=False) as confirm_row:
        confirm = gr.Button("Yes, delete it for good", variant="stop", elem_id="history-confirm")
        keep = gr.Button("No, keep it", elem_id="history-keep")
    status = gr.HTML(elem_id="history-status")
    cont = continue_panel.build()
    return HistoryTab(query, sort, table, ids, selected, details, take, player, source, downloads, load, redecode, delete,
                      confirm_row, confirm, keep, status, cont)


def rows(songs: list[tuple[Song, int]]) -> list[list[Any]]:
    """The table rows for `songs` (each with its depth: a continued song is indented under its parent)."""
    return [
        ["↳ " * depth + (s.title or "Untitled"), time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)), s.tags,
         f"{s.seconds:g} s", len(s.takes)]
        for s, depth in songs
    ]


def describe(song: Song) -> str:
    """The details shown above the player."""
    settings = song.settings
    seeds = ", ".join(str(t.seed) for t in song.takes)
    lines = [f"### {song.title or 'Untitled'}", f"*{song.tags or 'no tags'}* · {song.seconds:g} s · seeds {seeds}"]
    if song.description:
        lines.append(f"> {song.description}")
    if song.lyrics.strip():  # a fence of tildes: the lines and their [section] tags as written
        lines.append("**Lyrics**\n\n~~~text\n" + song.lyrics.strip().replace("~~~", "~ ~ ~") + "\n~~~")
    if "cfg" in settings:
        lines.append(f"Model {settings['lm_variant']}, CFG {settings.get('cfg')}, "
                     f"temperature {settings.get('temperature')}, top-k {settings.get('topk')}")
    strength = settings.get("style_strength", 1.0)
    if song.style_reference:
        lines.append(f"Style: a reference recording (kept with the song), strength {strength:g}")
    elif settings.get("style_text", "").strip():
        lines.append(f"Style: “{settings['style_text'].strip()}”, strength {strength:g}")
    if song.recording:
        uploaded = settings.get("recording_name")
        lines.append(f"Made from a recording, kept with the song as {song.recording.name}"
                     + (f" (uploaded as {uploaded})." if uploaded else "."))
    return "\n\n".join(lines)


def source_update(song: Song) -> dict[str, Any]:
    """The second player: the recording the song was made from, else its style reference, else hidden."""
    if song.recording:
        return gr.update(visible=True, value=str(song.recording), label="The recording it was made from")
    if song.style_reference:
        return gr.update(visible=True, value=str(song.style_reference), label="The style reference")
    return gr.update(visible=False, value=None)


def wire(tab: HistoryTab, studio: Studio) -> tuple[Callable[[str, str, str | None], dict[Any, Any]], list[Any]]:
    """Attach the History tab's events (loading into Create is wired by the app, which knows both tabs).

    Returns the list refresh handler `(query, sort, selected song id)` and its outputs, so the app can refresh the
    list when the tab opens.
    """
    hidden_selection = {
        tab.selected: None, tab.details: "Pick a song in the list to play it.",
        tab.take: gr.update(visible=False, choices=[], value=None), tab.player: gr.update(visible=False, value=None),
        tab.source: gr.update(visible=False, value=None),
        tab.load: gr.update(interactive=False), tab.redecode: gr.update(interactive=False),
        tab.delete: gr.update(interactive=False), tab.confirm_row: gr.update(visible=False),
        **{b: gr.update(visible=False) for b in tab.downloads.values()},
        tab.cont.box: gr.update(visible=False), tab.cont.total_seconds: gr.update(), tab.cont.status: "",
    }
    selection_outputs = list(hidden_selection)

    @guarded
    def search(query: str, sort: str, selected: str | None = None) -> dict[Any, Any]:
        songs = continue_panel.nest(studio.search(query or "", SORTS.get(sort, "newest")))
        ids = [s.id for s, _ in songs]
        note = counted(len(songs), "song") if songs else ("No song matches." if query else "No songs kept yet.")
        # The open song stays open while the new list still holds it: refining a search, or a listing that lands
        # just after the musician clicked a row, must not close what they are looking at.
        closed = {} if selected in ids else hidden_selection
        return {tab.table: rows(songs), tab.ids: ids, tab.status: progress_html(None, note), **closed}

    listing = [tab.table, tab.ids, tab.status, *selection_outputs]
    by = [tab.query, tab.sort, tab.selected]
    tab.query.submit(search, by, listing, api_visibility="private")
    tab.query.change(search, by, listing, api_visibility="private", trigger_mode="always_last",
                     show_progress="hidden")
    tab.sort.change(search, by, listing, api_visibility="private")

    def show(song: Song, index: int) -> dict[Any, Any]:
        take = next(t for t in song.takes if t.index == index)
        details = "\n\n".join(part for part in (describe(song), continue_panel.lineage(studio, song)) if part)
        return {
            tab.selected: song.id, tab.details: details,
            tab.take: gr.update(visible=len(song.takes) > 1, choices=[(f"Take {t.index}", t.index) for t in song.takes],
                                value=index),
            tab.player: gr.update(visible=True, value=str(take.audio)),
            tab.source: source_update(song),
            tab.load: gr.update(interactive=True), tab.redecode: gr.update(interactive=take.tokens is not None),
            tab.delete: gr.update(interactive=True), tab.confirm_row: gr.update(visible=False),
            **{b: gr.update(visible=True, value=str(studio.export(song.id, index, fmt)))
               for fmt, b in tab.downloads.items()},
            tab.cont.box: gr.update(visible=take.tokens is not None),
            tab.cont.total_seconds: round(song.seconds, 2),  # 2.68, not the float's 2.6799999999999997
        }

    @guarded
    def pick(ids: list[str], evt: gr.SelectData) -> dict[Any, Any]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or row >= len(ids):
            return hidden_selection
        song = studio.song(ids[row])
        return show(song, song.takes[0].index)

    tab.table.select(pick, [tab.ids], selection_outputs, api_visibility="private")

    @guarded
    def pick_take(song_id: str | None, index: int | None) -> dict[Any, Any]:
        if not song_id or index is None:
            return {}
        return show(studio.song(song_id), int(index))

    tab.take.input(pick_take, [tab.selected, tab.take], selection_outputs, api_visibility="private")

    @guarded
    def redecode(song_id: str, index: int | None, request: gr.Request) -> Iterator[dict[Any, Any]]:
        song = studio.song(song_id)
        index = int(index or song.takes[0].index)
        events = studio.remake_audio(song_id, index, session_of(request))  # checked at once
        yield {tab.status: progress_html(Progress("waiting")), tab.redecode: gr.update(interactive=False)}
        try:
            for event in events:
                if isinstance(event, Progress):
                    yield {tab.status: progress_html(event)}
                elif isinstance(event, Finished):
                    yield {**show(event.song, index), tab.status: progress_html(
                        None, f"Take {index}'s audio was rendered again from its saved notes.")}
        except JobCancelled as stopped:  # the Stop of the panel below stops this tab's every job
            yield {tab.status: progress_html(None, str(stopped)), tab.redecode: gr.update(interactive=True)}
        except Exception:
            yield {tab.status: "", tab.redecode: gr.update(interactive=True)}  # the guard shows the error
            raise

    # The status line is the progress: Gradio's own would still mark the player "processing" (hidden or not).
    tab.redecode.click(redecode, [tab.selected, tab.take], [*selection_outputs, tab.status], api_visibility="private",
                       concurrency_limit=None, show_progress="hidden", show_progress_on=[tab.status])

    tab.delete.click(lambda: gr.update(visible=True), None, tab.confirm_row, api_visibility="private", queue=False)
    tab.keep.click(lambda: gr.update(visible=False), None, tab.confirm_row, api_visibility="private", queue=False)

    @guarded
    def delete(song_id: str, query: str, sort: str) -> dict[Any, Any]:
        title = studio.song(song_id).title or "Untitled"
        studio.delete(song_id)
        updates = search(query, sort)
        updates[tab.status] = progress_html(None, f"Deleted “{title}”.")
        return updates

    tab.confirm.click(delete, [tab.selected, tab.query, tab.sort], listing, api_visibility="private")
    continue_panel.wire(tab.cont, studio, tab.selected, tab.take, search, show, [tab.query, tab.sort],
                        listing)
    return search, listing
