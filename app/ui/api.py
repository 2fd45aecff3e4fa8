"""Named API endpoints for scripts (`gradio_client`): write, compose and search, with plain typed arguments.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    sheet = client.predict("rainy night jazz", "", "", "", "title,lyrics,tags", 30, "ollama", "", api_name="/write")
    song = client.predict("rainy night jazz", "", "", "", "title,lyrics,tags", 30, 2, -1, "ollama", "",
                          api_name="/compose")
    found = client.predict("rain", "newest", api_name="/search")
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.studio.errors import InvalidInput
from app.studio.history import Song
from app.studio.jobs import FIELDS, Finished, MusicSettings, Sheet, SheetWritten
from app.studio.service import Studio

from .common import guarded


def song_dict(song: Song) -> dict[str, Any]:
    """A kept song as JSON: its sheet, settings and the files of its takes (paths on the server)."""
    return {
        "id": song.id, "title": song.title, "description": song.description, "lyrics": song.lyrics,
        "tags": song.tags, "seconds": song.seconds, "created": song.created, "settings": song.settings,
        "takes": [{"index": t.index, "seed": t.seed, "audio": str(t.audio)} for t in song.takes],
    }


def _fill(text: str) -> frozenset[str]:
    names = frozenset(n.strip().lower() for n in (text or "").split(",") if n.strip())
    unknown = names - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) to fill: {', '.join(sorted(unknown))} (choose from {', '.join(FIELDS)})")
    return names


def register(studio: Studio) -> None:
    """Add the endpoints to the Blocks being built."""

    @guarded
    def write(description: str, title: str = "", lyrics: str = "", tags: str = "", fill: str = "title,lyrics,tags",
              seconds: float = 30.0, backend: str = "ollama", model: str = "") -> dict[str, Any]:
        """Fill the listed fields (comma-separated) of a song sheet with the LLM; returns the sheet and repairs."""
        sheet = Sheet(description, title, lyrics, tags, float(seconds))
        written = None
        for event in studio.write(sheet, _fill(fill), studio.llm_choice(backend, model=model)):
            if isinstance(event, SheetWritten):
                written = event
        assert written is not None  # the writer either returns a sheet or raises
        return {**{f: getattr(written.sheet, f) for f in FIELDS}, "seconds": written.sheet.seconds,
                "repairs": list(written.repairs)}

    @guarded
    def compose(description: str, title: str = "", lyrics: str = "", tags: str = "", fill: str = "",
                seconds: float = 30.0, variants: int = 1, seed: int = -1, backend: str = "ollama",
                model: str = "") -> dict[str, Any]:
        """Write the listed fields (if any), make the music, keep it; returns the song with its take files."""
        sheet = Sheet(description, title, lyrics, tags, float(seconds))
        music = MusicSettings(variants=int(variants), seed=None if seed is None or int(seed) < 0 else int(seed),
                              lm_variant=studio.settings.lm_variant)
        fields = _fill(fill)
        choice = studio.llm_choice(backend, model=model) if fields else None
        for event in studio.compose(sheet, fields, music, choice):
            if isinstance(event, Finished):
                return song_dict(event.song)
        raise RuntimeError("the job ended without a song")

    @guarded
    def search(query: str = "", sort: str = "newest") -> list[dict[str, Any]]:
        """Kept songs matching every word of `query` (all when empty), sorted newest, oldest or title."""
        return [song_dict(s) for s in studio.search(query, sort)]

    gr.api(write, api_name="write", concurrency_limit=None)
    gr.api(compose, api_name="compose", concurrency_limit=None)
    gr.api(search, api_name="search", concurrency_limit=None)
