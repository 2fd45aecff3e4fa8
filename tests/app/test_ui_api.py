"""The page's named endpoints through gradio_client: /search, /write and /compose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.settings import load_settings
from app.studio.history import NewTake
from app.studio.service import Studio
from tests.llm_server import LLMServer, Reply

from .conftest import TEST_MODEL, serving

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def served(tmp_path: Path, llm_server: LLMServer) -> Iterator[tuple[object, Studio]]:
    settings = load_settings(Path("/dev/null"), data_dir=tmp_path / "data", ollama_url=llm_server.url,
                             ollama_model=TEST_MODEL)
    studio = Studio(settings)
    with serving(studio) as client:
        yield client, studio


def test_named_endpoints(served, llm_server: LLMServer) -> None:
    client, studio = served
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/write", "/compose", "/search"} <= set(names)

    take = NewTake(np.zeros((2, 4800), np.float32), 48000, 3, None)
    kept = studio.history.save(title="Blue Hour", description="", lyrics="[verse]\ncobalt sky", tags="jazz",
                               seconds=0.1, takes=[take])
    found = client.predict("cobalt", "newest", api_name="/search")
    assert [s["id"] for s in found] == [kept.id] and found[0]["takes"][0]["seed"] == 3
    assert client.predict("nothing here", "newest", api_name="/search") == []

    llm_server.script(Reply.json({"title": "Tidal", "tags": "ambient"}))
    sheet = client.predict("waves at night", "", "", "", "title,tags", 30, "ollama", "", api_name="/write")
    assert (sheet["title"], sheet["tags"], sheet["lyrics"]) == ("Tidal", "ambient", "")


def test_endpoint_errors_are_one_line(served) -> None:
    from gradio_client.exceptions import AppError

    client, _ = served
    with pytest.raises(AppError, match="unknown field"):
        client.predict("x", "", "", "", "chorus", 30, "ollama", "", api_name="/write")
    with pytest.raises(AppError, match="sort must be one of"):
        client.predict("", "sideways", api_name="/search")
