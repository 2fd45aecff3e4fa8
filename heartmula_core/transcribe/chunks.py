"""Long songs as overlapping 30 s windows: planning the windows, reading Whisper's timestamped output for
one window, and joining the windows back into one list of lines without the words heard twice.

Whisper reads exactly 30 s. A song is cut into windows that overlap by a couple of seconds so that a word
sung across a cut is heard whole by at least one window; the words both windows heard are then removed
from the start of the later window (`join_windows`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_S = 30.0
"""Whisper's fixed input length."""
OVERLAP_S = 2.0
"""How much consecutive windows share: long enough for a sung word or two, short enough to waste little."""
MAX_JOIN_WORDS = 12
"""How many words on each side of a join are searched for a repeat (2 s of singing is far fewer)."""


@dataclass(frozen=True)
class Window:
    """One model input: samples `[start, end)` of the 16 kHz mono song."""

    start: int
    end: int

    def seconds(self, rate: int) -> tuple[float, float]:
        return self.start / rate, self.end / rate


@dataclass(frozen=True)
class LyricLine:
    """One phrase as heard, with its time in the song (seconds)."""

    start: float
    end: float
    text: str


def plan_windows(samples: int, rate: int, window_s: float = WINDOW_S, overlap_s: float = OVERLAP_S) -> list[Window]:
    """Cut `samples` into windows of `window_s` that start every `window_s - overlap_s` seconds.

    The last window is shorter when the song does not fill it (Whisper pads it with silence). A 95 s song
    at the defaults gives [0, 30), [28, 58), [56, 86), [84, 95).
    """
    if not 0 <= overlap_s < window_s:
        raise ValueError(f"overlap ({overlap_s} s) must be shorter than the window ({window_s} s)")
    size = round(window_s * rate)
    hop = size - round(overlap_s * rate)
    windows = []
    start = 0
    while True:
        end = min(start + size, samples)
        windows.append(Window(start, end))
        if end >= samples:
            return windows
        start += hop


def parse_timestamped(
    tokens: Sequence[int],
    timestamp_begin: int,
    time_step: float,
    special_ids: set[int],
    decode,
    duration: float,
) -> list[LyricLine]:
    """Whisper's output for one window → lines with times relative to the window.

    Whisper writes `<|t0|> text <|t1|><|t1|> text <|t2|> ...`: a timestamp opens a phrase, the next one
    closes it. Ids at or above `timestamp_begin` are timestamps (`time_step` seconds apart); `special_ids`
    (end of text, language, task) are skipped; `decode(ids) -> str` turns text ids into text. A phrase
    still open at the end (cut by the window edge) ends at `duration`. Times are clamped to the window, and
    a model that writes no timestamps at all gives one line for the whole window. Times never go backwards,
    and phrases that start in the padding past `duration` are dropped.
    """
    lines: list[LyricLine] = []
    text_ids: list[int] = []
    start: float | None = None
    last_time = 0.0

    def close(end: float) -> None:
        text = decode(text_ids).strip()
        begin = last_time if start is None else start
        if text and begin < duration:  # a phrase "heard" in the silent padding past the end is invented
            lines.append(LyricLine(begin, max(begin, end), text))
        text_ids.clear()

    for token in tokens:
        token = int(token)
        if token >= timestamp_begin:
            # Never backwards (a model that starts its timestamps over), never past the window.
            time = min(max((token - timestamp_begin) * time_step, last_time), duration)
            if start is None and not text_ids:
                start = time
            else:
                close(time)
                start = None
            last_time = time
        elif token not in special_ids:
            text_ids.append(token)
    close(duration)
    return lines


def shift(lines: Sequence[LyricLine], offset: float) -> list[LyricLine]:
    """Window-relative lines → song times."""
    return [LyricLine(line.start + offset, line.end + offset, line.text) for line in lines]


def _word_key(word: str) -> str:
    """How words are compared at a join: case, accents' composition and punctuation do not matter."""
    return re.sub(r"[^\w]", "", unicodedata.normalize("NFKC", word).casefold())


