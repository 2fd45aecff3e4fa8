"""What the Create tab shows while a Write or a Compose runs: one loop that turns job events into page updates.

Text streams into the ticked fields, the status line follows the phases, the first take plays live from its
first decoded piece, each take gets its own player as soon as it is complete (Take 1's replaces the live
one, going on from where it was: handover.py), and the kept song's downloads follow. A Stop (or any error)
leaves no player behind: nothing of a stopped song may be heard.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from app.studio.errors import JobCancelled
from app.studio.history import EXPORT_FORMATS, Song
from app.studio.jobs import FIELDS, Event, Finished, Listening, Progress, SheetWritten, TakeAudio, TextChunk
from app.studio.live import PCM_SCALE
from app.studio.service import Studio

from . import handover
from .common import counted, progress_html
from .live_text import partial_fields
from .live_route import live_url

if TYPE_CHECKING:
    from .create_tab import CreateTab

STOPPED = "Stopped; nothing was kept."
Updates = dict[Any, Any]


def live_player(token: str | None, elem_id: str = "create-live-audio") -> str:
    """The live player's HTML: an <audio> that plays the take's WAV stream as it arrives (empty: none)."""
    if token is None:
        return ""
    src = html.escape(live_url(token), quote=True)
    return (f'<div class="hs-live"><span>Take 1, live while it is made</span>'
            f'<audio id="{elem_id}" controls autoplay preload="auto" src="{src}"></audio></div>')


def preview(pieces: list[np.ndarray], sample_rate: int) -> tuple[int, np.ndarray]:
    """A take's pieces as the player's (rate, int16 [samples, channels]): rounded the way the live stream is."""
    audio = np.concatenate(pieces, axis=1)  # (channels, samples)
    return sample_rate, np.round(np.clip(audio, -1.0, 1.0) * PCM_SCALE).astype(np.int16).T


def player(path: str | None) -> dict[str, Any]:
    """A take player's new file (None: empty), sent as an update rather than as the bare value.

    Why: Gradio's page script applies each message of a running job's stream as a diff, in place, on the objects
    it handed over with the message before. A player keeps its bare value object until it is drawn (when its
    take's group shows), and the next message, which leaves the player as it is, empties that object by
    deleting its keys: a page that read both messages at once (a busy browser) drew Take 1 with no audio.
    Wrapped in an update, the next diff deletes the wrapper's key and the file the player took stays whole. (A
    page further behind, that has not read the message when the next one comes, misses the whole update: the
    kept song's last update, which reaches the page whole, gives every player its file again: take_updates.)
    """
    return gr.update(value=path)


def take_updates(tab: CreateTab, studio: Studio, song: Song | None, formats: tuple[str, ...],
                 previews: dict[int, str] | None = None) -> Updates:
    """One player per take of `song` (the rest hidden), with download buttons for `formats`.

    Takes in `previews` (0-based index -> the file their player was given while the song was made) get that
    same file again: the same URL, so a musician listening to one is not interrupted, and a player that lost
    it on the way is given it again (the last update of a job reaches the page whole, never as a diff).
    """
    updates: Updates = {}
    previews = previews or {}
    takes = song.takes if song else ()
    for index, slot in enumerate(tab.takes):
        take = takes[index] if index < len(takes) else None
        updates[slot.box] = gr.update(visible=take is not None)
        if take is None:
            updates[slot.audio] = player(None)
        else:
            updates[slot.audio] = player(previews.get(index, str(take.audio)))
        for fmt, button in slot.downloads.items():
            if take is not None and fmt in formats:
                updates[button] = gr.update(value=str(studio.export(song.id, take.index, fmt)), visible=True)
            else:
                updates[button] = gr.update(visible=False)
    return updates


def cleared(tab: CreateTab, status: str) -> Updates:
    """No takes, no live player, and `status` on the status line."""
    return {tab.status: status, tab.live: "", tab.song_id: None, **take_updates(tab, None, None, ())}


@dataclass
class JobView:
    """Follows one job's events on the page. `fill` are the fields the LLM writes (they stream in)."""

    tab: CreateTab
    studio: Studio
    fill: frozenset[str]
    music: bool = True  # a Compose (its players are on the page) rather than a Write
    done_note: str = ""
    pieces: dict[int, list[np.ndarray]] = field(default_factory=dict)
    previews: dict[int, str] = field(default_factory=dict)  # take index -> the file its player was given

    def follow(self, events: Iterator[Event]) -> Iterator[Updates]:
        """Page updates for every event; after a Stop, the status says so and nothing of the song stays."""
        try:
            for event in events:
                # Gradio reads an empty dict as one output value, not as "no change" (and fails the whole
                # handler, showing "null"): an event that changes nothing on the page sends nothing.
                yield from filter(None, self.on(event))
        except JobCancelled:
            yield self.ended(progress_html(None, STOPPED))
        except Exception:
            yield self.ended("")  # the error itself is shown as a message by the handler's guard
            raise

    def ended(self, status: str) -> Updates:
        """The job ended without a song: `status`, and for a Compose no player of it left."""
        return cleared(self.tab, status) if self.music else {self.tab.status: status}

    def on(self, event: Event) -> Iterator[Updates]:
        tab = self.tab
        if isinstance(event, TextChunk):
            live = partial_fields(event.text, [f for f in FIELDS if f in self.fill])
            yield {tab.fields[name]: value for name, value in live.items()}
        elif isinstance(event, SheetWritten):
            updates: Updates = {tab.fields[f]: getattr(event.sheet, f) for f in FIELDS}
            updates |= {tab.generate[f]: False for f in self.fill}  # written: now the musician's to edit
            if event.repairs:
                gr.Info("Kept your quoted lines: " + "; ".join(event.repairs))
            if self.done_note:
                updates[tab.status] = progress_html(None, self.done_note)
            yield updates
        elif isinstance(event, Progress):
            yield {tab.status: progress_html(event)}
        elif isinstance(event, Listening):
            yield {tab.live: live_player(event.token)}
        elif isinstance(event, TakeAudio):
            yield from self.on_audio(event)
        elif isinstance(event, Finished):
            yield from self.on_finished(event.song)

    def on_audio(self, event: TakeAudio) -> Iterator[Updates]:
        """Collect a take's pieces; once it is complete, its player appears (downloads come when it is kept)."""
        self.pieces.setdefault(event.index, []).append(event.samples)
        if not event.final or event.index >= len(self.tab.takes):
            return
        slot = self.tab.takes[event.index]
        # Gradio writes the preview into its own cache (the page fetches only from there) once, here: the
        # kept song's update gives the player this same file again (take_updates).
        path = slot.audio.postprocess(preview(self.pieces.pop(event.index), event.sample_rate)).path
        self.previews[event.index] = path
        updates: Updates = {slot.box: gr.update(visible=True), slot.audio: player(path)}
        if event.index == 0:
            # Take 1 has its own player now: the live one would be a second Take 1. The page's script
            # (handover.py) lets Take 1 go on from where the live player was.
            updates[self.tab.live] = handover.marker()
        yield updates

    def on_finished(self, song: Song) -> Iterator[Updates]:
        tab = self.tab
        # Lossless downloads at once; the lossy encodes follow a moment later. No live player stays.
        gone = {} if 0 in self.previews else {tab.live: ""}  # no live player outlives the song
        yield {**take_updates(tab, self.studio, song, ("flac", "wav"), self.previews), tab.song_id: song.id,
               **gone, tab.status: progress_html(None, "Encoding MP3 and OGG downloads…")}
        yield {**take_updates(tab, self.studio, song, EXPORT_FORMATS, self.previews),
               tab.status: progress_html(None, f"Kept “{song.title or 'Untitled'}” with "
                                               f"{counted(len(song.takes), 'take')} in History.")}
