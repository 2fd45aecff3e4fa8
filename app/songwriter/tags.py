"""HeartMuLa tags: the vocabulary per category and the normalisation the app applies before the engine.

HeartMuLa was trained on comma-separated tags with no space after the commas (`pop,piano,happy,wedding`), drawn
from eight categories with these training frequencies (HeartMuLa paper, section 3.2): genre 95 %, timbre 50 %,
gender 37 %, mood 32 %, instrument 25 %, scene 20 %, region 12 %, topic 10 %. The vocabulary lives in
`prompts/tags/<category>.txt`, one tag per line (`#` starts a comment), so a musician can extend it.

`normalize_tags` lowercases and trims each tag, drops empty ones and duplicates, maps near spellings onto the
vocabulary (`Male Vocals` -> `male vocal`), keeps a single genre first (several genres muddy the result), orders
the rest by category, keeps unknown tags at the end but flags them, and joins with bare commas. The engine takes
tags exactly as given; this is the app's job.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

CATEGORIES: tuple[str, ...] = ("genre", "timbre", "gender", "mood", "instrument", "scene", "region", "topic")
# How close a tag must be to a vocabulary entry to be taken for it (difflib ratio): `hip hop` ~ `hip-hop` (0.86),
# `male vocals` ~ `male vocal` (0.95), while `rock` and `folk` stay apart (0.5).
NEAR_MATCH_CUTOFF = 0.85
SEPARATORS = re.compile(r"[,;\n]")


@dataclass(frozen=True)
class TagResult:
    """Normalised tags and what normalisation did.

    Attributes:
        tags: the tags joined with bare commas, genre first.
        notes: changes worth telling the musician (near spellings mapped, extra genres dropped).
        unknown: tags kept although the vocabulary does not know them.
    """

    tags: str
    notes: tuple[str, ...]
    unknown: tuple[str, ...]


class TagVocabulary:
    """The known tags per category, in CATEGORIES order."""

    def __init__(self, categories: dict[str, list[str]]) -> None:
        self.categories = {name: list(dict.fromkeys(categories.get(name, []))) for name in CATEGORIES}
        # A tag listed in two categories belongs to the first (more frequent) one.
        self._category_of: dict[str, str] = {}
        for name in reversed(CATEGORIES):
            for tag in self.categories[name]:
                self._category_of[tag] = name
        self._all = list(self._category_of)

    @classmethod
    def load(cls, folder: Path) -> TagVocabulary:
        """Read `folder/<category>.txt` for each category (a missing file is an empty category)."""
        categories: dict[str, list[str]] = {}
        for name in CATEGORIES:
            path = folder / f"{name}.txt"
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            lines = (line.split("#", 1)[0] for line in text.splitlines())
            categories[name] = [t for t in (_clean(line) for line in lines) if t]
        return cls(categories)

    def category(self, tag: str) -> str | None:
        return self._category_of.get(tag)

    def closest(self, tag: str) -> str | None:
        """`tag` itself if known, else the nearest vocabulary entry above NEAR_MATCH_CUTOFF, else None."""
        if tag in self._category_of:
            return tag
        near = difflib.get_close_matches(tag, self._all, n=1, cutoff=NEAR_MATCH_CUTOFF)
        return near[0] if near else None

    def prompt_listing(self) -> str:
        """The vocabulary for the LLM prompt: one line per category, most important first."""
        return "\n".join(f"{name}: {', '.join(self.categories[name])}" for name in CATEGORIES if self.categories[name])


def _clean(tag: str) -> str:
    # Lowercase, single spaces, no wrapping quotes or markup a model may add (`"pop"`, `<tag>pop</tag>`, `#pop`).
    tag = re.sub(r"</?tag>", "", tag.lower())
    return " ".join(tag.strip(" \t\"'`#*.").split())


def split_tags(text: str) -> list[str]:
    """The non-empty cleaned tags of a comma-separated string (newlines and semicolons also separate)."""
    return [t for t in (_clean(part) for part in SEPARATORS.split(text)) if t]


def normalize_tags(text: str, vocabulary: TagVocabulary) -> TagResult:
    """Normalise a tag string for HeartMuLa (see the module docstring)."""
    notes: list[str] = []
    by_category: dict[str, list[str]] = {name: [] for name in CATEGORIES}
    unknown: list[str] = []
    seen: set[str] = set()
    for tag in split_tags(text):
        known = vocabulary.closest(tag)
        if known is not None and known != tag:
            notes.append(f"tag '{tag}' read as '{known}'")
        final = known or tag
        if final in seen:
            continue
        seen.add(final)
        category = vocabulary.category(final) if known else None
        (by_category[category] if category else unknown).append(final)
    genres = by_category["genre"]
    for extra in genres[1:]:
        notes.append(f"dropped extra genre '{extra}': one genre ('{genres[0]}') gives a clearer song")
    by_category["genre"] = genres[:1]
    for tag in unknown:
        notes.append(f"tag '{tag}' is not in the vocabulary: kept, but HeartMuLa may not know it")
    ordered = [tag for name in CATEGORIES for tag in by_category[name]] + unknown
    return TagResult(",".join(ordered), tuple(notes), tuple(unknown))
