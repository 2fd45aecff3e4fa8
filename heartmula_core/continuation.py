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

import numpy as np
import torch

from .config import CODEC_CODEBOOK_SIZE
from .errors import InvalidRequest
from .prompting import Prompt


def as_prefix(codes, books: int = 8) -> torch.Tensor:
    """Kept frames as an int64 tensor [P, books] (P >= 1), or InvalidRequest naming what is wrong.

    Codes the codec cannot decode (negative, or >= 8192: the end-of-song and padding ids) are refused: the
    song they start could never be turned into audio.
    """
    if isinstance(codes, torch.Tensor):
        tensor = codes.detach().cpu()
    else:
        try:
            tensor = torch.from_numpy(np.asarray(codes))
        except (TypeError, ValueError):
            raise InvalidRequest("the prefix must be an integer array of shape [frames, 8]") from None
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise InvalidRequest(f"the prefix must hold integer codes, got {tensor.dtype}")
    if tensor.dim() != 2 or tensor.shape[1] != books:
        raise InvalidRequest(f"the prefix must have shape [frames, {books}], got {list(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise InvalidRequest("the prefix has no frames: nothing to continue from")
    low, high = int(tensor.min()), int(tensor.max())
    if low < 0 or high >= CODEC_CODEBOOK_SIZE:
        raise InvalidRequest(
            f"the prefix holds codes the codec cannot decode (from {low} to {high}; each must lie in "
            f"[0, {CODEC_CODEBOOK_SIZE}))"
        )
    return tensor.long()


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


def kept_frames(seconds: float, frame_rate: float) -> int:
    """Frames kept when a song is cut at `seconds`: round(seconds x frame_rate) (12.5 frames per second)."""
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidRequest(f"the cut must be a positive time, got {seconds}")
    return int(round(seconds * frame_rate))
