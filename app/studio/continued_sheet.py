"""The sheet of a continued song: what `Studio.continue_song` refuses about the length and the new lyrics asked
for, and the title, LLM context and length the new song is made with."""

from __future__ import annotations

from .continuing import Continuation, clock
from .errors import InvalidInput
from .jobs import Sheet
from .records import Song


def continued_sheet(parent: Song, plan: Continuation, seconds: float, new_lyrics: str, fill: frozenset[str]) -> Sheet:
    """The sheet for continuing `parent` as `plan` says (extend or redo, `continuing.plan`).

    Args:
        seconds: an extension's added length; a redo's length in all (longer than the part it keeps).
        new_lyrics: an extension's lyrics after the parent's (a redo keeps the parent's).
        fill: {"lyrics"} when the LLM writes the new lyrics, else empty.
    Returns the sheet whose description, when the LLM writes, ends with the parent's lyrics, so it writes only
    what comes next; the kept song's description stays the parent's (`Studio.continue_song`).
    """
    kind = plan.parent.kind
    if fill - {"lyrics"}:
        raise InvalidInput("Only the new lyrics can be written by the LLM when continuing a song.")
    if fill and kind != "extend":
        raise InvalidInput("A redo keeps the song's lyrics; new lyrics are for an extension.")
    total = plan.kept_seconds + seconds if kind == "extend" else seconds
    if kind == "extend" and not seconds > 0:
        raise InvalidInput("Say how many seconds to add (more than 0).")
    if kind == "redo" and not total > plan.kept_seconds:
        raise InvalidInput(f"The redone song must be longer than the part it keeps ({clock(plan.kept_seconds)}).")
    description = parent.description
    if fill:  # the LLM writes only what comes next: tell it what came before
        description = f"{parent.description}\n\nNew lyrics that carry on after these:\n{parent.lyrics}".strip()
    what = "extended" if kind == "extend" else f"redone from {clock(plan.kept_seconds)}"
    return Sheet(description, f"{parent.title or 'Untitled'} ({what})", new_lyrics, parent.tags, total)
