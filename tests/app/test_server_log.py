"""The server's terminal says, in one line each, when a model download fails or the LLM server cannot answer
(the page says it too); a musician's own mistake is not logged, and a bug is logged with its traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.songwriter.errors import LLMError
from app.studio.errors import InvalidInput
from app.studio.models import download_all
from app.ui.common import SORRY, as_message
from heartmula_core.errors import ModelNotAvailable
from heartmula_core.hub import Catalogue


def test_a_failed_download_is_one_warning_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def unreachable(repo_id: str) -> dict[str, int]:
        raise OSError("Connection refused")

    def never(repo_id: str, **kwargs) -> str:
        raise AssertionError("nothing is fetched without a plan")

    catalogue = Catalogue(cache_dir=tmp_path / "hub", offline=False, remote_sizes=unreachable, fetch=never)
    caplog.set_level(logging.INFO)
    with pytest.raises(ModelNotAvailable):
        list(download_all(catalogue, ["gen"], poll_s=0.05))
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "download of gen failed" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage() and lines[0].exc_info is None


def test_an_llm_that_cannot_answer_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    error = as_message(LLMError("ollama", "http://127.0.0.1:9", "cannot connect (is Ollama running?)"))
    assert error.message == "ollama at http://127.0.0.1:9: cannot connect (is Ollama running?)"
    (line,) = caplog.records
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert line.getMessage().endswith("ollama at http://127.0.0.1:9: cannot connect (is Ollama running?)")


def test_the_musicians_mistakes_are_not_logged_and_bugs_are_with_their_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert as_message(InvalidInput("Describe the song first.")).message == "Describe the song first."
    assert caplog.records == []
    assert as_message(KeyError("oops")).message == SORRY
    (line,) = caplog.records
    assert line.levelno == logging.ERROR and line.exc_info is not None
