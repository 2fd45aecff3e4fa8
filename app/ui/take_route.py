"""The HTTP route for a kept take's audio: `heartsong/songs/<song id>/take-<N>.<wav|flac|mp3|ogg>`.

This is how a script that called `/compose` or `/search` fetches the audio: the answers name takes by this
song-relative URL, never by a path on the server. Only takes of songs in the history are served, only as audio.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.studio.errors import SongNotFound
from app.studio.service import Studio

PREFIX = "heartsong/songs"
MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


def take_url(song_id: str, index: int, fmt: str = "flac") -> str:
    """A take's audio URL, relative to the page (so it works under any root path)."""
    return f"{PREFIX}/{song_id}/take-{index}.{fmt}"


def routes(studio: Studio) -> list[Route]:
    """The route to add to the page's server."""

    def serve(request: Request) -> Response:
        params = request.path_params
        fmt = str(params["fmt"]).lower()
        if fmt not in MEDIA_TYPES:
            return PlainTextResponse("Takes are served as WAV, FLAC, MP3 or OGG.", status_code=404)
        try:
            path = studio.export(params["song_id"], int(params["index"]), fmt)
        except SongNotFound:
            return PlainTextResponse("No such take in the history.", status_code=404)
        return FileResponse(path, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"})

    return [Route(f"/{PREFIX}/{{song_id}}/take-{{index:int}}.{{fmt}}", serve, methods=["GET", "HEAD"])]
