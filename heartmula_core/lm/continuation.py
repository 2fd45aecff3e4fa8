"""Continuing a song from kept frames: the prompt extended by a prefix of audio rows.

The contract (issue 18): the official prompt (tags, style slot, lyrics) is followed by the P prefix frames,
each an audio row exactly like a generated frame fed back (the 8 codes, the text column empty and masked
out), at positions continuing after the prompt, all prefilled in one pass. The first new frame is sampled
from the last prefix position and, like the official frame 0, is never checked for the end of the song.
This is what the official pipeline computes when its prompt is extended by those rows, so a seeded CPU run
draws the official codes (goldens: tests/fixtures/heartmula_continue).

A prefix is a plain int64 [P, 8] array of codes the codec can decode (0 <= code < 8192), whatever made
it: a kept take, a file, or the codec's encoder.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..errors import InvalidRequest
from ..request import prefix_codes
from .prompting import Prompt


def as_prefix(codes, books: int = 8) -> torch.Tensor:
    """Kept frames as an int64 tensor [P, books] (P >= 1), or InvalidRequest naming what is wrong
    (`request.prefix_codes`: codes the codec cannot decode are refused)."""
    return torch.from_numpy(prefix_codes(codes, books).copy())


def extend_prompt(prompt: Prompt, prefix: torch.Tensor) -> Prompt:
    """The prompt followed by one audio row per prefix frame, prefix [P, 8] -> tokens/mask [L + P, 9].

    Each row is what the generation loop feeds back for a generated frame: the codes in the audio columns,
    `empty_id` in the text column, which the mask marks absent.
    """
    frames, books = prefix.shape
    rows = torch.full((frames, books + 1), prompt.gen.empty_id, dtype=torch.long)
    rows[:, :books] = prefix
    mask = torch.ones((frames, books + 1), dtype=torch.bool)
    mask[:, books] = False
    return replace(
        prompt,
        tokens=torch.cat((prompt.tokens, rows)),
        mask=torch.cat((prompt.mask, mask)),
    )


def check_continuation(prompt_length: int, kept: int, frames: int, context: int) -> None:
    """InvalidRequest unless the prompt, the kept frames and `frames` new ones fit the model's context."""
    if frames <= 0:
        raise InvalidRequest(f"frames must be at least 1 (got {frames})")
    if prompt_length + kept + frames > context:
        room = max(context - prompt_length - kept, 0)
        raise InvalidRequest(
            f"prompt ({prompt_length} tokens) plus {kept} kept frames plus {frames} new frames exceeds the model's "
            f"context of {context}; ask for at most {room} new frames, keep fewer frames or shorten the lyrics"
        )
