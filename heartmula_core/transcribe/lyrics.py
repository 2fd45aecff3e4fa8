"""Lyrics as text: the normalisation used to compare lyrics, `lyrics_match` (how much of the lyrics asked
for was sung), and the `[verse]`/`[chorus]` guess for transcribed lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidRequest
from .chunks import LyricLine

_SECTION_TAG = re.compile(r"\[[^\]]*\]")  # [verse], [chorus], [Bridge 2]... in the lyrics asked for
_NOT_WORD = re.compile(r"[^\w\s]")
MIN_CHORUS_LINES = 2
"""A chorus is a run of at least this many lines sung again later; one repeated line proves nothing."""


def normalize_lyrics(text: str) -> str:
    """The form both sides of a comparison take: no section tags, no punctuation, no case, single spaces.

    Apostrophes are dropped, not spaced ("don't" → "dont"), so contractions compare as one word.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SECTION_TAG.sub(" ", text)
    text = text.replace("'", "").replace("\u2019", "")
    text = _NOT_WORD.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class LyricsMatch:
    """How the lyrics heard compare with the lyrics asked for (after `normalize_lyrics` on both)."""

    wer: float
    """Word error rate of `heard` against `asked` (substitutions + deletions + insertions) / words asked."""
    sung: float
    """Fraction of the words asked for that were heard in place (jiwer's hits / words asked)."""
    words_asked: int
    words_heard: int

    @property
    def summary(self) -> str:
        return f"{round(100 * self.sung)}% of your lyrics were sung"


def lyrics_match(asked: str, heard: str) -> LyricsMatch:
    """Compare the lyrics a song was asked to sing with what a transcription heard.

    Raises:
        InvalidRequest: `asked` has no words once section tags and punctuation are removed.
    """
    import jiwer  # only this function needs it

    reference, hypothesis = normalize_lyrics(asked), normalize_lyrics(heard)
    if not reference:
        raise InvalidRequest("the lyrics to compare with have no words")
    words_asked = len(reference.split())
    if not hypothesis:
        return LyricsMatch(wer=1.0, sung=0.0, words_asked=words_asked, words_heard=0)
    out = jiwer.process_words(reference, hypothesis)
    return LyricsMatch(
        wer=float(out.wer), sung=out.hits / words_asked, words_asked=words_asked, words_heard=len(hypothesis.split())
    )


@dataclass(frozen=True)
class Section:
    """A block of consecutive lines; `label` is "verse", "chorus", or None when nothing makes it clear."""

    label: str | None
    lines: tuple[LyricLine, ...]


def _repeated_lines(keys: Sequence[str]) -> set[int]:
    """Indices of lines inside a run of `MIN_CHORUS_LINES`+ lines that occurs again elsewhere, without overlap."""
    n = len(keys)
    repeated: set[int] = set()
    for i in range(n):
        for j in range(i + 1, n):
            k = 0
            while j + k < n and i + k < j and keys[i + k] and keys[i + k] == keys[j + k]:
                k += 1
            if k >= MIN_CHORUS_LINES:
                repeated.update(range(i, i + k))
                repeated.update(range(j, j + k))
    return repeated


def label_sections(lines: Sequence[LyricLine]) -> list[Section] | None:
    """Guess `[chorus]` (lines sung again as a block) and `[verse]` (the blocks of two or more lines between).

    Returns None when no block of lines repeats: then there is nothing that makes a guess clear. A single
    line between choruses keeps no label.
    """
    keys = [normalize_lyrics(line.text) for line in lines]
    chorus = _repeated_lines(keys)
    if not chorus:
        return None
    sections: list[Section] = []
    block: list[LyricLine] = []
    for i, line in enumerate(lines):
        block.append(line)
        if i + 1 == len(lines) or ((i + 1) in chorus) != (i in chorus):
            label = "chorus" if i in chorus else ("verse" if len(block) >= MIN_CHORUS_LINES else None)
            sections.append(Section(label, tuple(block)))
            block = []
    return sections


def format_sections(sections: Sequence[Section]) -> str:
    """Sections as lyrics text: a `[label]` line before each labelled block, a blank line between blocks."""
    blocks = []
    for section in sections:
        text = "\n".join(line.text for line in section.lines)
        blocks.append(f"[{section.label}]\n{text}" if section.label else text)
    return "\n\n".join(blocks)
