"""Named API endpoints for scripts (`gradio_client`): write, compose, stop, continue and search, with plain typed
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

Every API call is a job of its own, never shared with another client or a page tab: `/compose` answers
`{"job": id}` first and the song last, and `/stop` with that id stops that song only.

    job = client.submit(..., api_name="/compose")        # job.outputs()[0]["job"] once it has started
    client.predict(job_id, api_name="/stop")             # {"job": job_id, "stopped": 1}
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import gradio as gr

from app.studio.history import Song
from app.studio.jobs import FIELDS, Finished, SheetWritten
from app.studio.service import Studio

from . import api_args
from .common import guarded
from .take_route import take_url


def song_dict(song: Song) -> dict[str, Any]:
    """A kept song as JSON: its sheet, settings and its takes, each by its file name in the song and the URL
    (relative to the app) that serves its audio; no path on the server."""
    return {
        "id": song.id, "title": song.title, "description": song.description, "lyrics": song.lyrics,
        "tags": song.tags, "seconds": song.seconds, "created": song.created, "settings": song.settings,
        "takes": [{"index": t.index, "seed": t.seed, "decode_seed": t.codec_seed, "audio": t.audio.name,
                   "url": take_url(song.id, t.index)} for t in song.takes],
        "parent": song.parent.as_json() if song.parent is not None else None,
    }


JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): unguessable, so only its owner can stop it


def _session(job: str) -> str:
    """The studio session an API job runs in (no page tab has one like it)."""
    return f"api-job:{job}"


def register(studio: Studio) -> None:
    """Add the endpoints to the Blocks being built."""

    @guarded
    def write(description: str, title: str = "", lyrics: str = "", tags: str = "", fill: str = "title,lyrics,tags",
              seconds: float = 30.0, backend: str = "ollama", model: str = "") -> dict[str, Any]:
        """Fill the listed fields (comma-separated) of a song sheet with the LLM; returns the sheet and repairs."""
        sheet = api_args.sheet(description, title, lyrics, tags, seconds)  # every argument checked first
        fields = api_args.fill_fields(fill)
        backend, model = api_args.llm(backend, model)
        written = None
        session = _session(secrets.token_urlsafe(16))  # its own: no other client's or tab's Stop reaches it
        for event in studio.write(sheet, fields, studio.llm_choice(backend, model=model), session):
            if isinstance(event, SheetWritten):
                written = event
        assert written is not None  # the writer either returns a sheet or raises
        return {**{f: getattr(written.sheet, f) for f in FIELDS}, "seconds": written.sheet.seconds,
                "repairs": list(written.repairs)}

    @guarded
    def compose(description: str, title: str = "", lyrics: str = "", tags: str = "", fill: str = "",
                seconds: float = 30.0, variants: int = 1, seed: int = -1, backend: str = "ollama",
                model: str = "") -> Iterator[dict[str, Any]]:
        """Write the listed fields (if any), make the music, keep it. Answers `{"job": id}` as soon as the job
        runs (pass the id to /stop), then the song with its takes and the same `job`."""
        sheet = api_args.sheet(description, title, lyrics, tags, seconds)  # every argument checked first
        fields = api_args.fill_fields(fill)
        music = api_args.music(variants, seed, studio.settings.lm_variant)
        backend, model = api_args.llm(backend, model)
        choice = studio.llm_choice(backend, model=model) if fields else None
        job = secrets.token_urlsafe(16)
        announced = False
        for event in studio.compose(sheet, fields, music, choice, _session(job)):
            if not announced:  # the job is registered once it runs: a Stop sent from now on finds it
                announced = True
                yield {"job": job}
            if isinstance(event, Finished):
                yield {"job": job, **song_dict(event.song)}
                return
        raise RuntimeError("the job ended without a song")

    @guarded
    def stop(job: str) -> dict[str, Any]:
        """Stop the /compose whose id is `job`; `stopped` says how many jobs were told to stop (0 or 1)."""
        stopped = studio.stop(_session(job)) if JOB_ID.fullmatch(job or "") else 0
        return {"job": job, "stopped": stopped}

    @guarded
    def continue_song(song_id: str, take: int = 1, mode: str = "extend", seconds: float = 30.0, from_time: str = "",
                      lyrics: str = "", fill: str = "", variants: int = 1, seed: int = -1, backend: str = "ollama",
                      model: str = "") -> dict[str, Any]:
        """Continue take `take` of a kept song into a new song: mode "extend" adds `seconds` after the whole take
        (`lyrics` appended to the old ones, or written by the LLM when `fill` is "lyrics"); mode "redo" keeps the
        take up to `from_time` (seconds or mm:ss) and makes the rest again, `seconds` long in all, with the same
        lyrics. Returns the new song; its "parent" names the take it came from."""
        song_id = api_args.text(song_id, "song_id", max_chars=100)  # every argument checked first
        take = api_args.whole(take, "take", 1, 1000)
        args = api_args.continuation(mode, seconds, from_time, lyrics, fill, variants, seed, backend, model,
                                     lm_variant=studio.settings.lm_variant)
        choice = studio.llm_choice(args.backend, model=args.model) if args.fill else None
        events = studio.continue_song(song_id, take, args.kind, seconds=args.seconds, from_seconds=args.from_seconds,
                                      new_lyrics=args.new_lyrics, fill=args.fill, music=args.music, choice=choice,
                                      session=_session(secrets.token_urlsafe(16)))  # its own: no other Stop reaches it
        for event in events:
            if isinstance(event, Finished):
                return song_dict(event.song)
        raise RuntimeError("the job ended without a song")

    @guarded
    def search(query: str = "", sort: str = "newest") -> list[dict[str, Any]]:
        """Kept songs matching every word of `query` (all when empty), sorted newest, oldest or title."""
        return [song_dict(s) for s in studio.search(*api_args.search(query, sort))]

    gr.api(write, api_name="write", concurrency_limit=None)
    gr.api(compose, api_name="compose", concurrency_limit=None)
    gr.api(search, api_name="search", concurrency_limit=None)
    gr.api(stop, api_name="stop", concurrency_limit=None)
    gr.api(continue_song, api_name="continue", concurrency_limit=None)