def _keys(words: list[str], side: str) -> list[str]:
    """Comparison keys; a word that is only punctuation gets a key that matches nothing."""
    return [_word_key(w) or f"\0{side}{i}" for i, w in enumerate(words)]


def _find_repeat(tail: list[str], head: list[str]) -> tuple[int, int, int] | None:
    """The longest run of `head` that repeats the end of `tail`.

    Returns `(drop_tail, drop_head, k)`: the last `drop_tail` words of `tail` (a word cut by the window edge)
    are left out, then `tail[-k:]` equals `head[drop_head:drop_head + k]`. `drop_head` skips a word cut at the
    start of the later window. A one-word match must be exact at both edges; a match that skips a cut word
    needs two words, so a common word ("the") alone never removes anything after a skip.
    """
    best = None
    for drop_tail in (0, 1):
        for drop_head in (0, 1):
            n = len(tail) - drop_tail
            for k in range(min(n, len(head) - drop_head), 0, -1):
                if k < (1 if drop_tail == drop_head == 0 else 2):
                    break
                if tail[n - k : n] == head[drop_head : drop_head + k]:
                    if best is None or (k, -(drop_tail + drop_head)) > (best[2], -(best[0] + best[1])):
                        best = (drop_tail, drop_head, k)
                    break
    return best


def _without_words(lines: list[LyricLine], drop_first: int, drop_last: int) -> list[LyricLine]:
    """Remove words from the start and the end of a run of lines; lines left empty disappear."""
    words = [(i, w) for i, line in enumerate(lines) for w in line.text.split()]
    kept = words[drop_first : len(words) - drop_last]
    out = []
    for i, line in enumerate(lines):
        text = " ".join(w for j, w in kept if j == i)
        if text:
            out.append(LyricLine(line.start, line.end, text) if text != line.text else line)
    return out


def join_windows(windows: Sequence[tuple[float, Sequence[LyricLine]]], overlap_s: float = OVERLAP_S) -> list[LyricLine]:
    """Concatenate per-window lines (already in song time), removing the words heard by both windows.

    Args:
        windows: `(window_start_s, lines)` in song order.
        overlap_s: how much consecutive windows share.

    Only lines near the overlap are compared: lines of the song so far that end after the later window
    starts, and lines of the later window that start within its overlap. Whisper's timestamps are loose,
    so both sides get one overlap of slack. Lines of the earlier window that start in the second half of
    the overlap give way to the later window's lines, so the result stays in time order.
    """
    song: list[LyricLine] = []
    for window_start, lines in windows:
        lines = list(lines)
        n_tail = 0
        while n_tail < len(song) and song[len(song) - 1 - n_tail].end > window_start - overlap_s:
            n_tail += 1
        n_head = 0
        while n_head < len(lines) and lines[n_head].start < window_start + 2 * overlap_s:
            n_head += 1
        if n_tail and n_head:
            tail = [w for line in song[-n_tail:] for w in line.text.split()][-MAX_JOIN_WORDS:]
            head = [w for line in lines[:n_head] for w in line.text.split()][:MAX_JOIN_WORDS]
            repeat = _find_repeat(_keys(tail, "tail"), _keys(head, "head"))
            if repeat is not None:
                drop_tail, drop_head, k = repeat
                song[-n_tail:] = _without_words(song[-n_tail:], 0, drop_tail)
                lines = _without_words(lines[:n_head], drop_head + k, 0) + lines[n_head:]
        if lines and lines[0].start < window_start + overlap_s:
            # Both windows heard the overlap and their words disagree: from its middle on (or from where
            # the later window's first phrase starts, if earlier) trust the later window, which heard that
            # stretch with context on both sides, and keep the lines in time order.
            cut = min(window_start + overlap_s / 2, lines[0].start)
            while song and song[-1].start >= cut:
                song.pop()
        song.extend(lines)
    return song
