"""Transcription without a model: windows, Whisper's timestamped output, joins, lyrics_match, sections."""

from __future__ import annotations

import pytest

from heartmula_core.errors import InvalidRequest
from heartmula_core.transcribe import LyricLine, join_windows, label_sections, lyrics_match, plan_windows
from heartmula_core.transcribe.chunks import parse_timestamped
from heartmula_core.transcribe.lyrics import format_sections, normalize_lyrics

RATE = 16_000


def test_a_95_s_song_is_four_overlapping_windows():
    windows = plan_windows(95 * RATE, RATE)
    assert [w.seconds(RATE) for w in windows] == [(0, 30), (28, 58), (56, 86), (84, 95)]
    for a, b in zip(windows, windows[1:]):
        assert a.end - b.start == 2 * RATE  # the overlap
    assert windows[-1].end == 95 * RATE


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(10, [(0, 10)]), (30, [(0, 30)]), (31, [(0, 30), (28, 31)]), (58, [(0, 30), (28, 58)])],
)
def test_window_edges(seconds, expected):
    assert [w.seconds(RATE) for w in plan_windows(seconds * RATE, RATE)] == expected


def test_overlap_must_be_shorter_than_the_window():
    with pytest.raises(ValueError):
        plan_windows(100, RATE, window_s=2, overlap_s=2)


# Whisper-style ids for the parser: text ids < 100, specials 100..109, timestamps from 110 (20 ms apart).
TS = 110
SPECIAL = {100, 101, 102}
WORDS = {1: "hold", 2: "me", 3: "closer", 4: "in", 5: "the", 6: "rain"}


def _decode(ids):
    return " ".join(WORDS[i] for i in ids)


def _ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def _parse(tokens, duration=30.0):
    return parse_timestamped(tokens, TS, 0.02, SPECIAL, _decode, duration)


def test_timestamped_phrases_become_lines():
    tokens = [_ts(0.4), 1, 2, _ts(2.0), _ts(2.0), 3, 4, 5, 6, _ts(5.5), 100]
    assert _parse(tokens) == [LyricLine(0.4, 2.0, "hold me"), LyricLine(2.0, 5.5, "closer in the rain")]


def test_phrase_cut_by_the_window_edge_ends_at_the_window_end():
    assert _parse([_ts(27.0), 1, 2, 3], duration=30.0) == [LyricLine(27.0, 30.0, "hold me closer")]


def test_no_timestamps_gives_one_line_and_padding_is_never_heard():
    assert _parse([101, 1, 2, 100]) == [LyricLine(0.0, 30.0, "hold me")]
    # Last window is 5 s long: a phrase "sung" at 12 s is in the padding and is dropped; times are clamped.
    tokens = [_ts(1.0), 1, _ts(7.0), _ts(12.0), 2, _ts(14.0)]
    assert _parse(tokens, duration=5.0) == [LyricLine(1.0, 5.0, "hold")]


def test_timestamps_never_go_backwards():
    lines = _parse([_ts(10.0), 1, _ts(12.0), _ts(3.0), 2, _ts(4.0)])
    assert [(x.start, x.end) for x in lines] == [(10.0, 12.0), (12.0, 12.0)]


def _join(*windows):
    return [line.text for line in join_windows(windows, overlap_s=2.0)]


def test_join_removes_the_words_both_windows_heard():
    a = (0.0, [LyricLine(20.0, 25.0, "I walked along the river"), LyricLine(25.0, 30.0, "and the moon was low")])
    b = (28.0, [LyricLine(28.0, 30.5, "moon was low"), LyricLine(30.5, 34.0, "and you were singing")])
    assert _join(a, b) == ["I walked along the river", "and the moon was low", "and you were singing"]


def test_join_handles_a_word_cut_at_either_edge():
    # The second window starts in the middle of "moonlight": its first word is a fragment.
    a = (0.0, [LyricLine(25.0, 30.0, "under the moonlight we sing")])
    b = (28.0, [LyricLine(28.0, 33.0, "light we sing all night long")])
    assert _join(a, b) == ["under the moonlight we sing", "all night long"]
    # The first window ends in the middle of "together": the fragment goes, the later window's word stays.
    c = (0.0, [LyricLine(25.0, 30.0, "under the moonlight we sing tog")])
    d = (28.0, [LyricLine(28.0, 33.0, "we sing together all night")])
    assert _join(c, d) == ["under the moonlight we sing", "together all night"]
    # A single common word after a fragment is not enough evidence of a repeat.
    e = (0.0, [LyricLine(25.0, 30.0, "we walk the lin")])
    f = (28.0, [LyricLine(28.0, 33.0, "ne the river flows")])
    assert _join(e, f) == ["we walk the lin", "ne the river flows"]


