"""Write in the browser: only the ticked fields change, a quoted line survives, and the LLM switch works."""

from __future__ import annotations

import pytest

from tests.llm_server import Reply

from .conftest import LLM_KEY, screenshot

pytestmark = pytest.mark.timeout(300)
TIMEOUT_MS = 60_000
QUOTED = "the harbour lights are calling me home"


def field(page, name: str):
    return page.locator(f"#create-{name} textarea, #create-{name} input").first


def set_tick(page, name: str, ticked: bool) -> None:
    box = page.locator(f"#create-gen-{name} input")
    if box.is_checked() != ticked:
        box.click()


def wait_field(page, name: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); return e && e.value.includes(text) }",
        arg=[f"#create-{name} textarea, #create-{name} input", text], timeout=TIMEOUT_MS,
    )


def test_write_fills_only_ticked_fields_and_keeps_quoted_lines(page, llm_script) -> None:
    # The "LLM" rewrites the musician's quoted line; the code must put it back verbatim.
    llm_script.script(Reply.json({
        "title": "Harbour Lights",
        "lyrics": "[verse]\nthe harbour light is calling me\nwaves roll in\n[chorus]\nhome again",
    }))
    field(page, "description").fill("a slow folk song about coming home by boat")
    field(page, "lyrics").fill(f'"{QUOTED}"')
    field(page, "tags").fill("folk,calm")
    set_tick(page, "title", True)
    set_tick(page, "lyrics", True)
    set_tick(page, "tags", False)
    page.locator("#create-write").click()
    wait_field(page, "title", "Harbour Lights")
    wait_field(page, "lyrics", "waves roll in")
    screenshot(page, "create-written")

    lyrics = field(page, "lyrics").input_value()
    assert f'"{QUOTED}"' in lyrics.splitlines()  # restored exactly, as a line of its own, still protected
    assert field(page, "tags").input_value() == "folk,calm"  # not ticked: untouched
    assert field(page, "description").input_value() == "a slow folk song about coming home by boat"
    assert not page.locator("#create-gen-title input").is_checked()  # written: now the musician's to edit
    assert [r.path for r in llm_script.chat_requests] == ["/api/chat"]  # Ollama, the default


def test_switching_the_llm_to_openai_uses_the_openai_protocol(page, llm_script) -> None:
    llm_script.script(Reply.json({"title": "Night Train"}))
    page.get_by_role("tab", name="Models & Settings").click()
    typed_key = "sk-e2e-typed-in-the-page"
    page.locator("#settings-openai-key input").fill(typed_key)
    page.get_by_role("tab", name="Create").click()
    page.locator("#create-llm").get_by_text("OpenAI").click()
    page.wait_for_function(
        "() => document.querySelector('#create-llm-model input').value.includes('tiny-songwriter')",
        timeout=TIMEOUT_MS,
    )
    field(page, "description").fill("late night jazz on a train")
    for name, ticked in (("title", True), ("lyrics", False), ("tags", False)):
        set_tick(page, name, ticked)
    field(page, "lyrics").fill("[verse]\nrails hum")
    page.locator("#create-write").click()
    wait_field(page, "title", "Night Train")

    chats = llm_script.chat_requests
    assert [r.path for r in chats] == ["/v1/chat/completions"]
    assert chats[0].headers.get("authorization") == f"Bearer {typed_key}"  # the page's key wins over the env's
    assert "/v1/models" in llm_script.paths()
    assert LLM_KEY not in page.content() and typed_key not in page.content().replace(typed_key, "", 0)


def test_llm_down_is_a_clear_message(page, llm_script) -> None:
    llm_script.script(Reply(status=500, error="model crashed"), Reply(status=500, error="model crashed"))
    field(page, "description").fill("anything")
    set_tick(page, "title", True)
    page.locator("#create-write").click()
    page.get_by_text("ollama at").first.wait_for(timeout=TIMEOUT_MS)
    assert "Traceback" not in page.content()
    while llm_script.pending:  # the backend may give up before asking twice; that is its call
        llm_script._next_reply()


def test_unusable_json_is_a_clear_message(page, llm_script) -> None:
    # Junk twice (the writer retries once): the page must say what the API says, not an empty "null" error.
    llm_script.script(Reply(content="this is not json at all"), Reply(content="still { not json"))
    field(page, "description").fill("anything")
    set_tick(page, "title", True)
    page.locator("#create-write").click()
    page.get_by_text("answered unusable JSON twice").first.wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "create-write-junk")
    assert "null" not in page.locator(".toast-body, .toast-wrap").all_inner_texts()
    assert "Traceback" not in page.content()


def test_a_huge_streamed_answer_ends_with_a_clear_message(page, llm_script) -> None:
    # 600 KB in 1,500 pieces (a runaway model): reading stops at the cap and the page says so.
    llm_script.script(Reply('{"title": "' + "la " * 200_000 + '"}', piece_chars=400))
    field(page, "description").fill("anything")
    set_tick(page, "title", True)
    page.locator("#create-write").click()
    page.get_by_text("far longer than any song sheet").first.wait_for(timeout=TIMEOUT_MS)
    assert len(field(page, "title").input_value()) < 100_000
    assert "Traceback" not in page.content()
