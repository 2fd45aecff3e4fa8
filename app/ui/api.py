"""Named API endpoints for scripts (`gradio_client`): write, compose, continue and search, with plain typed
arguments.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    sheet = client.predict("rainy night jazz", "", "", "", "title,lyrics,tags", 30, "ollama", "", api_name="/write")
    song = client.predict("rainy night jazz", "", "", "", "title,lyrics,tags", 30, 2, -1, "ollama", "",
                          api_name="/compose")
    found = client.predict("rain", "newest", api_name="/search")
    longer = client.predict(song["id"], 1, "extend", 20, "", "[verse]\\nnew words", "", 1, -1, "ollama", "",
                            api_name="/continue")                    # 20 s more, new lyrics after the old
    redo = client.predict(song["id"], 1, "redo", 30, "0:18", "", "", 2, -1, "ollama", "", api_name="/continue")
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from heartmula_core.request import parse_time

from app.studio.history import Song
from app.studio.jobs import FIELDS, Finished, MusicSettings, Sheet, SheetWritten
from app.studio.service import Studio

from .common import guarded


def song_dict(song: Song) -> dict[str, Any]:
    """A kept song as JSON: its sheet, settings and the files of its takes (paths on the server)."""
    return {
        "id": song.id, "title": song.title, "description": song.description, "lyrics": song.lyrics,
        "tags": song.tags, "seconds": song.seconds, "created": song.created, "settings": song.settings,
        "takes": [{"index": t.index, "seed": t.seed, "decode_seed": t.codec_seed, "audio": str(t.audio)}
                  for t in song.takes],
        "parent": song.parent.as_json() if song.parent is not None else None,
    }


def _fill(text: str) -> frozenset[str]:
    names = frozenset(n.strip().lower() for n in (text or "").split(",") if n.strip())
    unknown = names - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) to fill: {', '.join(sorted(unknown))} (choose from {', '.join(FIELDS)})")
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
    def continue_song(song_id: str, take: int = 1, mode: str = "extend", seconds: float = 30.0, from_time: str = "",
                      lyrics: str = "", fill: str = "", variants: int = 1, seed: int = -1, backend: str = "ollama",
                      model: str = "") -> dict[str, Any]:
        """Continue take `take` of a kept song into a new song: mode "extend" adds `seconds` after the whole take
        (`lyrics` appended to the old ones, or written by the LLM when `fill` is "lyrics"); mode "redo" keeps the
        take up to `from_time` (seconds or mm:ss) and makes the rest again, `seconds` long in all, with the same
        lyrics. Returns the new song; its "parent" names the take it came from."""
        if mode not in ("extend", "redo"):
            raise ValueError(f"mode must be extend or redo, not {mode!r}")
        cut = parse_time(from_time) if (from_time or "").strip() else None
        fields = _fill(fill)
        music = MusicSettings(variants=int(variants), seed=None if seed is None or int(seed) < 0 else int(seed),
                              lm_variant=studio.settings.lm_variant)
        choice = studio.llm_choice(backend, model=model) if fields else None
        events = studio.continue_song(song_id, int(take), mode, seconds=float(seconds), from_seconds=cut,  # type: ignore[arg-type]
                                      new_lyrics=lyrics, fill=fields, music=music, choice=choice)
        for event in events:
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
    gr.api(continue_song, api_name="continue", concurrency_limit=None)
