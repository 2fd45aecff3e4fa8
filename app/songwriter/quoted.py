"""Protected lines: the lines a musician writes wholly in "double quotes" come back from the LLM verbatim, in
order, in their section, and still in their quotes; the quotes are stripped only on the way to the music engine.

`protected_lines` finds them; `restore_protected` makes sure each comes back, restoring any the LLM changed,
dropped or moved, and says what it repaired; `strip_line_quotes` is what the music engine is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from .lyrics import is_section_line

QUOTES = ('"', "\u201c", "\u201d", "\u201e")  # straight, curly open/close, low-9: phones type curly ones
# A line this similar to a protected one is taken as the LLM's edit of it (and put back), not a new line.
EDITED_LINE_SIMILARITY = 0.6



def _unquoted(line: str) -> str | None:
    """The text inside a line wholly in double quotes, else None."""
    s = line.strip()
    if len(s) > 2 and s[0] in QUOTES and s[-1] in QUOTES:
        inner = s[1:-1].strip()
        return inner or None
    return None


def protected_lines(*texts: str) -> list[str]:
    """Every line of `texts` written wholly in double quotes, without the quotes, in order."""
    found: list[str] = []
    for text in texts:
        found.extend(inner for line in text.splitlines() if (inner := _unquoted(line)) is not None)
    return found


def song_protected(description: str, lyrics: str) -> list[str]:
    """The protected lines of a sheet: the description's quoted lines not already quoted in the lyrics (a line
    restored into the lyrics keeps its quotes there, so it must not count twice), then the lyrics' own."""
    in_lyrics = protected_lines(lyrics)
    return [line for line in protected_lines(description) if line not in in_lyrics] + in_lyrics


def strip_line_quotes(text: str) -> str:
    """The lyrics with the protecting quotes removed (the quotes mark a line for the LLM; they are not sung)."""
    return "\n".join(inner if (inner := _unquoted(line)) is not None else line for line in text.split("\n"))


def quoted(line: str) -> str:
    """`line` marked as protected, the way the musician writes it."""
    return f'"{line}"'


@dataclass(frozen=True)
class Place:
    """Where a line sits in lyrics: its section tag, which occurrence of that tag (0 = the first [verse]), and
    how many lyric lines of the section come before it."""

    section: str
    nth: int
    offset: int


@dataclass(frozen=True)
class _Block:
    """One section of lyrics: its place (section, nth), the index of its tag line, and the index after its last
    non-blank line."""

    section: str
    nth: int
    tag: int
    end: int


def _blocks(lines: Sequence[str]) -> list[_Block]:
    blocks: list[_Block] = []
    seen: dict[str, int] = {}
    starts = [j for j, line in enumerate(lines) if is_section_line(line)]
    for k, tag in enumerate(starts):
        name = lines[tag].strip()[1:-1]
        stop = starts[k + 1] if k + 1 < len(starts) else len(lines)
        end = tag + 1
        for j in range(tag + 1, stop):
            if lines[j].strip():
                end = j + 1
        blocks.append(_Block(name, seen.get(name, 0), tag, end))
        seen[name] = seen.get(name, 0) + 1
    return blocks


def _block_at(blocks: Sequence[_Block], j: int) -> _Block | None:
    return next((b for b in reversed(blocks) if b.tag < j), None)


def quoted_places(draft: str) -> list[tuple[str, Place]]:
    """(text, place) of every quoted line of `draft` under a section tag, in order."""
    lines = draft.split("\n")
    found: list[tuple[str, Place]] = []
    blocks = _blocks(lines)
    for j, line in enumerate(lines):
        inner = _unquoted(line)
        block = _block_at(blocks, j)
        if inner is None or block is None:
            continue
        offset = sum(1 for k in range(block.tag + 1, j) if lines[k].strip())
        found.append((inner, Place(block.section, block.nth, offset)))
    return found


def _in_order_matches(protected: Sequence[str], lines: Sequence[str]) -> dict[int, int]:
    """protected index -> line index for the longest in-order set of exact matches (an LCS over lines)."""
    n, m = len(protected), len(lines)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if protected[i] == lines[j] else max(best[i + 1][j], best[i][j + 1])
    matches: dict[int, int] = {}
    i = j = 0
    while i < n and j < m:
        if protected[i] == lines[j]:
            matches[i] = j
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return matches


def _first_chorus_line(lines: Sequence[str]) -> int:
    """Where a protected line with no neighbour to follow goes: the top of the first chorus (quoted lines are
    usually the hook), else just under the first section tag, else the top."""
    for j, line in enumerate(lines):
        if line.strip() == "[chorus]":
            return j + 1
    for j, line in enumerate(lines):
        if is_section_line(line):
            return j + 1
    return 0


