"""History's "go on from this take" panel: Extend it (more seconds, new lyrics the LLM can write) or Redo it from
a time (typed as mm:ss or taken from the player), as many variants as asked, with progress, take 1 live and Stop.

The new song is kept like any other; the list shows it under the song it came from, and the details of each say
where it came from and what was made from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.studio.continuing import clock
from app.studio.errors import InvalidInput, JobCancelled
from app.studio.history import Song
from app.studio.jobs import Finished, Listening, MusicSettings, Progress
from app.studio.service import Studio
from heartmula_core.request import parse_time

from .common import counted, guarded, progress_html, session_of
from .job_view import STOPPED, live_player

Updates = dict[Any, Any]

# The player's position as m:ss.s. Gradio's waveform player keeps its <audio> in a shadow root: look there too.
PLAYER_POSITION_JS = """() => {
    const root = document.querySelector('#history-player');
    const audios = root ? [...root.querySelectorAll('audio')] : [];
    if (root) root.querySelectorAll('*').forEach(e => e.shadowRoot && audios.push(...e.shadowRoot.querySelectorAll('audio')));
    const t = audios.length ? audios[0].currentTime : 0;
    const m = Math.floor(t / 60);
    return `${m}:${(t - m * 60).toFixed(1).padStart(4, '0')}`;
}"""


@dataclass
class ContinuePanel:
    """The panel's components (shown while a take is selected)."""

    box: gr.Accordion
    more_seconds: gr.Number
    new_lyrics: gr.Textbox
    write_lyrics: gr.Checkbox
    extend: gr.Button
    cut: gr.Textbox
    use_position: gr.Button
    total_seconds: gr.Number
    redo: gr.Button
    variants: gr.Slider
    stop: gr.Button
    status: gr.HTML
    live: gr.HTML


def build() -> ContinuePanel:
    """Lay out the panel (inside the History tab, under the selected song)."""
    with gr.Accordion("Extend or redo this take", open=True, visible=False, elem_id="continue-box") as box:
        with gr.Row():
            with gr.Column():
                more_seconds = gr.Number(30, label="Seconds to add", minimum=1, elem_id="continue-more")
                with gr.Row():
                    new_lyrics = gr.Textbox(label="New lyrics, after the old ones (optional)", lines=3, scale=5,
                                            elem_id="continue-lyrics")
                    write_lyrics = gr.Checkbox(label="generate", scale=1, elem_id="continue-gen-lyrics")
                extend = gr.Button("Extend", variant="primary", elem_id="continue-extend")
            with gr.Column():
                with gr.Row():
                    cut = gr.Textbox(label="Redo from (mm:ss)", placeholder="1:15", scale=3, elem_id="continue-from")
                    use_position = gr.Button("Use the player's position", size="sm", scale=2,
                                             elem_id="continue-use-position")
                total_seconds = gr.Number(30, label="Length in all (seconds)", minimum=1, elem_id="continue-total")
                redo = gr.Button("Redo from here", variant="primary", elem_id="continue-redo")
        with gr.Row():
            variants = gr.Slider(1, 8, value=1, step=1, label="Variants", elem_id="continue-variants")
            stop = gr.Button("Stop", variant="stop", elem_id="continue-stop")
        status = gr.HTML(elem_id="continue-status")
        live = gr.HTML(elem_id="continue-live")
    return ContinuePanel(box, more_seconds, new_lyrics, write_lyrics, extend, cut, use_position, total_seconds, redo,
                         variants, stop, status, live)


def lineage(studio: Studio, song: Song) -> str:
    """Where a song came from and what was made from it, for its details (empty for a song with neither)."""
    lines = []
    if song.parent is not None:
        parent = studio.history.parent_of(song)
        name = f"“{parent.title or 'Untitled'}”" if parent else "a song since deleted"
        how = "extended" if song.parent.kind == "extend" else f"redone from {clock(song.parent.kept_seconds)}"
        lines.append(f"From {name}, take {song.parent.take}: {how}.")
    children = studio.children(song.id)
    if children:
        lines.append("Continued as " + ", ".join(f"“{c.title or 'Untitled'}”" for c in children) + ".")
    return "\n\n".join(lines)


