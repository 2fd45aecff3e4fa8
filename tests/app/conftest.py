"""Fixtures for the app tests: the scripted LLM wire server (tests/llm_server.py) and backends on it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.songwriter.backends import LLMBackend, OllamaBackend, OpenAIBackend
from tests.conftest import HEARTMULA_REF
from tests.llm_server import LLMServer

TEST_MODEL = "tiny-songwriter:latest"
PROTOCOLS = ("ollama", "openai")


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A started LLMServer with one model, stopped after the test."""
    with LLMServer(models=(TEST_MODEL,)) as server:
        yield server


def backend_on(server: LLMServer, protocol: str, timeout_s: float = 10.0, api_key: str | None = None) -> LLMBackend:
    """Our backend for `protocol` pointed at `server`, through the real client library."""
    if protocol == "ollama":
        return OllamaBackend(server.url, TEST_MODEL, timeout_s)
    return OpenAIBackend(server.openai_url, TEST_MODEL, timeout_s, api_key=api_key)


def refused_url() -> str:
    """A 127.0.0.1 URL with nothing listening (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def tiny_settings(data_dir: Path) -> Any:
    """App settings that make music with the tiny checkpoints on the CPU, keeping songs in `data_dir`."""
    from app.settings import load_settings

    tiny = HEARTMULA_REF / "tiny"
    return load_settings(
        Path("/dev/null"), data_dir=data_dir, lm_dir=tiny / "HeartMuLa-tiny", gen_dir=tiny / "HeartMuLaGen-tiny",
        codec_dir=tiny / "HeartCodec-tiny", device="cpu", dtype="float32",
    )