def test_join_ignores_case_and_punctuation_and_keeps_unrelated_words():
    a = (0.0, [LyricLine(26.0, 30.0, "Hold me, closer!")])
    b = (28.0, [LyricLine(28.0, 31.0, "hold me closer tiny dancer")])
    assert _join(a, b) == ["Hold me, closer!", "tiny dancer"]
    c = (0.0, [LyricLine(26.0, 30.0, "we are the night")])
    d = (28.0, [LyricLine(28.5, 31.0, "and the day")])
    assert _join(c, d) == ["we are the night", "and the day"]


def test_join_only_looks_at_the_overlap():
    # The same words far from the join (a real repeat in the song) are kept.
    a = (0.0, [LyricLine(2.0, 6.0, "oh oh oh")])
    b = (28.0, [LyricLine(29.0, 33.0, "oh oh oh")])
    assert _join(a, b) == ["oh oh oh", "oh oh oh"]


def test_join_gives_the_second_half_of_the_overlap_to_the_later_window():
    a = (0.0, [LyricLine(20.0, 27.0, "walking home tonight"), LyricLine(29.5, 30.0, "uh")])
    b = (28.0, [LyricLine(28.4, 31.0, "under the stars")])
    assert _join(a, b) == ["walking home tonight", "under the stars"]
    # When the later window heard nothing in the overlap, the earlier window's edge is kept.
    c = (28.0, [LyricLine(35.0, 37.0, "under the stars")])
    assert _join(a, c) == ["walking home tonight", "uh", "under the stars"]


def test_join_of_a_single_window_and_of_silent_windows():
    lines = [LyricLine(0.0, 2.0, "hello")]
    assert join_windows([(0.0, lines)]) == lines
    assert join_windows([(0.0, []), (28.0, lines)]) == lines


def test_normalisation_is_the_same_on_both_sides():
    assert normalize_lyrics("[Verse]\nDon't  STOP, me now!\n[chorus]") == "dont stop me now"
    assert normalize_lyrics("Café — ça va?") == "café ça va"


@pytest.mark.parametrize(
    ("asked", "heard", "wer", "sung"),
    [
        ("[verse]\nHold me closer, tiny dancer", "hold me closer tiny dancer", 0.0, 1.0),
        ("hold me closer tiny dancer", "hold me tiny dancer", 0.2, 0.8),  # one deletion
        ("hold me closer tiny dancer", "hold you closer tiny dancer", 0.2, 0.8),  # one substitution
        ("hold me closer", "oh hold me closer now", 2 / 3, 1.0),  # insertions cost WER, not "sung"
        ("hold me closer", "", 1.0, 0.0),
    ],
)
def test_lyrics_match_hand_made_cases(asked, heard, wer, sung):
    match = lyrics_match(asked, heard)
    assert match.wer == pytest.approx(wer)
    assert match.sung == pytest.approx(sung)
    assert match.summary == f"{round(100 * sung)}% of your lyrics were sung"


def test_lyrics_match_needs_lyrics_to_compare_with():
    with pytest.raises(InvalidRequest, match="no words"):
        lyrics_match("[verse]\n...", "la la")


def _lines(*texts):
    return [LyricLine(float(i), float(i + 1), t) for i, t in enumerate(texts)]


def test_sections_are_guessed_from_a_repeated_block():
    lines = _lines(
        "walking down the empty street", "thinking of you",
        "hold me closer", "tiny dancer",
        "counting headlights on the highway", "lay me down",
        "Hold me closer!", "tiny dancer",
    )  # fmt: skip
    sections = label_sections(lines)
    assert [(s.label, len(s.lines)) for s in sections] == [("verse", 2), ("chorus", 2), ("verse", 2), ("chorus", 2)]
    text = format_sections(sections)
    assert text.startswith("[verse]\nwalking down the empty street\nthinking of you\n\n[chorus]\nhold me closer")


def test_no_sections_without_clear_repetition():
    assert label_sections(_lines("one line", "another line", "one line", "a third")) is None
    assert label_sections(_lines("a", "b", "c")) is None
    assert label_sections([]) is None
