"""Loading a kept song into Create must not lose what the musician was writing there: which drafts to put aside
(so "Undo load" can bring them back) and which are nothing to lose."""

from __future__ import annotations

from dataclasses import dataclass

from .jobs import FIELDS, Sheet


@dataclass(frozen=True)
class DraftText:
    """What of Create counts as the musician's work: the four text fields and the style (a description or the
    path of a reference recording, "" when none)."""

    sheet: Sheet
    style_text: str = ""
    style_audio: str = ""

    def words(self) -> tuple[str, ...]:
        """The text, stripped: two drafts with the same words are the same work."""
        return (*(getattr(self.sheet, f).strip() for f in FIELDS), self.style_text.strip(), self.style_audio)

    @property
    def empty(self) -> bool:
        return not any(self.words())


def worth_keeping(current: DraftText, last_loaded: DraftText | None) -> bool:
    """Whether loading a song over `current` would lose work: it holds some text or a style, and it is not just
    what the last load put there, unchanged (then the draft from before that load is still the one to keep)."""
    if current.empty:
        return False
    return last_loaded is None or current.words() != last_loaded.words()
