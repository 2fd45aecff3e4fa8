"""The named API's arguments, checked at the boundary before any work: type and range, the argument named.

A script can send anything JSON holds (null, a list, 1e308, 1.5 for a count), and gradio passes it on as it
came. Each endpoint turns its arguments into the studio's values here first, so a bad one is one line naming it
("variants must be a whole number from 1 to 8, not 1.5") and no LLM or music time is spent. Text fields are
cleaned and capped by the studio itself (app/studio/inputs.py), for the page and the CLI too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from heartmula_core.request import MAX_SEED, MAX_VARIANTS, parse_time

from app.studio.continuing import Kind
from app.studio.errors import InvalidInput
from app.studio.inputs import NAME_CHARS, QUERY_CHARS
from app.studio.jobs import FIELDS, MusicSettings, Sheet

MIN_SECONDS, MAX_SECONDS = 1.0, 600.0  # the page's length slider
BACKENDS = ("ollama", "openai")
SORTS = ("newest", "oldest", "title")


def _shown(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def text(value: Any, name: str, *, max_chars: int | None = None) -> str:
    """`value` if it is a string (at most `max_chars` characters); otherwise a ValueError naming `name`."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {_shown(value)}")
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInput(f"{name} is too long ({len(value):,} characters, at most {max_chars:,})")
    return value


def number(value: Any, name: str, low: float, high: float) -> float:
    """`value` if it is a finite number from `low` to `high` (not a bool, not a numeric string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidInput(f"{name} must be a number from {low:g} to {high:g}, not {_shown(value)}")
    return float(value)


def whole(value: Any, name: str, low: int, high: int) -> int:
    """`value` if it is a whole number from `low` to `high`; 2.0 counts as 2, but 1.5 is refused, not rounded."""
    ok = not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    )
    if not ok or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}")
    return int(value)


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    """`value`, lower-cased, if it is one of `options`."""
    if not isinstance(value, str) or value.strip().lower() not in options:
        raise InvalidInput(f"{name} must be one of {', '.join(options)}, not {_shown(value)}")
    return value.strip().lower()


def fill_fields(value: Any) -> frozenset[str]:
    """"title,lyrics,tags" → the fields the LLM fills (empty: none)."""
    names = frozenset(n.strip().lower() for n in text(value, "fill", max_chars=200).split(",") if n.strip())
    unknown = names - set(FIELDS)
    if unknown:
        raise InvalidInput(f"fill names unknown field(s): {', '.join(sorted(unknown))} (choose from {', '.join(FIELDS)})")
    return names


def sheet(description: Any, title: Any, lyrics: Any, tags: Any, seconds: Any) -> Sheet:
    """The song sheet a script sent (text is cleaned and capped later, by the studio)."""
    return Sheet(text(description, "description"), text(title, "title"), text(lyrics, "lyrics"),
                 text(tags, "tags"), number(seconds, "seconds", MIN_SECONDS, MAX_SECONDS))


def llm(backend: Any, model: Any) -> tuple[str, str]:
    """(backend, model) for `studio.llm_choice`."""
    return choice(backend, "backend", BACKENDS), text(model, "model", max_chars=NAME_CHARS)


def music(variants: Any, seed: Any, lm_variant: str) -> MusicSettings:
    """How to make the music: `variants` takes; `seed` -1 or null for a random one."""
    chosen = None if seed is None else whole(seed, "seed", -1, MAX_SEED)
    return MusicSettings(variants=whole(variants, "variants", 1, MAX_VARIANTS),
                         seed=None if chosen is None or chosen < 0 else chosen, lm_variant=lm_variant)


@dataclass(frozen=True)
class ContinueArgs:
    """A continuation's arguments, checked: what `studio.continue_song` / `continue_recording` take."""
    kind: Kind
    seconds: float
    from_seconds: float | None  # None: "redo" from the end of the take / "extend" needs none
    new_lyrics: str
    fill: frozenset[str]
    music: MusicSettings
    backend: str
    model: str
    sheet: Sheet | None  # the recording's own sheet (/continue_recording); None for a kept take


def continuation(mode: Any, seconds: Any, from_time: Any, new_lyrics: Any, fill: Any, variants: Any, seed: Any,
                 backend: Any, model: Any, *, lm_variant: str, new_lyrics_name: str = "lyrics",
                 recording_sheet: tuple[Any, Any, Any, Any] | None = None) -> ContinueArgs:
    """The arguments /continue and /continue_recording share, checked in the order a caller meets the first bad
    one: mode, seconds, from_time, the recording's (description, title, lyrics, tags) when given, the new lyrics
    (named `new_lyrics_name`), fill, variants, seed, backend, model, and last whether from_time reads as a time."""
    if mode not in ("extend", "redo"):
        raise InvalidInput(f"mode must be extend or redo, not {_shown(mode)}")
    length = number(seconds, "seconds", MIN_SECONDS, MAX_SECONDS)
    cut = text(from_time, "from_time", max_chars=20)
    own = None
    if recording_sheet is not None:
        description, title, lyrics, tags = recording_sheet
        own = Sheet(text(description, "description"), text(title, "title"), text(lyrics, "lyrics"),
                    text(tags, "tags"))
    words = text(new_lyrics, new_lyrics_name)
    fields = fill_fields(fill)
    how = music(variants, seed, lm_variant)
    backend, model = llm(backend, model)
    return ContinueArgs(mode, length, parse_time(cut) if cut.strip() else None, words, fields, how, backend, model,
                        own)


def search(query: Any, sort: Any) -> tuple[str, str]:
    """(query, sort) for `studio.search`."""
    return text(query, "query", max_chars=QUERY_CHARS), choice(sort, "sort", SORTS)
