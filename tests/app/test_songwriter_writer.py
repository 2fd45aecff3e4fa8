"""app/songwriter/writer.py end to end: the real client libraries, our backends, the scripted wire server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.songwriter import Field, LLMError, SheetError, SongSheet, SongWriter, parse_fill
from app.songwriter.backends import OllamaBackend
from app.songwriter.prompts import DEFAULT_PROMPTS_DIR
from tests.llm_server import LLMServer, Reply

from .conftest import PROTOCOLS, TEST_MODEL, backend_on, refused_url

ALL = {Field.TITLE, Field.LYRICS, Field.TAGS}
HOOK = ["we ride till dawn", "the road is ours"]
SHEET = SongSheet(description='energetic summer pop about traveling\n"we ride till dawn"\n"the road is ours"',
                  seconds=30)
GOOD_LYRICS = "[verse]\nwheels on the highway\nsun in my eyes\n\n[chorus]\nwe ride till dawn\nthe road is ours"
GOOD = {"title": "Open Road", "lyrics": GOOD_LYRICS, "tags": "pop,female vocal,energetic,summer"}
# The description's quoted lines come back in the lyrics in their quotes (the sheet shows what is protected).
SHOWN_LYRICS = GOOD_LYRICS.replace("we ride till dawn", '"we ride till dawn"').replace("the road is ours",
                                                                                      '"the road is ours"')


def answer(**changes: str) -> Reply:
    return Reply.json({**GOOD, **changes})


def writer_on(server: LLMServer, protocol: str, **kw: object) -> SongWriter:
    return SongWriter(backend_on(server, protocol, timeout_s=float(kw.pop("timeout_s", 10.0))), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_good_answer_fills_the_ticked_fields(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(answer())
    seen: list[str] = []
    result = writer_on(llm_server, protocol).write(SHEET, ALL, on_text=seen.append)
    assert result.sheet == SHEET.model_copy(update={**GOOD, "lyrics": SHOWN_LYRICS})
    assert result.repairs == []
    assert seen and json.loads(seen[-1]) == GOOD
    request = llm_server.chat_requests[0].body
    assert request is not None
    system, user = request["messages"]
    assert system["content"] == (DEFAULT_PROMPTS_DIR / "system.txt").read_text(encoding="utf-8").rstrip()
    assert "about 30 seconds" in user["content"] and '"we ride till dawn"' in user["content"]
    assert "genre: pop, rock" in user["content"]  # the vocabulary went into the prompt


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_quoted_line_rewritten_is_restored(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(answer(lyrics=GOOD_LYRICS.replace("we ride till dawn", "We ride until the dawn!")))
    result = writer_on(llm_server, protocol).write(SHEET, ALL)
    assert result.sheet.lyrics == SHOWN_LYRICS
    assert result.repairs == [
        'restored quoted line "we ride till dawn" (the LLM had changed it to "We ride until the dawn!")'
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_quoted_line_dropped_is_restored(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(answer(lyrics=GOOD_LYRICS.replace("\nthe road is ours", "")))
    result = writer_on(llm_server, protocol).write(SHEET, ALL)
    assert result.sheet.lyrics == SHOWN_LYRICS
    assert result.repairs == ['restored quoted line "the road is ours" (the LLM had dropped it)']


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tags_odd_case_duplicates_and_blanks(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(answer(tags=" Energetic, POP,,pop , Female Vocals, , summer,Rock"))
    result = writer_on(llm_server, protocol).write(SHEET, ALL)
    assert result.sheet.tags == "pop,female vocal,energetic,summer"
    assert "tag 'female vocals' read as 'female vocal'" in result.repairs
    assert any("dropped extra genre 'rock'" in r for r in result.repairs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invalid_json_once_then_good(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply('{"title": "Open Road", "lyrics": '), answer())
    result = writer_on(llm_server, protocol).write(SHEET, ALL)
    assert result.sheet.title == "Open Road"
    first, second = llm_server.chat_requests
    assert second.body is not None
    retry = second.body["messages"][-1]["content"]
    assert retry.startswith("Your answer could not be used:") and '"title", "lyrics", "tags"' in retry
    assert second.body["messages"][-2] == {"role": "assistant", "content": '{"title": "Open Road", "lyrics": '}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missing_key_once_then_good(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply.json({"title": "Open Road", "lyrics": GOOD_LYRICS}), answer())
    writer_on(llm_server, protocol).write(SHEET, ALL)
    retry = llm_server.chat_requests[1].body["messages"][-1]["content"]  # type: ignore[index]
    assert "tags: Field required" in retry


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invalid_json_always_is_one_line_error(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply("Sure! Here is your song: la la la"), Reply("still not json"), answer())
    writer = writer_on(llm_server, protocol)
    with pytest.raises(LLMError) as err:
        writer.write(SHEET, ALL)
    message = str(err.value)
    assert message.startswith(f"{protocol} at {writer.backend.url}: answered unusable JSON twice")
    assert "\n" not in message
    assert llm_server.pending == 1  # exactly two attempts


def test_openai_junk_on_the_wire_twice(llm_server: LLMServer) -> None:
    llm_server.script(Reply(raw=b"<html>bad gateway</html>"), Reply(raw=b"<html>bad gateway</html>"))
    with pytest.raises(LLMError, match=r"^openai at .*/v1: answered unusable JSON twice \(the answer was empty\)$"):
        writer_on(llm_server, "openai").write(SHEET, ALL)


def test_fences_chatter_and_thinking_around_the_json_are_ignored(llm_server: LLMServer) -> None:
    text = "<think>the user wants {a road song}</think>Here you go:\n```json\n" + json.dumps(GOOD) + "\n```"
    llm_server.script(Reply(text))
    assert writer_on(llm_server, "openai").write(SHEET, ALL).sheet.title == "Open Road"
    assert len(llm_server.chat_requests) == 1


def test_lists_where_strings_were_asked_are_joined(llm_server: LLMServer) -> None:
    llm_server.script(Reply.json({**GOOD, "lyrics": GOOD_LYRICS.split("\n"), "tags": ["pop", "happy"]}))
    result = writer_on(llm_server, "ollama").write(SHEET, ALL)
    assert result.sheet.lyrics == SHOWN_LYRICS and result.sheet.tags == "pop,happy"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_slow_answer_past_the_timeout(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply.json(GOOD, delay_s=30))
    with pytest.raises(LLMError, match=rf"^{protocol} at http://127\.0\.0\.1:\d+(/v1)?: no complete answer within"):
        writer_on(llm_server, protocol, timeout_s=0.5).write(SHEET, ALL)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_http_500(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply(status=500, error="out of memory"))
    with pytest.raises(LLMError, match=rf"^{protocol} at .*: HTTP 500: out of memory$"):
        writer_on(llm_server, protocol).write(SHEET, ALL)


def test_refused_connection() -> None:
    writer = SongWriter(OllamaBackend(refused_url(), TEST_MODEL, 5))
    with pytest.raises(LLMError, match=r"^ollama at http://127\.0\.0\.1:\d+: cannot connect"):
        writer.write(SHEET, ALL)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_only_ticked_fields_change(llm_server: LLMServer, protocol: str) -> None:
    sheet = SHEET.model_copy(update={"title": "Mine", "tags": "Rock,ROCK", "lyrics": ""})
    # The LLM answers every key anyway; only lyrics may be taken.
    llm_server.script(answer(title="Theirs", tags="jazz", description="something else"))
    result = writer_on(llm_server, protocol).write(sheet, {Field.LYRICS})
    assert result.sheet == sheet.model_copy(update={"lyrics": SHOWN_LYRICS})
    schema_keys = ["lyrics"]
    body = llm_server.chat_requests[0].body
    assert body is not None
    schema = body["format"] if protocol == "ollama" else body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == schema_keys and list(schema["properties"]) == schema_keys


def test_description_can_be_filled(llm_server: LLMServer) -> None:
    sheet = SongSheet(lyrics="[verse]\nrain on the window", seconds=60)
    llm_server.script(Reply.json({"description": "  a quiet piano ballad about a rainy night  "}))
    result = writer_on(llm_server, "ollama").write(sheet, {Field.DESCRIPTION})
    assert result.sheet == sheet.model_copy(update={"description": "a quiet piano ballad about a rainy night"})


def test_empty_description_with_nothing_to_fill_is_a_clear_error(llm_server: LLMServer) -> None:
    writer = writer_on(llm_server, "ollama")
    with pytest.raises(SheetError, match="description is empty"):
        writer.write(SongSheet(), {Field.TITLE, Field.LYRICS})
    with pytest.raises(SheetError, match="nothing to fill"):
        writer.write(SHEET, set())
    assert llm_server.chat_requests == []


def test_ten_thousand_lines_of_lyrics_are_refused(llm_server: LLMServer) -> None:
    sheet = SHEET.model_copy(update={"lyrics": "\n".join(f"line {i}" for i in range(10_000))})
    with pytest.raises(SheetError, match="10,000 lines; a song takes at most 300"):
        writer_on(llm_server, "ollama").write(sheet, {Field.TITLE})
    assert llm_server.chat_requests == []


def test_llm_lyrics_far_too_long_are_rejected_then_retried(llm_server: LLMServer) -> None:
    llm_server.script(answer(lyrics="[verse]\n" + "\n".join(["la"] * 500)), answer())
    result = writer_on(llm_server, "ollama").write(SHEET, ALL)
    assert result.sheet.lyrics == SHOWN_LYRICS
    assert "at most 300" in llm_server.chat_requests[1].body["messages"][-1]["content"]  # type: ignore[index]


def test_bracketed_words_and_section_names_are_repaired(llm_server: LLMServer) -> None:
    lyrics = "[Intro]\n[Verse 1]\nwheels on the highway [x2]\nsun in my eyes\n[Guitar Solo]\nChorus:\n" + "\n".join(HOOK)
    llm_server.script(answer(lyrics=lyrics))
    result = writer_on(llm_server, "ollama").write(SHEET, ALL)
    assert result.sheet.lyrics == "[intro]\n\n" + SHOWN_LYRICS
    assert any("[Guitar Solo]" in r for r in result.repairs) and any("[x2]" in r for r in result.repairs)


def test_ollama_unload_after_writing(llm_server: LLMServer) -> None:
    llm_server.script(answer())
    writer_on(llm_server, "ollama").write(SHEET, ALL)
    paths = llm_server.paths()
    assert paths[-1] == "/api/generate" and paths.index("/api/chat") < paths.index("/api/generate")
    assert llm_server.requests[-1].body == {"model": TEST_MODEL, "keep_alive": 0, "stream": False}


def test_ollama_unload_after_a_failed_answer_too(llm_server: LLMServer) -> None:
    llm_server.script(Reply("junk"), Reply("junk"))
    with pytest.raises(LLMError):
        writer_on(llm_server, "ollama").write(SHEET, ALL)
    assert llm_server.paths()[-1] == "/api/generate"


def test_no_unload_when_asked_not_to(llm_server: LLMServer) -> None:
    llm_server.script(answer())
    writer_on(llm_server, "ollama", unload_after=False).write(SHEET, ALL)
    assert "/api/generate" not in llm_server.paths()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_edit_instruction_rewrites_lyrics_and_keeps_quoted_lines(llm_server: LLMServer, protocol: str) -> None:
    draft = '[verse]\nwheels on the highway\n\n[chorus]\n"we ride till dawn"\nfree as the wind'
    sheet = SongSheet(description="summer pop", lyrics=draft, title="Open Road", seconds=30)
    edited = "[verse]\nwheels on the freeway\n\n[chorus]\nwe ride til morning\nfree as the summer wind"
    llm_server.script(Reply.json({"lyrics": edited}))
    result = writer_on(llm_server, protocol).write(sheet, {Field.LYRICS}, instruction="make it more summery")
    assert result.sheet.lyrics == edited.replace("we ride til morning", '"we ride till dawn"')
    assert result.sheet.title == "Open Road"
    user = llm_server.chat_requests[0].body["messages"][1]["content"]  # type: ignore[index]
    assert "make it more summery" in user and draft in user


def test_edit_instruction_needs_lyrics(llm_server: LLMServer) -> None:
    with pytest.raises(SheetError, match="needs lyrics"):
        writer_on(llm_server, "ollama").write(SHEET, {Field.LYRICS}, instruction="shorter")


def test_length_guidance_follows_seconds(llm_server: LLMServer) -> None:
    llm_server.script(answer(), answer())
    writer = writer_on(llm_server, "ollama")
    for seconds in (30, 180):
        writer.write(SHEET.model_copy(update={"seconds": seconds}), ALL)
    short, long = (r.body["messages"][1]["content"] for r in llm_server.chat_requests)  # type: ignore[index]
    assert "[bridge]" in long and "[bridge]" not in short
    assert "about 8 sung lines" in short


def test_editing_a_prompt_file_changes_what_is_asked(llm_server: LLMServer, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, prompts)
    (prompts / "system.txt").write_text("You write songs for pirates.\n", encoding="utf-8")
    (prompts / "tags" / "genre.txt").write_text("sea shanty\n", encoding="utf-8")
    llm_server.script(answer(tags="Sea-Shanty,pop"))
    result = writer_on(llm_server, "ollama", prompts_dir=prompts).write(SHEET, ALL)
    assert llm_server.chat_requests[0].body["messages"][0]["content"] == "You write songs for pirates."  # type: ignore[index]
    assert result.sheet.tags == "sea shanty,pop"  # pop is no genre in this vocabulary: kept, flagged
    assert any("'pop' is not in the vocabulary" in r for r in result.repairs)


def test_parse_fill() -> None:
    assert parse_fill(" Title,lyrics,,TAGS ") == {Field.TITLE, Field.LYRICS, Field.TAGS}
    assert parse_fill(["description", Field.TAGS]) == {Field.DESCRIPTION, Field.TAGS}
    with pytest.raises(ValueError, match="unknown field to fill 'titel': choose from description, title"):
        parse_fill("titel")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_huge_streamed_answer_is_refused_without_a_retry(llm_server: LLMServer, protocol: str) -> None:
    # 600 KB in 1,500 pieces: far past any sheet, so reading stops at the writer's cap and it is not asked again.
    llm_server.script(Reply('{"title": "' + "la " * 200_000 + '"}', piece_chars=400))
    seen: list[int] = []
    writer = writer_on(llm_server, protocol)
    with pytest.raises(LLMError, match="the answer ran past .* characters, far longer than any song sheet"):
        writer.write(SHEET, ALL, on_text=lambda t: seen.append(len(t)))
    assert len(llm_server.chat_requests) == 1
    assert max(seen) <= writer.max_answer_chars < 100_000


def test_a_quoted_verse_line_the_llm_moved_to_the_chorus_comes_back_to_the_verse(llm_server: LLMServer) -> None:
    draft = '[verse]\nwheels on the highway\n"we ride till dawn"\n\n[chorus]\nla la'
    moved = "[verse]\nwheels on the open highway\nsun in my eyes\n\n[chorus]\nwe ride till dawn\nsing it loud"
    llm_server.script(Reply.json({"lyrics": moved}))
    sheet = SongSheet(description="summer pop", lyrics=draft, seconds=30)
    result = writer_on(llm_server, "ollama").write(sheet, {Field.LYRICS})
    assert result.sheet.lyrics == ('[verse]\nwheels on the open highway\n"we ride till dawn"\nsun in my eyes\n\n'
                                   "[chorus]\nsing it loud")
    assert result.repairs == ['put quoted line "we ride till dawn" back under [verse] (the LLM had moved it to [chorus])']
