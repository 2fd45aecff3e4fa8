"""The stored OpenAI key in the browser: a URL typed on the Models tab never receives it (the "Check the LLM
servers" button and the Create tab's model list), a key typed with that URL does, and the configured server
still gets the stored key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.llm_server import LLMServer

from .conftest import LLM_KEY, LLM_MODEL
from .test_webapp import TIMEOUT_MS, open_tab

pytestmark = pytest.mark.timeout(300)
TYPED = "sk-typed-in-the-browser-5d1c"


def _check(page, server: LLMServer, url: str, key: str) -> None:
    """Type `url` and `key` on the Models tab and check the servers; returns once `server` was asked."""
    asked = len(server.requests)
    open_tab(page, "Models & Settings")
    page.locator("#settings-openai-url").get_by_role("textbox").fill(url)
    page.locator("#settings-openai-key").get_by_role("textbox").fill(key)
    page.get_by_role("button", name="Check the LLM servers").click()
    _wait_for(page, lambda: len(server.requests) > asked)  # the line below may still show an earlier check
    page.get_by_text(f"openai at {url}: 1 model,").filter(visible=True).first.wait_for(timeout=TIMEOUT_MS)


def _wait_for(page, condition: Callable[[], bool]) -> None:
    for _ in range(TIMEOUT_MS // 200):
        if condition():
            return
        page.wait_for_timeout(200)
    raise AssertionError("the page never asked the server")


def _seen(server: LLMServer) -> set[str]:
    return {r.headers.get("authorization", "") for r in server.requests}


def test_a_url_typed_on_the_page_never_gets_the_stored_key(page, llm_script: LLMServer) -> None:
    with LLMServer(models=(LLM_MODEL,)) as stranger:
        _check(page, stranger, stranger.openai_url, "")
        # The Create tab lists the OpenAI models from the URL typed on the Models tab.
        open_tab(page, "Create")
        page.locator("#create-llm").get_by_text("OpenAI").click()
        _wait_for(page, lambda: [r.path for r in stranger.requests].count("/v1/models") == 2)
        assert not any(LLM_KEY in v for r in stranger.requests for v in r.headers.values())

        _check(page, stranger, stranger.openai_url, TYPED)
        assert f"Bearer {TYPED}" in _seen(stranger)
        assert not any(LLM_KEY in v for r in stranger.requests for v in r.headers.values())

    # The control: the configured URL with the key field empty gets the stored key (so the test can fail).
    llm_script.requests.clear()
    _check(page, llm_script, llm_script.openai_url, "")
    assert f"Bearer {LLM_KEY}" in _seen(llm_script)
