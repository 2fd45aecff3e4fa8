"""`python -m app write` as a musician runs it: a subprocess against the scripted wire server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_server import LLMServer, Reply

from .conftest import PROTOCOLS, TEST_MODEL, refused_url

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-cli-secret-1122334455"
GOOD = {
    "title": "Open Road",
    "lyrics": "[verse]\nwheels on the highway\n\n[chorus]\nwe ride till dawn",
    "tags": "POP,pop, ,Happy",
}


def run_write(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, verbose: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI from an empty folder (no .env) with a clean HEARTSONG_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEARTSONG_") and k != "OPENAI_API_KEY"}
    clean.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "app", *(["-v"] if verbose else []), "write", *args],
        cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120,
    )


def server_args(server: LLMServer, protocol: str) -> list[str]:
    url = server.url if protocol == "ollama" else server.openai_url
    return ["--backend", protocol, "--base-url", url, "--model", TEST_MODEL]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_write_prints_the_sheet_as_json(llm_server: LLMServer, tmp_path: Path, protocol: str) -> None:
    llm_server.script(Reply.json(GOOD))
    done = run_write(tmp_path, "--description", "summer pop", "--fill", "title,lyrics,tags", "--seconds", "30",
                     *server_args(llm_server, protocol))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"title": "Open Road", "lyrics": GOOD["lyrics"], "tags": "pop,happy", "description": "summer pop",
                   "seconds": 30.0, "repairs": []}


def test_lyrics_file_quoted_line_and_settings_from_env_file(llm_server: LLMServer, tmp_path: Path) -> None:
    (tmp_path / "draft.txt").write_text('[chorus]\n"we ride till dawn"\n', encoding="utf-8")
    (tmp_path / "my.env").write_text(
        f"HEARTSONG_LLM_BACKEND=openai\nHEARTSONG_OPENAI_BASE_URL={llm_server.openai_url}\n"
        f"HEARTSONG_OPENAI_MODEL={TEST_MODEL}\nHEARTSONG_OPENAI_API_KEY={KEY}\n",
        encoding="utf-8",
    )
    llm_server.script(Reply.json({"lyrics": "[verse]\nwheels\n\n[chorus]\nwe ride until dawn"}))
    done = run_write(tmp_path, "--description", "pop", "--lyrics-file", "draft.txt", "--fill", "lyrics",
                     "--env-file", "my.env", verbose=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["lyrics"] == '[verse]\nwheels\n\n[chorus]\n"we ride till dawn"'
    assert out["repairs"] == ['restored quoted line "we ride till dawn" (the LLM had changed it to "we ride until dawn")']
    assert llm_server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in done.stdout + done.stderr  # not even with -v logging


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_down_is_one_line_and_exit_2(tmp_path: Path, protocol: str) -> None:
    url = refused_url() + ("/v1" if protocol == "openai" else "")
    done = run_write(tmp_path, "--description", "pop", "--fill", "title", "--backend", protocol, "--base-url", url,
                     "--model", TEST_MODEL, env={"OPENAI_API_KEY": KEY})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: {protocol} at {url}: " + done.stderr.split(": ", 2)[2].rstrip()]
    assert "cannot connect" in done.stderr and "Traceback" not in done.stderr and KEY not in done.stderr


@pytest.mark.parametrize(
    ("replies", "extra", "expected"),
    [
        ([Reply("junk"), Reply("more junk")], [], "answered unusable JSON twice"),
        ([Reply.json(GOOD, delay_s=30)], ["--timeout", "0.5"], "no complete answer within 0.5 s (timeout)"),
        ([Reply(status=500, error="boom")], [], "HTTP 500: boom"),
    ],
    ids=["junk-twice", "timeout", "http-500"],
)
def test_llm_failures_are_one_line_and_exit_2(
    llm_server: LLMServer, tmp_path: Path, replies: list[Reply], extra: list[str], expected: str
) -> None:
    llm_server.script(*replies)
    done = run_write(tmp_path, "--description", "pop", "--fill", "title", *server_args(llm_server, "ollama"), *extra)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: ollama at {llm_server.url}: {expected}")
    assert len(done.stderr.splitlines()) == 1


def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (["--fill", "title"], "the description is empty"),
        (["--description", "x", "--fill", "title", "--seconds", "1"], "invalid seconds"),
        (["--description", "x", "--fill", "lyrics", "--lyrics-file", "missing.txt"], "missing.txt"),
        (["--description", "x", "--fill", "title", "--timeout", "0"], "invalid llm_timeout_s"),
        (["--description", "x", "--fill", "title", "--env-file", "typo.env"], "settings file typo.env does not exist"),
    ]
    (tmp_path / "huge.txt").write_text("la\n" * 10_000, encoding="utf-8")
    cases.append((["--description", "x", "--fill", "title", "--lyrics-file", "huge.txt"], "10,000 lines"))
    for args, expected in cases:
        done = run_write(tmp_path, *args, "--base-url", refused_url())
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and expected in done.stderr, (args, done.stderr)
