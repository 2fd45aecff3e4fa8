"""XLM-R tokenisation with the `tokenizers` library, padded exactly as the official package pads.

`tokenizer.json`'s post-processor adds `<s> ... </s>`. A list of texts is padded on the right with the
pad id to the longest text *in that call*; this matters because MuLan's text tower averages over the
padding too, so a text embedded alone (no padding) is the canonical value.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InvalidRequest, ModelNotAvailable

TOKENIZER_FILE = "tokenizer.json"


class TextTokenizer:
    def __init__(self, path: Path, pad_id: int) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
            raise ModelNotAvailable(f"cannot read the tokenizer {path}: {exc}") from exc
        # Padding is ours to do; a tokenizer.json with its own padding/truncation would change the ids.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.pad_id = pad_id

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """texts -> (ids (B, L) int64, attention mask (B, L) int64), right-padded to the longest."""
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequest("a style text must be a non-empty string")
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        length = max(len(e.ids) for e in encodings)
        ids = torch.full((len(texts), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.long)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids, dtype=torch.long)
            mask[row, : len(encoding.ids)] = 1
        return ids, mask
