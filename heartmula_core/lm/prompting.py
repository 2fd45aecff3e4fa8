"""The official HeartMuLa prompt layout: tags, a style slot and lyrics as rows of the LM's token grid.

Tags and lyrics are only lowercased (and the tags wrapped in `<tag>...</tag>`): cleaning tags up is the
songwriting layer's job, and any other rewrite would change what the model hears.

Rows (L = len(tag ids) + 1 + len(lyric ids)), 9 columns each: 8 audio codes (all empty in a prompt) and
the text token in the last column, the only column the mask marks as present. Row `muq_idx` (right
after the tags) is the style slot: its embedding is written by the model, not looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidRequest, ModelNotAvailable
from .config import GenConfig

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
TAG_OPEN, TAG_CLOSE = "<tag>", "</tag>"


@dataclass(frozen=True)
class Prompt:
    """A ready prompt: tokens/mask (L, num_codebooks + 1), the style-slot row, and the generation ids."""

    tokens: torch.Tensor
    mask: torch.Tensor
    muq_idx: int
    gen: GenConfig

    @property
    def length(self) -> int:
        return self.tokens.shape[0]


class PromptBuilder:
    """Turns tags and lyrics into a `Prompt` with the tokenizer and ids of a `HeartMuLaGen` folder."""

    def __init__(self, tokenizer: Tokenizer, gen: GenConfig, num_codebooks: int = 8):
        self.tokenizer = tokenizer
        self.gen = gen
        self.num_codebooks = num_codebooks

    @classmethod
    def from_folder(cls, folder: str | Path, num_codebooks: int = 8) -> PromptBuilder:
        """Read `tokenizer.json` and `gen_config.json` from `folder`."""
        from tokenizers import Tokenizer

        folder = Path(folder)
        gen = GenConfig.from_folder(folder)
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise ModelNotAvailable(f"{TOKENIZER_FILE} not found in {folder}")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for a broken file
            raise ModelNotAvailable(f"cannot read {path}: {exc}") from exc
        return cls(tokenizer, gen, num_codebooks)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, starting with bos and ending with eos (each added only if missing)."""
        ids = self.tokenizer.encode(text).ids
        if not ids or ids[0] != self.gen.text_bos_id:
            ids = [self.gen.text_bos_id, *ids]
        if ids[-1] != self.gen.text_eos_id:
            ids = [*ids, self.gen.text_eos_id]
        return ids

    def build(self, tags: str, lyrics: str) -> Prompt:
        """The prompt for `tags` (comma-separated, e.g. "pop,piano,happy") and `lyrics`.

        Raises InvalidRequest when either is empty.
        """
        if not tags.strip():
            raise InvalidRequest("tags are empty: give at least one tag, e.g. 'pop,piano'")
        if not lyrics.strip():
            raise InvalidRequest("lyrics are empty")
        tags = tags.lower()
        if not tags.startswith(TAG_OPEN):
            tags = TAG_OPEN + tags
        if not tags.endswith(TAG_CLOSE):
            tags = tags + TAG_CLOSE
        tag_ids = self.encode(tags)
        lyric_ids = self.encode(lyrics.lower())
        text = torch.tensor([*tag_ids, 0, *lyric_ids], dtype=torch.long)  # 0: placeholder of the style slot
        tokens = torch.zeros((text.shape[0], self.num_codebooks + 1), dtype=torch.long)  # (L, 9)
        tokens[:, -1] = text
        mask = torch.zeros_like(tokens, dtype=torch.bool)
        mask[:, -1] = True
        return Prompt(tokens=tokens, mask=mask, muq_idx=len(tag_ids), gen=self.gen)
