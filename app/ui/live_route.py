"""The HTTP route a live player reads: `heartsong/live/<token>.wav`, a take's WAV stream while it is made.

Gradio's own streaming audio output re-encodes every chunk with ffmpeg, which Heartsong does not require; a
browser plays a 16-bit WAV that keeps arriving just as well, from the first decoded piece on.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from app.studio.service import Studio

PREFIX = "heartsong/live"


def live_url(token: str) -> str:
    """The player's source for a live take (relative, so it works under any root path)."""
    return f"{PREFIX}/{token}.wav"


def routes(studio: Studio) -> list[Route]:
    """The routes to add to the page's server (passed to `launch` as the FastAPI app's first routes)."""

    def serve(request: Request) -> Response:
        take = studio.live.get(request.path_params["token"])
        if take is None:
            return PlainTextResponse("This take is no longer playing live; find it in History.", status_code=404)
        # A sync iterator: Starlette reads it in its thread pool, so waiting for the next piece blocks no one.
        return StreamingResponse(take.wav_stream(), media_type="audio/wav", headers={"Cache-Control": "no-store"})

    return [Route(f"/{PREFIX}/{{token}}.wav", serve, methods=["GET"])]
