"""Lyrics in the form HeartMuLa follows: section tags and a length that fits the song.

- Section tags are the six the official examples use, lowercase on their own line: `[intro] [verse] [prechorus]
  [chorus] [bridge] [outro]`. Anything else in square brackets would be sung, so `clean_lyrics` maps near
  spellings (`[Verse 2]`, `[Pre-Chorus]`, `Chorus:`) onto them and removes the rest, reporting each change.
- `plan_structure` turns the requested seconds into sections and line counts (read from `prompts/structure.txt`)
  so a 30-second song is not given four verses.

Protected "quoted" lines are `quoted.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SheetError

SECTION_TAGS: tuple[str, ...] = ("intro", "verse", "prechorus", "chorus", "bridge", "outro")
# Other names LLMs and musicians use for the same sections.
SECTION_ALIASES: dict[str, str] = {"hook": "chorus", "refrain": "chorus", "postchorus": "chorus", "prehook": "prechorus",
                                   "buildup": "prechorus", "build": "prechorus", "middleeight": "bridge", "coda": "outro",
                                   "ending": "outro", "opening": "intro"}

_BRACKETED = re.compile(r"\[([^\]\n]*)\]")
# A line that only names a section without brackets: "Chorus:", "(Verse 2)", "**Pre-Chorus**".
_LABEL_LINE = re.compile(r"^\(?([A-Za-z][A-Za-z \-]*?)\s*\d*\s*\)?\s*:?$")
_EMPHASIS = "*_# \t"  # markdown an LLM may wrap a label in
_LABEL_PREFIXES = re.compile(r"^(final|last|repeat|instrumental)")


def section_of(label: str, *, loose: bool = True) -> str | None:
    """The section tag a label names (`"Pre-Chorus 2"` -> `"prechorus"`), or None if it names none.

    `loose` also accepts a section name inside a longer label (`[Final Chorus]`, `[Instrumental Intro]`): right
    for square brackets, which must go anyway, too eager for a lyric line such as "(the chorus of birds)".
    """
    key = re.sub(r"[^a-z]", "", label.lower())
    key = key if loose else _LABEL_PREFIXES.sub("", key)
    if key in SECTION_TAGS:
        return key
    if key in SECTION_ALIASES:
        return SECTION_ALIASES[key]
    if loose:  # the first section named inside (prechorus before chorus)
        for name in ("prechorus", *SECTION_TAGS):
            if name in key:
                return name
    return None


def _section_line(line: str) -> tuple[str | None, bool]:
    """(section, is_label) for a line: a bracketed or bare section label, else (None, False).
    An unknown label in brackets gives (None, True): it must go; an unknown bare one is a lyric."""
    core = line.strip(_EMPHASIS)
    bracketed = _BRACKETED.fullmatch(core)
    if bracketed:
        return section_of(bracketed.group(1)), True
    bare = _LABEL_LINE.fullmatch(core)
    if bare and (section := section_of(bare.group(1), loose=False)):
        # A plain word on its own ("hook", "ending") may be a sung line; marked up ("Hook:") it is a label.
        marked = core != line.strip() or core.endswith(":") or core.startswith("(")
        if marked or section == re.sub(r"[^a-z]", "", bare.group(1).lower()):
            return section, True
    return None, False


def is_section_line(line: str) -> bool:
    s = line.strip()
    return s.startswith("[") and s.endswith("]") and s[1:-1] in SECTION_TAGS


def clean_lyrics(text: str) -> tuple[str, list[str]]:
    """Normalise section tags and remove other bracketed words.

    Returns the cleaned lyrics (one `[section]` per line, a blank line between sections, no trailing spaces)
    and one note per change a musician would want to know about.
    """
    out: list[str] = []
    notes: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        section, is_label = _section_line(line)
        if is_label:
            if section is None:
                notes.append(f"removed {line}: only {_tag_list()} are section tags")
                continue
            if line != f"[{section}]":
                notes.append(f"section {line} written as [{section}]")
            if out and out[-1] != "":
                out.append("")
            out.append(f"[{section}]")
            continue
        inline = _BRACKETED.findall(line)
        if inline:
            line = " ".join(_BRACKETED.sub(" ", line).split())
            notes.append(f"removed {', '.join(f'[{w}]' for w in inline)} from a lyric line (it would be sung)")
        if line or (out and out[-1] != ""):
            out.append(line)
    while out and out[-1] == "":
        out.pop()
    if out and not any(is_section_line(line) for line in out):
        out.insert(0, "[verse]")
        notes.append("added [verse] at the top: the lyrics had no section tags")
    return "\n".join(out), notes


def _tag_list() -> str:
    return " ".join(f"[{s}]" for s in SECTION_TAGS)


# --- length ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str
    lines: int  # sung lines; 0 for an instrumental section (tag only)


@dataclass(frozen=True)
class StructurePlan:
    """The sections a song of `seconds` should have."""

    seconds: float
    sections: tuple[Section, ...]

    @property
    def sung_lines(self) -> int:
        return sum(s.lines for s in self.sections)

    def describe(self) -> str:
        """One section per line: `[verse] 4 lines`, `[intro] instrumental, tag only`."""
        return "\n".join(
            f"[{s.name}] {s.lines} lines" if s.lines else f"[{s.name}] instrumental: the tag alone, no lines"
            for s in self.sections
        )


def parse_structure_table(text: str) -> list[tuple[float, tuple[Section, ...]]]:
    """Parse `prompts/structure.txt`: lines `<up to seconds> = <section>[:<lines>] ...`, `#` comments."""
    rows: list[tuple[float, tuple[Section, ...]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            limit, spec = line.split("=", 1)
            sections = []
            for item in spec.split():
                name, _, count = item.partition(":")
                if name not in SECTION_TAGS:
                    raise ValueError(f"unknown section {name!r}")
                sections.append(Section(name, int(count or 0)))
            rows.append((float(limit), tuple(sections)))
        except ValueError as exc:
            raise ValueError(f"structure table line {number} ({raw.strip()!r}): {exc}") from None
    if not rows:
        raise ValueError("the structure table is empty")
    return sorted(rows, key=lambda row: row[0])


def plan_structure(seconds: float, table: Sequence[tuple[float, tuple[Section, ...]]]) -> StructurePlan:
    """The first row of `table` whose limit is at least `seconds` (the longest row beyond the last limit)."""
    for limit, sections in table:
        if seconds <= limit:
            return StructurePlan(seconds, sections)
    return StructurePlan(seconds, table[-1][1])


def check_size(text: str, *, max_lines: int, max_chars: int, what: str = "the lyrics") -> None:
    """Refuse text far beyond any song before it reaches the LLM (SheetError names the limit)."""
    lines = text.count("\n") + 1 if text else 0
    if lines > max_lines:
        raise SheetError(f"{what} have {lines:,} lines; a song takes at most {max_lines:,}")
    if len(text) > max_chars:
        raise SheetError(f"{what} have {len(text):,} characters; a song takes at most {max_chars:,}")


def sung_lines(lyrics: str) -> int:
    """How many lines of `lyrics` are sung (not blank, not a section tag)."""
    return sum(1 for line in lyrics.splitlines() if line.strip() and not is_section_line(line))


def length_warning(lyrics: str, seconds: float, table: Sequence[tuple[float, tuple[Section, ...]]]) -> str | None:
    """A line for the musician when `lyrics` hold far more sung lines than a song of `seconds` fits (more than half
    again the plan's), else None: HeartMuLa sings what fits and the rest is lost."""
    have, fits = sung_lines(lyrics), plan_structure(seconds, table).sung_lines
    if have <= 1.5 * fits:
        return None
    return (f"These lyrics have {have} sung lines; a {seconds:g}-second song fits about {fits}: shorten them, "
            "make the song longer, or tick Lyrics and Write again.")
