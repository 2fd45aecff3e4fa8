"""`python -m app song --continue SONG_ID[:TAKE] [--from TIME]`: extend and redo a kept take headless."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.studio.history import History
from tests.llm_server import LLMServer

from .test_song_cli import run_song


def test_continue_extends_then_redoes_from_a_time(llm_server: LLMServer, tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("[verse]\nold words", encoding="utf-8")
    (tmp_path / "more.txt").write_text("[verse]\nnew words", encoding="utf-8")
    first = run_song(tmp_path, llm_server, "a tune", "--title", "Tune", "--tags", "pop", "--lyrics-file", "words.txt",
                     "--seconds", "1.6", "--seed", "4", "--out", "a.wav")
    assert first.returncode == 0, first.stderr
    history = History(tmp_path / "data")
    (parent,) = history.search("tune")
    longer = run_song(tmp_path, llm_server, "--continue", f"{parent.id}:1", "--lyrics-file", "more.txt",
                      "--seconds", "0.8", "--out", "b.wav")
    assert longer.returncode == 0, longer.stderr
    (child,) = history.children(parent.id)
    assert child.lyrics == "[verse]\nold words\n\n[verse]\nnew words" and child.parent.kind == "extend"
    assert f"kept in history as {child.id}" in longer.stderr and (tmp_path / "b.wav").is_file()
    redo = run_song(tmp_path, llm_server, "--continue", parent.id, "--from", "0:00.8", "--variants", "2",
                    "--out", "c.wav")
    assert redo.returncode == 0, redo.stderr
    redone = history.children(parent.id)[1]
    assert redone.parent.kind == "redo" and redone.lyrics == parent.lyrics and len(redone.takes) == 2
    old = np.load(parent.takes[0].tokens)
    assert all(np.array_equal(np.load(t.tokens)[:10], old[:10]) for t in redone.takes)  # round(0.8 x 12.5) = 10
    assert not llm_server.chat_requests  # nothing was asked of the LLM


def test_continue_mistakes_are_one_line(llm_server: LLMServer, tmp_path: Path) -> None:
    for args, message in [
        (["--continue", "nope:x"], "SONG_ID or SONG_ID:TAKE"),
        (["--continue", "20990101-000000-abcdef"], "no longer in the history"),
        (["--from", "0:10"], "--from goes with --continue"),
        (["a description", "--continue", "20990101-000000-abcdef"], "keeps its description"),
    ]:
        done = run_song(tmp_path, llm_server, *args, "--out", "x.wav")
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
