"""The named endpoint `/continue_recording`: start a song from your own recording, for scripts.

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    song = client.predict(handle_file("demo.wav"), "extend", 20, "", "My demo", "indie,guitar",
                          "[verse]\\nwhat I sang", "[chorus]\\nwhat comes next", "", 1, -1, "ollama", "", "",
                          api_name="/continue_recording")
    song["recording_song"]["id"]   # the recording, kept as a song of its own (its tokens and the file beside them)
    song["parent"]            # the new song came from take 1 of it

The file must be one this page received as an upload (gradio_client's `handle_file` sends it): a path on the
server is refused, so a script cannot make Heartsong read a file it was not given.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder, is_in_or_equal

from app.studio.errors import InvalidInput
from app.studio.jobs import Finished
from app.studio.recordings import RecordingKept
from app.studio.service import Studio

from . import api_args
from .api import song_dict
from .common import guarded


def uploaded(value: Any) -> Path:
    """The server's copy of a file a client uploaded (a FileData dict), or InvalidInput.

    Gradio checks a FileData it is sent lies in its upload folder; a plain path, or a dict without the FileData
    marker (which Gradio would not check), is refused here, and the path is checked again all the same."""
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or \
            (value.get("meta") or {}).get("_type") != "gradio.FileData":
        raise InvalidInput("recording must be an uploaded file (gradio_client's handle_file(path)), not a path")
    path = Path(value["path"])
    if not is_in_or_equal(path, get_upload_folder()) or not path.is_file():
        raise InvalidInput("recording must be a file uploaded to this page")
    return path


def register(studio: Studio) -> None:
    """Add the endpoint to the Blocks being built."""
    @guarded
    def continue_recording(recording: dict, mode: str = "extend", seconds: float = 30.0, from_time: str = "",
                           title: str = "", tags: str = "", lyrics: str = "", new_lyrics: str = "",
                           fill: str = "", variants: int = 1, seed: int = -1, backend: str = "ollama",
                           model: str = "", description: str = "") -> dict[str, Any]:
        """Turn an uploaded recording into tokens, keep it as a song (`title`, `tags` needed, the `lyrics` sung in
        it), then continue it: mode "extend" adds `seconds` (`new_lyrics` after its lyrics, or written by the LLM
        when `fill` is "lyrics"); mode "redo" keeps it up to `from_time` (seconds or mm:ss) and makes the rest
        again, `seconds` long in all. Returns the new song, with the kept recording's song under "recording_song"."""
        path = uploaded(recording)  # every argument checked first
        args = api_args.continuation(mode, seconds, from_time, new_lyrics, fill, variants, seed, backend, model,
                                     lm_variant=studio.settings.lm_variant, new_lyrics_name="new_lyrics",
                                     recording_sheet=(description, title, lyrics, tags))
        assert args.sheet is not None  # given a recording_sheet, it is checked and returned
        choice = studio.llm_choice(args.backend, model=args.model) if args.fill else None
        events = studio.continue_recording(
            path, args.sheet, args.kind, seconds=args.seconds, from_seconds=args.from_seconds,
            new_lyrics=args.new_lyrics, fill=args.fill, music=args.music, choice=choice,
            session=f"api-job:{secrets.token_urlsafe(16)}")  # its own: no other client's or tab's Stop reaches it
        kept = None
        for event in events:
            if isinstance(event, RecordingKept):
                kept = song_dict(event.song)
            elif isinstance(event, Finished):
                return {**song_dict(event.song), "recording_song": kept}
        raise RuntimeError("the job ended without a song")

    gr.api(continue_recording, api_name="continue_recording", concurrency_limit=None)
