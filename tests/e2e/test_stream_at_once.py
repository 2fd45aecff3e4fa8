"""A busy browser reads a job's stream in lumps: every finished take still has its audio on the page.

Gradio's page script applies each message of a running job as a diff, in place, on the objects the message
before handed over; a take's player that is drawn only after the next message was read (two messages in one
read, as on a busy machine) found its file emptied and stayed without audio. Here the page gets the whole
stream of a Compose in one piece, the extreme of that: each take must still play, from the very file it was
given while the song was made (the preview, equal to the kept take).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile as sf

from app.studio.history import History
from heartmula_core.audio import read_audio

from .test_compose import KEPT, TIMEOUT_MS, fill_song
from .test_streaming import LYRICS, PCM_LSB, TAGS
from .test_webapp import wait_playable

pytestmark = pytest.mark.timeout(420)
LOAD_MS = 60_000  # a generous wait for a player to load a local file; an empty one never does

FETCH_PLAYER = """async (sel) => {
    const link = document.querySelector(sel + ' a.download-link[href]');
    const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
}"""


def whole_stream(route) -> None:
    """Hold the job's stream until it has ended, then give the page all of it at once."""
    route.fulfill(response=route.fetch(timeout=TIMEOUT_MS))


def test_every_take_plays_when_the_page_reads_the_stream_at_once(page, app_env) -> None:
    history = History(app_env["HEARTSONG_DATA_DIR"])
    # The page opens its stream when it loads and may keep it open: so the route, then the page anew.
    page.route("**/gradio_api/queue/data?*", whole_stream)
    try:
        page.reload()
        page.get_by_role("tab", name="Create").wait_for()
        fill_song(page, LYRICS, TAGS, 30, 2)
        page.locator("#create-compose").click()
        page.locator("#create-status").get_by_text(KEPT).wait_for(timeout=TIMEOUT_MS * 2)
        for take in (1, 2):
            wait_playable(page, f"#take-{take}-audio", 25.0, LOAD_MS)
    finally:  # a stream still held when the page closes is not an error of this test
        page.unroute_all(behavior="ignoreErrors")
    assert page.locator("#create-live-audio").count() == 0  # Take 1 has its own player: no second one

    song = history.search("sunflowers")[0]
    for take in (1, 2):
        heard, rate = sf.read(io.BytesIO(base64.b64decode(page.evaluate(FETCH_PLAYER, f"#take-{take}-audio"))),
                              dtype="float32", always_2d=True)
        kept, kept_rate = read_audio(song.takes[take - 1].audio)
        assert rate == kept_rate == 48000
        np.testing.assert_allclose(heard.T, kept, atol=PCM_LSB)
