"""The prompt templates in `prompts/`, read fresh on every use so an edited file takes effect at once.

Templates use `$name` placeholders (Python's `string.Template`), so JSON braces in a prompt need no escaping.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from .lyrics import Section, parse_structure_table
from .tags import TagVocabulary

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class PromptLibrary:
    """The files of one prompts folder (default: the repository's `prompts/`)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else DEFAULT_PROMPTS_DIR
        if not self.folder.is_dir():
            raise FileNotFoundError(f"prompts folder not found: {self.folder}")

    def text(self, name: str) -> str:
        """The file `name` (e.g. `system.txt`, `fields/lyrics.txt`), trailing whitespace trimmed."""
        path = self.folder / name
        try:
            return path.read_text(encoding="utf-8").rstrip()
        except FileNotFoundError:
            raise FileNotFoundError(f"prompt file missing: {path}") from None

    def render(self, name: str, **values: object) -> str:
        """The file `name` with `$placeholders` filled; unknown placeholders are left as written."""
        return Template(self.text(name)).safe_substitute({k: str(v) for k, v in values.items()})

    def structure_table(self) -> list[tuple[float, tuple[Section, ...]]]:
        return parse_structure_table(self.text("structure.txt"))

    def vocabulary(self) -> TagVocabulary:
        return TagVocabulary.load(self.folder / "tags")