def nest(songs: list[Song]) -> list[tuple[Song, int]]:
    """`songs` with each continued song right under the one it came from (when that is listed too), and its depth."""
    listed = {s.id for s in songs}
    under: dict[str, list[Song]] = {}
    for song in songs:
        if song.parent is not None and song.parent.song_id in listed and song.parent.song_id != song.id:
            under.setdefault(song.parent.song_id, []).append(song)
    placed: list[tuple[Song, int]] = []
    seen: set[str] = set()

    def place(song: Song, depth: int) -> None:
        if song.id in seen:
            return
        seen.add(song.id)
        placed.append((song, depth))
        for child in under.get(song.id, []):
            place(child, depth + 1)

    nested_ids = {c.id for children in under.values() for c in children}
    for song in songs:
        if song.id not in nested_ids:
            place(song, 0)
    for song in songs:  # a loop of links (never made by the app) still lists every song once
        place(song, 0)
    return placed


def wire(
    panel: ContinuePanel,
    studio: Studio,
    selected: gr.State,
    take: gr.Radio,
    refresh: Callable[[str, str], Updates],
    show: Callable[[Song, int], Updates],
    list_inputs: list[Any],
    outputs: list[Any],
) -> None:
    """Attach the panel's events. `refresh(query, sort)` lists the songs and `show(song, take)` selects one (the
    History tab's own handlers); `outputs` are theirs (the panel's status among them: a new selection clears it),
    and the live player is added here."""
    outputs = [*outputs, panel.live]

    def follow(events: Iterator[Any], list_args: tuple[str, str]) -> Iterator[Updates]:
        try:
            yield {panel.status: progress_html(Progress("waiting")), panel.live: ""}
            for event in events:
                if isinstance(event, Progress):
                    yield {panel.status: progress_html(event)}
                elif isinstance(event, Listening):
                    yield {panel.live: live_player(event.token, "continue-live-audio")}
                elif isinstance(event, Finished):
                    song = event.song
                    kept = (f"Kept “{song.title}” with {counted(len(song.takes), 'take')}, "
                            "under the song it came from.")
                    yield {**refresh(*list_args), **show(song, song.takes[0].index),
                           panel.status: progress_html(None, kept)}
        except JobCancelled:
            yield {panel.status: progress_html(None, STOPPED), panel.live: ""}

    def music(song_id: str, variants: float) -> MusicSettings:
        parent = studio.song(song_id)
        base = MusicSettings.of_song(parent, studio.settings.lm_variant)
        return dataclasses.replace(base, variants=int(variants), seed=None)

    @guarded
    def extend(song_id: str | None, index: int | None, more: float | None, lyrics: str, write: bool,
               variants: float, query: str, sort: str, request: gr.Request) -> Iterator[Updates]:
        if not song_id:
            raise InvalidInput("Pick a song in the list first.")
        fill = frozenset({"lyrics"}) if write else frozenset()
        choice = studio.llm_choice(studio.settings.llm_backend) if write else None
        events = studio.continue_song(song_id, int(index) if index else None, "extend", seconds=float(more or 0),
                                      new_lyrics=lyrics or "", fill=fill, music=music(song_id, variants),
                                      choice=choice, session=session_of(request))
        yield from follow(events, (query, sort))

    @guarded
    def redo(song_id: str | None, index: int | None, cut: str, total: float | None, variants: float,
             query: str, sort: str, request: gr.Request) -> Iterator[Updates]:
        if not song_id:
            raise InvalidInput("Pick a song in the list first.")
        if not (cut or "").strip():
            raise InvalidInput("Say from when to redo the take: type mm:ss or use the player's position.")
        events = studio.continue_song(song_id, int(index) if index else None, "redo", seconds=float(total or 0),
                                      from_seconds=parse_time(cut), music=music(song_id, variants),
                                      session=session_of(request))
        yield from follow(events, (query, sort))

    common = dict(api_visibility="private", concurrency_limit=None, show_progress="hidden",
                  show_progress_on=[panel.status])
    panel.extend.click(extend, [selected, take, panel.more_seconds, panel.new_lyrics, panel.write_lyrics,
                                panel.variants, *list_inputs], outputs, **common)
    panel.redo.click(redo, [selected, take, panel.cut, panel.total_seconds, panel.variants, *list_inputs], outputs,
                     **common)
    panel.use_position.click(None, None, panel.cut, js=PLAYER_POSITION_JS, api_visibility="private", queue=False)

    def stop(request: gr.Request) -> None:
        studio.stop(session_of(request))

    # As on Create: not queued, so a Stop never waits behind the work it stops.
    panel.stop.click(stop, None, None, api_visibility="private", queue=False)
