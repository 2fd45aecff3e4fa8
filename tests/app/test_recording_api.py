"""The /continue_recording endpoint through gradio_client, on the tiny encoder and pipeline: a script uploads a
recording and gets the song continued from it; a path on the server is never read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.studio.service import Studio

from .conftest import serving
from .test_recording_song import recording_studio, tone

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[object, Studio]]:
    studio = recording_studio(tmp_path / "data")
    with serving(studio) as client:
        yield client, studio


def test_a_script_continues_an_uploaded_recording(served, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, studio = served
    demo = tone(tmp_path / "demo.flac", 1.2)
    song = client.predict(handle_file(str(demo)), "extend", 1, "", "Demo", "rock", "[verse]\nyeah", "[chorus]\nmore",
                          "", 1, 6, "ollama", "", "", api_name="/continue_recording")
    kept = song["recording_song"]
    assert kept["settings"]["origin"] == "recording" and kept["title"] == "Demo"
    assert song["parent"] == {"song": kept["id"], "take": 1, "kind": "extend", "kept_seconds": 16 / 12.5}
    assert song["lyrics"] == "[verse]\nyeah\n\n[chorus]\nmore" and song["takes"][0]["seed"] == 6
    recording = studio.song(kept["id"])
    assert recording.recording.read_bytes() == demo.read_bytes()
    tokens = np.load(recording.takes[0].tokens)
    assert np.array_equal(np.load(studio.song(song["id"]).takes[0].tokens)[:16], tokens)  # int(1.2 x 12.5) + 1

    secret = tmp_path / "secret.wav"
    tone(secret, 1.0)
    for sent in (str(secret), {"path": str(secret)}):  # a FileData with a path: the client uploads its own file
        with pytest.raises(AppError, match="must be an uploaded file"):
            client.predict(sent, "extend", 1, "", "", "rock", "x", "", "", 1, -1, "ollama", "", "",
                           api_name="/continue_recording")
    with pytest.raises(AppError, match="mode must be extend or redo"):
        client.predict(handle_file(str(demo)), "remix", 1, "", "", "rock", "x", "", "", 1, -1, "ollama", "", "",
                       api_name="/continue_recording")
    with pytest.raises(AppError, match="Give the recording its tags"):
        client.predict(handle_file(str(demo)), "extend", 1, "", "", "", "x", "", "", 1, -1, "ollama", "", "",
                       api_name="/continue_recording")
    assert len(studio.history) == 2  # the recording and the song made from it; nothing of the refused calls


def test_a_path_outside_the_upload_folder_is_never_read(tmp_path: Path) -> None:
    """What a client could send by hand (gradio_client would upload it): a FileData naming a server path."""
    from app.studio.errors import InvalidInput
    from app.ui.api_recording import uploaded

    secret = tone(tmp_path / "secret.wav", 0.5)
    with pytest.raises(InvalidInput, match="must be a file uploaded to this page"):
        uploaded({"path": str(secret), "meta": {"_type": "gradio.FileData"}})
