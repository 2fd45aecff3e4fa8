"""app/songwriter/quoted.py: protected "quoted" lines come back verbatim, in order, in their section, quoted."""

from __future__ import annotations

from app.songwriter.quoted import protected_lines, restore_protected, song_protected, strip_line_quotes

HOOK = ["we ride till dawn", "the road is ours"]
A, B = (f'"{line}"' for line in HOOK)  # as the sheet shows them after a Write


def test_protected_lines_are_whole_quoted_lines_in_order() -> None:
    description = 'summer pop\n"we ride till dawn"\na song called "Road" stays unprotected'
    lyrics = '[chorus]\n\u201cthe road is ours\u201d\nfree line'
    assert protected_lines(description, lyrics) == HOOK
    assert strip_line_quotes(lyrics) == "[chorus]\nthe road is ours\nfree line"


def test_a_description_line_already_quoted_in_the_lyrics_counts_once() -> None:
    assert song_protected('pop\n"we ride till dawn"', f"[chorus]\n{A}\n{B}") == HOOK
    assert song_protected('pop\n"we ride till dawn"', "[chorus]\nla") == HOOK[:1]


def test_intact_quoted_lines_need_no_repair_and_keep_their_quotes() -> None:
    fixed, repairs = restore_protected("[verse]\na\n\n[chorus]\nwe ride till dawn\nthe road is ours", HOOK)
    assert fixed == f"[verse]\na\n\n[chorus]\n{A}\n{B}" and repairs == []


def test_quotes_kept_by_the_llm_are_the_same_line() -> None:
    fixed, repairs = restore_protected('[chorus]\n"we ride till dawn"\nthe road is ours', HOOK)
    assert fixed == f"[chorus]\n{A}\n{B}" and repairs == []


def test_rewritten_line_is_restored_in_place() -> None:
    fixed, repairs = restore_protected("[verse]\na\n\n[chorus]\nwe ride until dawn\nthe road is ours", HOOK)
    assert fixed == f"[verse]\na\n\n[chorus]\n{A}\n{B}"
    assert repairs == ['restored quoted line "we ride till dawn" (the LLM had changed it to "we ride until dawn")']


def test_dropped_line_is_inserted_after_its_predecessor() -> None:
    fixed, repairs = restore_protected("[verse]\na\n\n[chorus]\nwe ride till dawn\nsomething else", HOOK)
    assert fixed.splitlines()[4:6] == [A, B]
    assert repairs == ['restored quoted line "the road is ours" (the LLM had dropped it)']


def test_all_dropped_lines_go_to_the_first_chorus_in_order() -> None:
    fixed, repairs = restore_protected("[verse]\na\nb\n\n[chorus]\nx\ny", HOOK)
    lines = fixed.splitlines()
    assert lines[lines.index("[chorus]") + 1 : lines.index("[chorus]") + 3] == [A, B]
    assert len(repairs) == 2 and all("dropped" in r for r in repairs)


def test_moved_line_is_put_back_in_order() -> None:
    fixed, repairs = restore_protected("[verse]\nthe road is ours\nb\n\n[chorus]\nwe ride till dawn\nx", HOOK)
    lines = fixed.splitlines()
    assert lines.count(B) == 1 and "the road is ours" not in lines
    assert lines.index(A) < lines.index(B)
    assert repairs == ['restored quoted line "we ride till dawn" (the LLM had moved it)']


def test_repeated_chorus_keeps_its_copies() -> None:
    lyrics = "[chorus]\nwe ride till dawn\nthe road is ours\n\n[chorus]\nwe ride till dawn\nthe road is ours"
    fixed, repairs = restore_protected(lyrics, HOOK)
    assert fixed == f"[chorus]\n{A}\n{B}\n\n[chorus]\nwe ride till dawn\nthe road is ours" and repairs == []


def test_several_copies_out_of_order_are_a_repeated_chorus_and_all_stay() -> None:
    # Protected [A, B]; the LLM wrote B, A, x, A: B matches, and the two later copies of A are a repeated
    # chorus, not one line moved, so both stay and A is put back before B.
    fixed, repairs = restore_protected("\n".join([HOOK[1], HOOK[0], "x", HOOK[0]]), HOOK)
    assert fixed.split("\n") == [A, B, HOOK[0], "x", HOOK[0]]
    assert repairs == ['restored quoted line "we ride till dawn" (the LLM had sung it only out of order)']


def test_a_line_quoted_in_a_verse_returns_to_that_verse_at_its_place() -> None:
    draft = '[verse]\nwalking home\n"we ride till dawn"\nlate again\n\n[chorus]\nla la'
    llm = "[verse]\nwalking home slowly\nlate again tonight\n\n[chorus]\nwe ride till dawn\nla la la"
    fixed, repairs = restore_protected(llm, HOOK[:1], draft=draft)
    assert fixed == f"[verse]\nwalking home slowly\n{A}\nlate again tonight\n\n[chorus]\nla la la"
    assert repairs == ['put quoted line "we ride till dawn" back under [verse] (the LLM had moved it to [chorus])']


def test_a_line_of_the_second_verse_returns_to_the_second_verse() -> None:
    draft = '[verse]\none\n\n[chorus]\nhey\n\n[verse]\ntwo\n"the road is ours"'
    llm = "[verse]\none\nthe road is ours\n\n[chorus]\nhey\n\n[verse]\ntwo"
    fixed, repairs = restore_protected(llm, HOOK[1:], draft=draft)
    assert fixed == f"[verse]\none\n\n[chorus]\nhey\n\n[verse]\ntwo\n{B}"
    assert len(repairs) == 1 and "back under [verse]" in repairs[0]


def test_a_copy_already_in_its_section_is_taken_rather_than_a_second_one_made() -> None:
    draft = '[verse]\n"we ride till dawn"\n\n[chorus]\nla'
    llm = "[chorus]\nwe ride till dawn\n\n[verse]\nwe ride till dawn"
    fixed, repairs = restore_protected(llm, HOOK[:1], draft=draft)
    assert fixed == f"[chorus]\nwe ride till dawn\n\n[verse]\n{A}" and repairs == []


def test_a_section_the_llm_left_out_is_not_made_up() -> None:
    draft = '[bridge]\n"we ride till dawn"'
    fixed, repairs = restore_protected("[verse]\nla\n\n[chorus]\nwe ride till dawn", HOOK[:1], draft=draft)
    assert fixed == f"[verse]\nla\n\n[chorus]\n{A}" and repairs == []


def test_stripping_the_quotes_of_restored_lyrics_gives_the_sung_text() -> None:
    fixed, _ = restore_protected("[chorus]\nwe ride till dawn\nthe road is ours", HOOK)
    assert strip_line_quotes(fixed) == "[chorus]\nwe ride till dawn\nthe road is ours"
