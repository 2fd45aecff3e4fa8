"""`SongSheet`: what the musician wrote, and `Field`: which parts of it the LLM may fill."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field as PydanticField

from .errors import SheetError

DEFAULT_SECONDS = 120.0
MIN_SECONDS = 5.0
MAX_SECONDS = 600.0


class Field(str, Enum):
    """A sheet field the LLM can be asked to fill ("generate" ticked in the page)."""

    DESCRIPTION = "description"
    TITLE = "title"
    LYRICS = "lyrics"
    TAGS = "tags"


# The order fields are asked for and shown in; the LLM writes the description first, so the rest can follow it.
FIELD_ORDER: tuple[Field, ...] = (Field.DESCRIPTION, Field.TITLE, Field.LYRICS, Field.TAGS)


class SongSheet(BaseModel):
    """One song as the musician describes it.

    Attributes:
        description: free text, "energetic summer pop about traveling". Lines wholly in "double quotes" are lyric
            lines the LLM must use verbatim.
        title: the song's title.
        lyrics: section-tagged lyrics (`[verse]`, `[chorus]`...); lines wholly in "double quotes" are kept verbatim.
        tags: HeartMuLa tags, comma-separated without spaces (`pop,female vocal,happy`).
        seconds: the requested length of the song, which sizes the lyrics.
    """

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    description: str = ""
    title: str = ""
    lyrics: str = ""
    tags: str = ""
    seconds: float = PydanticField(DEFAULT_SECONDS, ge=MIN_SECONDS, le=MAX_SECONDS)

    def get(self, field: Field) -> str:
        return str(getattr(self, field.value))

    def with_fields(self, values: dict[Field, str]) -> SongSheet:
        """A copy with `values` replacing those fields (the sheet itself is immutable)."""
        return self.model_copy(update={f.value: v for f, v in values.items()})


def parse_fill(text: str | Iterable[str | Field]) -> frozenset[Field]:
    """`"title,lyrics,tags"` (or an iterable of names/Fields) -> the set of fields to fill. Unknown names: SheetError."""
    names = text.split(",") if isinstance(text, str) else list(text)
    fields: set[Field] = set()
    for name in names:
        key = name.value if isinstance(name, Field) else name.strip().lower()
        if not key:
            continue
        try:
            fields.add(Field(key))
        except ValueError:
            known = ", ".join(f.value for f in FIELD_ORDER)
            raise SheetError(f"unknown field to fill {name!r}: choose from {known}") from None
    return frozenset(fields)


def ordered(fields: Iterable[Field]) -> list[Field]:
    """`fields` in FIELD_ORDER."""
    chosen = set(fields)
    return [f for f in FIELD_ORDER if f in chosen]
