"""`SongWriter`: fills the fields of a song sheet the musician left open, with an LLM, and checks the result.

Public API (used by the web app and `python -m app write`):

    writer = SongWriter(make_backend(settings), prompts_dir=None)       # None: the repository's prompts/
    result = writer.write(sheet, {Field.TITLE, Field.LYRICS, Field.TAGS},
                          instruction="",          # non-empty with Field.LYRICS: rewrite the existing lyrics per it
                          on_text=print,           # the LLM's text so far, for a live preview
                          cancel=stop_event)       # threading.Event: raises Cancelled when set
    result.sheet      # a new SongSheet: only the fields in `fill` differ from `sheet`
    result.repairs    # what the code fixed after the LLM: restored quoted lines, tags mapped, sections renamed

How: the prompt is assembled from `prompts/` (system prompt, one guidance file per field, length guidance from
`sheet.seconds`, the protected "quoted" lines, `edit.txt` for an instruction); the backend is asked for JSON
matching a schema of exactly the fields to fill; the answer is validated with pydantic and, if it fails, asked
for once more with the error in the message; then the code repairs what the LLM got wrong (section tags,
quoted lines, tags). Raises `SheetError` for a sheet that cannot be written (nothing to fill, nothing to go on,
lyrics far too long), `LLMError` when the server fails or answers junk twice, `Cancelled` on cancel.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError, create_model

from .backends import CancelEvent, LLMBackend, Message, TextCallback
from .errors import SheetError
from .lyrics import check_size, clean_lyrics, plan_structure
from .quoted import restore_protected, song_protected
from .prompts import PromptLibrary
from .sheet import FIELD_ORDER, Field, SongSheet, ordered
from .tags import normalize_tags

log = logging.getLogger(__name__)

DEFAULT_MAX_LYRICS_LINES = 300
DEFAULT_MAX_LYRICS_CHARS = 12_000
MAX_TITLE_CHARS = 120
MAX_DESCRIPTION_CHARS = 2_000
MAX_TAGS_CHARS = 1_000
# An answer is read up to this many times the longest sensible sheet (room for JSON escapes, whitespace and a
# reasoning model's inline thinking); past it the model is running away and reading stops.
ANSWER_SLACK = 4
# How much of a rejected answer is sent back with the retry (enough to see the mistake, not a whole essay).
RETRY_ECHO_CHARS = 2_000
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)  # reasoning models served as plain chat put it inline


@dataclass(frozen=True)
class WriteResult:
    """A written sheet and the repairs the code made to the LLM's answer (one sentence each)."""

    sheet: SongSheet
    repairs: list[str] = field(default_factory=list)


def _joined(separator: str) -> BeforeValidator:
    # Models sometimes answer a list of lines or tags where a string was asked for: accept it, joined.
    return BeforeValidator(lambda v: separator.join(map(str, v)) if isinstance(v, list) else v)


def _answer_model(fill: Iterable[Field], max_lyrics_chars: int) -> type[BaseModel]:
    """A pydantic model of the LLM's answer: exactly the fields to fill, each a non-empty string."""
    limits = {
        Field.DESCRIPTION: MAX_DESCRIPTION_CHARS,
        Field.TITLE: MAX_TITLE_CHARS,
        Field.LYRICS: max_lyrics_chars,
        Field.TAGS: MAX_TAGS_CHARS,
    }
    separators = {Field.LYRICS: "\n", Field.TAGS: ","}
    fields: dict[str, Any] = {
        f.value: (
            Annotated[
                str,
                StringConstraints(strip_whitespace=True, min_length=1, max_length=limits[f]),
                _joined(separators.get(f, " ")),
            ],
            ...,
        )
        for f in fill
    }
    return create_model("SongAnswer", __config__=ConfigDict(extra="ignore"), **fields)


def answer_schema(fill: Iterable[Field]) -> dict[str, Any]:
    """The JSON schema the backend is asked to follow (strict-mode compatible: all keys required, no others)."""
    names = [f.value for f in ordered(fill)]
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in names},
        "required": names,
        "additionalProperties": False,
    }


