"""What a musician (or a script) types, made safe to keep: control characters out, each field within its cap.

Every text that reaches the studio from the page, the named API or the CLI goes through here before any work:
NUL and other control characters are dropped (a NUL cuts a title short in exported tags, and a lone surrogate
cannot be written as UTF-8 at all); multi-line fields keep their line breaks and tabs, one-line fields turn them
into spaces. A field past its cap is refused with a message naming it, so 100,000 characters of tags are
blamed on the tags.

    sheet = clean_sheet(sheet, max_lyrics_chars=12_000)   # ValueError naming the field that is too long
    text = clean_text(value, "the style description", max_chars=STYLE_TEXT_CHARS)
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from .errors import InvalidInput
from .jobs import Sheet

# Caps on what is typed (the lyrics' cap is a setting). Generous for a song, far below what hurts the machine.
FIELD_CHARS = {"description": 2_000, "title": 200, "tags": 1_000}
STYLE_TEXT_CHARS = 1_000
QUERY_CHARS = 500
NAME_CHARS = 200  # an LLM model name
MULTILINE = frozenset({"description", "lyrics"})

_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")  # Windows and old Mac line ends, Unicode separators


def _allowed(char: str, keep: str) -> bool:
    return char in keep or unicodedata.category(char) not in ("Cc", "Cs")


def strip_controls(text: str, *, multiline: bool) -> str:
    """`text` without control characters (C0, DEL, C1) and lone surrogates. Multi-line text keeps "\\n" and
    "\\t" (every line ending becomes "\\n"); one-line text gets a space for each line break or tab."""
    text = _LINE_BREAKS.sub("\n", text)
    if not multiline:
        text = text.replace("\n", " ").replace("\t", " ")
    keep = "\n\t" if multiline else ""
    return "".join(c for c in text if _allowed(c, keep))


def clean_text(value: object, what: str, *, max_chars: int, multiline: bool = False) -> str:
    """`value` as safe text (see `strip_controls`), or a ValueError naming `what` ("the title") when it is not
    text or is longer than `max_chars` characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{_capital(what)} must be text, not {_kind(value)}.")
    text = strip_controls(value, multiline=multiline)
    if len(text) > max_chars:
        raise InvalidInput(f"{_capital(what)}: {len(text):,} characters is too long (at most {max_chars:,}).")
    return text


def clean_sheet(sheet: Sheet, *, max_lyrics_chars: int) -> Sheet:
    """`sheet` with every text field cleaned and checked against its cap (ValueError naming the field)."""
    limits = {**FIELD_CHARS, "lyrics": max_lyrics_chars}
    cleaned = {
        name: clean_text(getattr(sheet, name), f"the {name}", max_chars=limits[name], multiline=name in MULTILINE)
        for name in ("description", "title", "lyrics", "tags")
    }
    # A tag picked from the page's suggestions leaves a comma for the next one: none is kept after the last tag.
    cleaned["tags"] = cleaned["tags"].strip().rstrip(",; ").strip()
    return dataclasses.replace(sheet, **cleaned)


def check_sheet(sheet: Sheet, fill: frozenset[str], *, need_music: bool, max_lyrics_chars: int,
                max_lyrics_lines: int) -> Sheet:
    """Refuse what cannot work, before any LLM or model time is spent; returns the sheet with its text cleaned
    (`clean_sheet`). `need_music`: the sheet is to be sung (Compose), not only written (Write)."""
    sheet = clean_sheet(sheet, max_lyrics_chars=max_lyrics_chars)
    lines = sheet.lyrics.count("\n") + 1
    if len(sheet.lyrics) > max_lyrics_chars or lines > max_lyrics_lines:
        raise InvalidInput(
            f"The lyrics are too long ({lines} lines, {len(sheet.lyrics)} characters): keep them under "
            f"{max_lyrics_lines} lines and {max_lyrics_chars} characters."
        )
    if not fill and not need_music:
        raise InvalidInput('Tick "generate" next to the fields the LLM should write.')
    if not fill and not (sheet.lyrics.strip() or sheet.tags.strip()):
        raise InvalidInput("Give the song some lyrics or tags, or tick them for the LLM to write.")
    if fill and not (sheet.description.strip() or any(getattr(sheet, f).strip() for f in ("title", "lyrics", "tags"))):
        raise InvalidInput("Describe the song first (a few words are enough), so the LLM knows what to write.")
    if sheet.seconds <= 0:
        raise InvalidInput("The length must be more than 0 seconds.")
    return sheet


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _kind(value: object) -> str:
    return "null" if value is None else f"a {type(value).__name__}"
