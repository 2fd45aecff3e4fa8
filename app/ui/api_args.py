"""The named API's arguments, checked at the boundary before any work: type and range, the argument named.

A script can send anything JSON holds (null, a list, 1e308, 1.5 for a count), and gradio passes it on as it
came. Each endpoint turns its arguments into the studio's values here first, so a bad one is one line naming it
("variants must be a whole number from 1 to 8, not 1.5") and no LLM or music time is spent. Text fields are
cleaned and capped by the studio itself (app/studio/inputs.py), for the page and the CLI too.
"""

from __future__ import annotations

import math
from typing import Any

from heartmula_core.request import MAX_SEED, MAX_VARIANTS

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


def search(query: Any, sort: Any) -> tuple[str, str]:
    """(query, sort) for `studio.search`."""
    return text(query, "query", max_chars=QUERY_CHARS), choice(sort, "sort", SORTS)