def _json_text(text: str) -> str:
    """The JSON object inside an answer, without code fences or chatter around it (plain-JSON servers add them)."""
    text = _FENCE.sub("", _THINKING.sub("", text).strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def _first_error(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "answer"
        return f"{where}: {err['msg']}"
    return " ".join(str(exc).split())


class SongWriter:
    """Fills a `SongSheet`'s open fields with an LLM backend, using the templates in `prompts_dir`."""

    def __init__(
        self,
        backend: LLMBackend,
        prompts_dir: str | Path | None = None,
        *,
        max_lyrics_lines: int = DEFAULT_MAX_LYRICS_LINES,
        max_lyrics_chars: int = DEFAULT_MAX_LYRICS_CHARS,
        unload_after: bool = True,
    ) -> None:
        self.backend = backend
        self.prompts = PromptLibrary(prompts_dir)
        self.max_lyrics_lines = max_lyrics_lines
        self.max_lyrics_chars = max_lyrics_chars
        longest_sheet = MAX_DESCRIPTION_CHARS + MAX_TITLE_CHARS + max_lyrics_chars + MAX_TAGS_CHARS
        self.max_answer_chars = ANSWER_SLACK * longest_sheet
        # Free the LLM's GPU memory once the sheet is written, so the music model gets it.
        self.unload_after = unload_after

    def write(
        self,
        sheet: SongSheet,
        fill: Iterable[Field],
        *,
        instruction: str = "",
        on_text: TextCallback | None = None,
        cancel: CancelEvent | None = None,
    ) -> WriteResult:
        """Fill the fields in `fill`; every other field comes back exactly as given. See the module docstring."""
        fields = ordered(fill)
        self._check(sheet, fields, instruction)
        messages = self._messages(sheet, fields, instruction.strip())
        try:
            values = self._ask(messages, fields, on_text, cancel)
        finally:
            if self.unload_after:
                self.backend.unload()  # a no-op unless the server loaded a model for us
        return self._repair(sheet, values)

    # --- before asking ---
    def _check(self, sheet: SongSheet, fields: list[Field], instruction: str) -> None:
        if not fields:
            raise SheetError("nothing to fill: tick at least one of " + ", ".join(f.value for f in FIELD_ORDER))
        has_anything = any(sheet.get(f) for f in FIELD_ORDER)
        if not has_anything and Field.DESCRIPTION not in fields:
            raise SheetError("the description is empty: describe the song (or let the LLM write the description too)")
        if instruction and not sheet.lyrics:
            raise SheetError("an edit instruction needs lyrics to edit: write or generate lyrics first")
        if instruction and Field.LYRICS not in fields:
            raise SheetError("an edit instruction rewrites the lyrics: tick lyrics to let it change them")
        check_size(sheet.lyrics, max_lines=self.max_lyrics_lines, max_chars=self.max_lyrics_chars)
        check_size(sheet.description, max_lines=self.max_lyrics_lines, max_chars=self.max_lyrics_chars,
                   what="the description")

    def _messages(self, sheet: SongSheet, fields: list[Field], instruction: str) -> list[Message]:
        p = self.prompts
        guidance: list[str] = []
        for f in fields:
            values = {"vocabulary": p.vocabulary().prompt_listing()} if f is Field.TAGS else {}
            guidance.append(p.render(f"fields/{f.value}.txt", **values))
        if Field.LYRICS in fields:
            if instruction:
                guidance.append(p.render("edit.txt", instruction=instruction))
            plan = plan_structure(sheet.seconds, p.structure_table())
            guidance.append(
                p.render("duration.txt", seconds=f"{sheet.seconds:g}", sung_lines=plan.sung_lines,
                         structure=plan.describe())
            )
            quoted = song_protected(sheet.description, sheet.lyrics)
            if quoted:
                guidance.append(p.render("protected.txt", lines="\n".join(f'"{line}"' for line in quoted)))
        request = p.render(
            "request.txt",
            sheet=self._describe_sheet(sheet, fields),
            fields=", ".join(f.value for f in fields),
            guidance="\n\n".join(guidance),
            keys=self._keys(fields),
        )
        return [{"role": "system", "content": p.text("system.txt")}, {"role": "user", "content": request}]

    @staticmethod
    def _describe_sheet(sheet: SongSheet, fields: list[Field]) -> str:
        parts = []
        for f in FIELD_ORDER:
            value = sheet.get(f)
            if f not in fields or (f is Field.LYRICS and value):  # existing lyrics are the draft to build on
                shown = value or "(left empty)"
            elif value:  # ticked but not empty: the musician's idea is a hint, not a constraint
                shown = f"(to be written by you; the musician's first idea: {value})"
            else:
                shown = "(to be written by you)"
            parts.append(f"{f.value}:\n{shown}" if "\n" in shown else f"{f.value}: {shown}")
        parts.append(f"length: {sheet.seconds:g} seconds")
        return "\n".join(parts)

    @staticmethod
    def _keys(fields: list[Field]) -> str:
        return ", ".join(f'"{f.value}"' for f in fields)

    # --- asking ---
    def _ask(
        self, messages: list[Message], fields: list[Field], on_text: TextCallback | None, cancel: CancelEvent | None
    ) -> dict[Field, str]:
        """The validated answer; one retry with the validation error; then LLMError."""
        model = _answer_model(fields, self.max_lyrics_chars)
        schema = answer_schema(fields)
        conversation = list(messages)
        for attempt in (1, 2):
            text = self.backend.chat_json(conversation, schema, on_text=on_text, cancel=cancel,
                                          max_chars=self.max_answer_chars)
            try:
                if not text.strip():
                    raise ValueError("the answer was empty")
                data = json.loads(_json_text(text))
                if not isinstance(data, dict):
                    raise ValueError(f"expected a JSON object, got {type(data).__name__}")
                answer = model.model_validate(data)
                if Field.LYRICS in fields:
                    check_size(answer.lyrics, max_lines=self.max_lyrics_lines, max_chars=self.max_lyrics_chars)
            except (ValidationError, ValueError, SheetError) as exc:
                error = _first_error(exc)
                log.info("answer %d from %s unusable: %s", attempt, self.backend.name, error)
                if attempt == 2:
                    raise self.backend.error(f"answered unusable JSON twice ({error})") from None
                conversation += [
                    {"role": "assistant", "content": text[:RETRY_ECHO_CHARS]},
                    {"role": "user", "content": self.prompts.render("retry.txt", error=error, keys=self._keys(fields))},
                ]
                continue
            return {f: getattr(answer, f.value) for f in fields}
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- after asking ---
    def _repair(self, sheet: SongSheet, values: dict[Field, str]) -> WriteResult:
        repairs: list[str] = []
        if Field.TITLE in values:
            values[Field.TITLE] = " ".join(values[Field.TITLE].split()).strip("\"'\u201c\u201d")
        if Field.LYRICS in values:
            lyrics, notes = clean_lyrics(values[Field.LYRICS])
            protected = song_protected(sheet.description, sheet.lyrics)
            lyrics, restored = restore_protected(lyrics, protected, draft=sheet.lyrics)
            values[Field.LYRICS] = lyrics
            repairs += restored + notes
        if Field.TAGS in values:
            tags = normalize_tags(values[Field.TAGS], self.prompts.vocabulary())
            values[Field.TAGS] = tags.tags
            repairs += list(tags.notes)
        return WriteResult(sheet.with_fields(values), repairs)
