"""The /continue endpoint through gradio_client, on the real tiny pipeline: extend and redo a kept take."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.studio.jobs import Finished, MusicSettings, Sheet
from app.studio.service import Studio

from .conftest import tiny_settings
from .test_ui_api import _free_port

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[object, Studio]]:
    from gradio_client import Client

    from app.ui import launch_app

    studio = Studio(tiny_settings(tmp_path / "data"))
    port = _free_port()
    demo = launch_app(studio, "127.0.0.1", port, block=False)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False), studio
    finally:
        demo.close()


def test_continue_extends_and_redoes_a_kept_take(served) -> None:
    from gradio_client.exceptions import AppError

    client, studio = served
    sheet = Sheet("tiny", "Tiny", "[verse]\nla la la", "pop", 2.0)
    parent = [e for e in studio.compose(sheet, frozenset(), MusicSettings(variants=1, seed=2)) if isinstance(e, Finished)]
    parent = parent[0].song
    longer = client.predict(parent.id, 1, "extend", 1, "", "[verse]\nmore", "", 1, 7, "ollama", "", api_name="/continue")
    assert longer["parent"] == {"song": parent.id, "take": 1, "kind": "extend", "kept_seconds": 2.0}
    assert longer["lyrics"] == "[verse]\nla la la\n\n[verse]\nmore" and longer["takes"][0]["seed"] == 7
    assert longer["takes"][0]["decode_seed"] == parent.takes[0].seed
    redo = client.predict(parent.id, 1, "redo", 2, "0:01.2", "", "", 2, 9, "ollama", "", api_name="/continue")
    assert redo["parent"]["kind"] == "redo" and len(redo["takes"]) == 2
    old = np.load(parent.takes[0].tokens)
    for take in studio.song(redo["id"]).takes:
        assert np.array_equal(np.load(take.tokens)[:15], old[:15])
    assert [s.id for s in studio.children(parent.id)] == [longer["id"], redo["id"]]
    with pytest.raises(AppError, match="mode must be extend or redo"):
        client.predict(parent.id, 1, "remix", 2, "", "", "", 1, -1, "ollama", "", api_name="/continue")
    with pytest.raises(AppError, match="seconds or mm:ss"):
        client.predict(parent.id, 1, "redo", 2, "soon", "", "", 1, -1, "ollama", "", api_name="/continue")
