"""A new song from a sheet, headless: what `python -m app song` and `batch` share, written and made through the Studio.

A headless song has no "generate" ticks: the LLM writes exactly the fields left empty (title, lyrics, tags), from
the description and whatever else was given, as `python -m app song` has always done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .engines import LlmChoice
from .history import Song
from .jobs import Event, Finished, MusicSettings, Sheet
from .service import Studio

DEFAULT_SECONDS = 30.0  # a headless song's length when none is given
OPEN_FIELDS = ("title", "lyrics", "tags")  # what the LLM writes when left empty


def open_fields(sheet: Sheet) -> frozenset[str]:
    """The fields of `sheet` the LLM writes: those of title, lyrics and tags that are empty."""
    return frozenset(f for f in OPEN_FIELDS if not getattr(sheet, f).strip())


def compose_new(
    studio: Studio, sheet: Sheet, music: MusicSettings, choice: LlmChoice, session: str = ""
) -> Iterator[Event]:
    """`studio.compose` for a headless song: the LLM (`choice`) fills the open fields, if any, then the music is
    made and the song kept. Checked at once (InvalidInput before any event), like `Studio.compose`."""
    fill = open_fields(sheet)
    return studio.compose(sheet, fill, music, choice if fill else None, session=session)


def kept_song(events: Iterator[Event], on_event: Callable[[Event], None]) -> Song:
    """Run a compose's `events` to their end, handing each to `on_event`; returns the kept song (the Finished
    event's). Whatever the job raised (JobCancelled after a Stop, the LLM's or engine's errors) is raised here."""
    song = None
    for event in events:
        on_event(event)
        if isinstance(event, Finished):
            song = event.song
    if song is None:  # compose ends with Finished or raises: anything else is a bug in the job
        raise RuntimeError("the song's job ended without keeping a song")
    return song
