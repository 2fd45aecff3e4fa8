"""The stored OpenAI key goes only to the configured server (HEARTSONG_OPENAI_BASE_URL).

Two scripted LLM servers: `home` is the configured one, `stranger` is any other URL a page visitor could type.
Every request either receives is recorded with its headers; the stranger must never see the stored key, through
the real openai client, whichever way the Studio is asked (list the models, check health, write a song).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.settings import load_settings
from app.songwriter.errors import LLMError
from app.studio.engines import make_llm_backend
from app.studio.jobs import Sheet
from app.studio.service import Studio
from tests.llm_server import LLMServer, Reply

from .conftest import TEST_MODEL

pytestmark = pytest.mark.timeout(120)

STORED = "sk-stored-in-the-environment-4f2a9c"
TYPED = "sk-typed-on-the-page-71be03"


@pytest.fixture
def home() -> Iterator[LLMServer]:
    with LLMServer(models=(TEST_MODEL,)) as server:
        yield server


@pytest.fixture
def stranger() -> Iterator[LLMServer]:
    with LLMServer(models=(TEST_MODEL,)) as server:
        yield server


@pytest.fixture
def studio(tmp_path: Path, home: LLMServer) -> Studio:
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data", openai_base_url=home.openai_url,
                             openai_model=TEST_MODEL, openai_api_key=STORED, llm_backend="openai")
    return Studio(settings)


def authorizations(server: LLMServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


def _port(server: LLMServer) -> str:
    return server.url.rsplit(":", 1)[1]


# Ways a visitor could spell a URL that is not the configured one (each must reach the stranger only).
HOSTILE_URLS: dict[str, Callable[[LLMServer, LLMServer], str]] = {
    "another port": lambda home, stranger: stranger.openai_url,
    "localhost spelling": lambda home, stranger: stranger.openai_url.replace("127.0.0.1", "localhost"),
    "configured URL in the query": lambda home, stranger: f"{stranger.openai_url}/?next={home.openai_url}",
    "configured address as user info": lambda home, stranger: stranger.openai_url.replace(
        "http://", f"http://127.0.0.1:{_port(home)}@"),
    "padded with spaces and a slash": lambda home, stranger: f"  {stranger.openai_url}/  ",
}


def _models(studio: Studio, url: str, key: str) -> None:
    studio.llm_models(studio.llm_choice("openai", url, "", key))


def _health(studio: Studio, url: str, key: str) -> None:
    assert make_llm_backend(studio.settings, studio.llm_choice("openai", url, "", key)).health().ok


def _write(studio: Studio, url: str, key: str) -> None:
    events = studio.write(Sheet("a song about keys"), frozenset({"title"}), studio.llm_choice("openai", url, "", key))
    assert list(events)


ASKS = {"list models": _models, "health check": _health, "write": _write}


@pytest.mark.parametrize("ask", list(ASKS))
@pytest.mark.parametrize("spelling", list(HOSTILE_URLS))
def test_a_typed_url_never_gets_the_stored_key(studio: Studio, home: LLMServer, stranger: LLMServer, ask: str,
                                               spelling: str) -> None:
    stranger.script(Reply.json({"title": "Locksmith"}))
    # Some spellings reach the stranger on a path it does not serve: what matters is what it saw.
    with contextlib.suppress(LLMError, AssertionError):
        ASKS[ask](studio, HOSTILE_URLS[spelling](home, stranger), "")
    assert stranger.requests, "the stranger was not asked at all: the test would prove nothing"
    assert not any(STORED in value for r in stranger.requests for value in r.headers.values())
    assert home.requests == []


@pytest.mark.parametrize("ask", list(ASKS))
def test_a_key_typed_with_the_url_goes_to_that_url_only(studio: Studio, home: LLMServer, stranger: LLMServer,
                                                        ask: str) -> None:
    stranger.script(Reply.json({"title": "Locksmith"}))
    ASKS[ask](studio, stranger.openai_url, TYPED)
    assert set(authorizations(stranger)) == {f"Bearer {TYPED}"}
    assert home.requests == []


@pytest.mark.parametrize("url", ["", "configured", "configured/"])
def test_the_configured_server_gets_the_stored_key(studio: Studio, home: LLMServer, stranger: LLMServer,
                                                   url: str) -> None:
    """The control: the configured URL (empty, as typed, or with a trailing slash) does get the stored key."""
    home.script(Reply.json({"title": "Homecoming"}))
    _write(studio, url.replace("configured", home.openai_url), "")
    assert set(authorizations(home)) == {f"Bearer {STORED}"}
    assert stranger.requests == []
