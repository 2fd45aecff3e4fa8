"""app/songwriter/backends.py against the scripted wire server, through the real `ollama` and `openai` clients."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from app.settings import Settings
from app.songwriter.backends import OllamaBackend, OpenAIBackend, make_backend
from app.songwriter.errors import Cancelled, LLMError
from tests.llm_server import LLMServer, Reply

from .conftest import PROTOCOLS, TEST_MODEL, backend_on, refused_url

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
          "additionalProperties": False}
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a title please"}]
KEY = "sk-secret-0a1b2c3d4e5f"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_list_models_and_health(llm_server: LLMServer, protocol: str) -> None:
    backend = backend_on(llm_server, protocol)
    assert backend.list_models() == [TEST_MODEL]
    health = backend.health()
    assert health.ok and health.models == (TEST_MODEL,)
    assert backend.url in health.message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_health_names_a_missing_model(llm_server: LLMServer, protocol: str) -> None:
    backend = backend_on(llm_server, protocol)
    backend.model = "no-such-model"
    health = backend.health()
    assert not health.ok and "no-such-model" in health.message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_empty_model_picks_the_first_listed(llm_server: LLMServer, protocol: str) -> None:
    backend = backend_on(llm_server, protocol)
    backend.model = ""
    llm_server.script(Reply.json({"title": "Road"}))
    assert json.loads(backend.chat_json(MESSAGES, SCHEMA)) == {"title": "Road"}
    assert backend.model == TEST_MODEL


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_chat_json_streams_and_sends_the_schema(llm_server: LLMServer, protocol: str) -> None:
    answer = json.dumps({"title": "A rather long title so the answer streams in several pieces"})
    llm_server.script(Reply(answer))
    seen: list[str] = []
    text = backend_on(llm_server, protocol).chat_json(MESSAGES, SCHEMA, on_text=seen.append)
    assert text == answer
    assert len(seen) > 2 and seen[-1] == answer
    assert all(answer.startswith(s) for s in seen)  # each call gets the whole text so far
    (request,) = llm_server.chat_requests
    assert request.body is not None and request.body["messages"] == MESSAGES and request.body["stream"]
    if protocol == "ollama":
        assert request.body["format"] == SCHEMA
    else:
        fmt = request.body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA


def test_openai_falls_back_when_json_schema_is_rejected() -> None:
    with LLMServer(models=(TEST_MODEL,), reject_formats=("json_schema",)) as server:
        backend = backend_on(server, "openai")
        server.script(Reply.json({"title": "One"}), Reply.json({"title": "Two"}))
        assert json.loads(backend.chat_json(MESSAGES, SCHEMA))["title"] == "One"
        assert json.loads(backend.chat_json(MESSAGES, SCHEMA))["title"] == "Two"
        kinds = [r.body["response_format"]["type"] for r in server.chat_requests if r.body]
        assert kinds == ["json_schema", "json_object", "json_object"]  # the fallback is remembered


def test_openai_falls_back_to_plain_json() -> None:
    with LLMServer(models=(TEST_MODEL,), reject_formats=("json_schema", "json_object")) as server:
        server.script(Reply.json({"title": "Plain"}))
        assert json.loads(backend_on(server, "openai").chat_json(MESSAGES, SCHEMA))["title"] == "Plain"
        assert [r.body.get("response_format") for r in server.chat_requests if r.body][-1] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_http_500_is_one_line_naming_backend_and_url(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply(status=500, error="model runner crashed"))
    backend = backend_on(llm_server, protocol)
    with pytest.raises(LLMError) as err:
        backend.chat_json(MESSAGES, SCHEMA)
    message = str(err.value)
    assert message.startswith(f"{protocol} at {backend.url}: HTTP 500")
    assert "model runner crashed" in message and "\n" not in message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_slow_answer_past_the_timeout(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply.json({"title": "late"}, delay_s=30))
    backend = backend_on(llm_server, protocol, timeout_s=0.5)
    # Two clocks run out together: our deadline ("no complete answer") and the client library's read timeout
    # ("no answer"), which a loaded machine can let win. Either is the same one-line timeout.
    with pytest.raises(LLMError, match=rf"^{protocol} at .*: no (complete )?answer within 0.5 s \(timeout\)$"):
        backend.chat_json(MESSAGES, SCHEMA)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_library_timeout_is_translated(protocol: str) -> None:
    with LLMServer(models=(TEST_MODEL,), list_delay_s=30) as server:
        backend = backend_on(server, protocol, timeout_s=0.3)
        with pytest.raises(LLMError, match=r"within 0.3 s \(timeout\)"):
            backend.list_models()
        assert not backend.health().ok


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refused_connection(protocol: str) -> None:
    url = refused_url()
    backend = OllamaBackend(url, TEST_MODEL, 5) if protocol == "ollama" else OpenAIBackend(url + "/v1", TEST_MODEL, 5)
    with pytest.raises(LLMError) as err:
        backend.chat_json(MESSAGES, SCHEMA)
    assert str(err.value).startswith(f"{protocol} at {backend.url}: cannot connect")
    health = backend.health()
    assert not health.ok and "cannot connect" in health.message


def test_ollama_junk_on_the_wire(llm_server: LLMServer) -> None:
    llm_server.script(Reply(raw=b"<html>proxy error</html>\n"))
    with pytest.raises(LLMError, match=r"^ollama at .*: unreadable answer"):
        backend_on(llm_server, "ollama").chat_json(MESSAGES, SCHEMA)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_model_is_named(llm_server: LLMServer, protocol: str) -> None:
    backend = backend_on(llm_server, protocol)
    backend.model = "llama9:70b"
    with pytest.raises(LLMError, match="llama9:70b"):
        backend.chat_json(MESSAGES, SCHEMA)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cancel_while_waiting(llm_server: LLMServer, protocol: str) -> None:
    llm_server.script(Reply.json({"title": "never"}, delay_s=30))
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            backend_on(llm_server, protocol).chat_json(MESSAGES, SCHEMA, cancel=cancel)
    finally:
        timer.cancel()


def test_ollama_unload_after_use_only(llm_server: LLMServer) -> None:
    backend = backend_on(llm_server, "ollama")
    backend.unload()  # nothing loaded yet: no request
    assert "/api/generate" not in llm_server.paths()
    llm_server.script(Reply.json({"title": "x"}))
    backend.chat_json(MESSAGES, SCHEMA)
    backend.unload()
    unloads = [r for r in llm_server.requests if r.path == "/api/generate"]
    assert len(unloads) == 1 and unloads[0].body == {"model": TEST_MODEL, "keep_alive": 0, "stream": False}


def test_api_key_is_sent_but_never_shown(llm_server: LLMServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = backend_on(llm_server, "openai", api_key=KEY)
    llm_server.script(Reply(status=401, error=f"Incorrect API key provided: {KEY}"),
                      Reply(status=500, error=f"upstream rejected key {KEY}"))
    messages = []
    for _ in range(2):
        with pytest.raises(LLMError) as err:
            backend.chat_json(MESSAGES, SCHEMA)
        messages.append(str(err.value))
    assert llm_server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert "API key" in messages[0] and "HTTP 500" in messages[1]
    assert all(KEY not in m for m in messages)
    assert KEY not in caplog.text
    assert KEY not in repr(backend.__dict__.get("_client"))


def test_make_backend_from_settings(llm_server: LLMServer) -> None:
    settings = Settings(_env_file=None, llm_backend="openai", openai_base_url=llm_server.openai_url,  # type: ignore[call-arg]
                        openai_model=TEST_MODEL, openai_api_key=KEY, ollama_url=llm_server.url, llm_timeout_s=3)
    openai_backend = make_backend(settings)
    assert isinstance(openai_backend, OpenAIBackend) and openai_backend.url == llm_server.openai_url
    ollama_backend = make_backend(settings, "ollama")
    assert isinstance(ollama_backend, OllamaBackend) and ollama_backend.timeout_s == 3
    with pytest.raises(ValueError, match="unknown LLM backend"):
        make_backend(settings, "kobold")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_health_of_a_server_without_models(protocol: str) -> None:
    with LLMServer(models=()) as server:
        backend = backend_on(server, protocol)
        backend.model = ""
        health = backend.health()
        assert not health.ok and "no chat model" in health.message and backend.url in health.message