def restore_protected(lyrics: str, protected: Sequence[str], draft: str = "") -> tuple[str, list[str]]:
    """Make every protected line appear verbatim, in order, in `lyrics`; return the lyrics and what was repaired.

    A line the LLM edited (a line at least EDITED_LINE_SIMILARITY alike, between the neighbouring protected lines)
    is put back in place; a line the LLM moved out of order (found once elsewhere) is moved back; a dropped line is
    inserted after the protected line before it. A line quoted under a section tag of `draft` (the musician's
    lyrics) returns to that section (the same occurrence of it) at its place there, when the LLM put it in
    another. The protected lines come back in their quotes, so the sheet still shows what is protected (the
    quotes are stripped only on the way to the music engine: `strip_line_quotes`).
    """
    # The LLM may keep the quotes around a protected line: that is the same line.
    lines = [inner if (inner := _unquoted(line)) is not None else line for line in lyrics.split("\n")]
    matches = _in_order_matches(protected, lines)
    repairs: list[str] = []

    def shift(start: int, by: int) -> None:
        for k, j in matches.items():
            if j >= start:
                matches[k] = j + by

    for i, want in enumerate(protected):
        if i in matches:
            continue
        before = [matches[k] for k in matches if k < i]
        after = [matches[k] for k in matches if k > i]
        lo = max(before) + 1 if before else 0
        hi = min(after) if after else len(lines)
        used = set(matches.values())
        window = [j for j in range(lo, hi) if j not in used and lines[j] and not is_section_line(lines[j])]
        scores = {j: difflib.SequenceMatcher(None, lines[j].lower(), want.lower()).ratio() for j in window}
        edited = max(scores, key=scores.__getitem__, default=None)
        if edited is not None and scores[edited] >= EDITED_LINE_SIMILARITY:
            repairs.append(f'restored quoted line "{want}" (the LLM had changed it to "{lines[edited]}")')
            lines[edited] = want
            matches[i] = edited
            continue
        elsewhere = [j for j, line in enumerate(lines) if line == want and j not in used]
        if len(elsewhere) == 1:  # a single copy out of order was moved; several copies are a repeated chorus
            del lines[elsewhere[0]]
            shift(elsewhere[0], -1)
            if elsewhere[0] < lo:
                lo -= 1
            what = "moved it"
        elif elsewhere:
            what = "sung it only out of order"
        else:
            what = "dropped it"
        if before:
            at = lo
        elif after:
            at = min(matches[k] for k in matches if k > i)  # re-read: a move above may have shifted it
        else:
            at = _first_chorus_line(lines)
        lines.insert(at, want)
        shift(at, 1)
        matches[i] = at
        repairs.append(f'restored quoted line "{want}" (the LLM had {what})')
    repairs += _return_to_sections(lines, protected, matches, draft)
    for j in matches.values():
        lines[j] = quoted(lines[j])
    return "\n".join(lines), repairs


def _return_to_sections(lines: list[str], protected: Sequence[str], matches: dict[int, int], draft: str) -> list[str]:
    """Move each protected line that `draft` has under a section tag back into that section of `lines` (which
    `matches`, protected index -> line index, follows); returns what was moved. A section the LLM left out is not
    made up: the line stays where it is."""
    places: dict[int, Place] = {}
    pending = quoted_places(draft)
    for i, want in enumerate(protected):
        k = next((k for k, (text, _) in enumerate(pending) if text == want), None)
        if k is not None:
            places[i] = pending.pop(k)[1]
    repairs: list[str] = []
    for i, place in places.items():
        blocks = _blocks(lines)
        named = [b for b in blocks if b.section == place.section]
        if not named:
            continue
        target = next((b for b in named if b.nth == place.nth), named[-1])
        now = _block_at(blocks, matches[i])
        if now is not None and (now.section, now.nth) == (target.section, target.nth):
            continue
        used = set(matches.values())
        copy = next((j for j in range(target.tag + 1, target.end) if lines[j] == protected[i] and j not in used), None)
        if copy is not None:  # the LLM sang it there too: that copy is the protected one
            matches[i] = copy
            continue
        was = f"[{now.section}]" if now is not None else "the top"
        old = matches[i]
        del lines[old]
        for k, j in matches.items():
            if j > old:
                matches[k] = j - 1
        target = next(b for b in _blocks(lines) if (b.section, b.nth) == (target.section, target.nth))
        inside = {k: j for k, j in matches.items() if k != i and target.tag < j < target.end}
        lo = max((j + 1 for k, j in inside.items() if k < i), default=target.tag + 1)
        hi = min((j for k, j in inside.items() if k > i), default=target.end)
        at = min(max(target.tag + 1 + place.offset, lo), max(lo, hi))
        lines.insert(at, protected[i])
        for k, j in matches.items():
            if j >= at:
                matches[k] = j + 1
        matches[i] = at
        repairs.append(f'put quoted line "{protected[i]}" back under [{place.section}] (the LLM had moved it to {was})')
    return repairs
