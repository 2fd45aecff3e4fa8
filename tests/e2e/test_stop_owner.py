"""A job belongs to whoever started it: a page tab and two API clients compose at once (one device, in turn),
and each Stop ends only its own song. API jobs are stopped by the id `/compose` answers first."""

from __future__ import annotations

import time

import pytest

from app.studio.history import History

from .test_compose import TIMEOUT_MS, fill_song

pytestmark = pytest.mark.timeout(600)


def _submit(client, word: str):
    """An API Compose of a one-second song with `word` in its lyrics (nothing for the LLM to write)."""
    return client.submit("", f"{word} song", f"[verse]\n{word} in the queue\n[chorus]\nla", "pop", "", 1, 1, 1,
                         "ollama", "", api_name="/compose")


def _job_id(job) -> str:
    """The id the API Compose answers first (before the song)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not job.outputs():
        assert not job.done(), f"the compose ended without an id: {job.exception()}"
        assert time.monotonic() < deadline, "the compose never answered its id"
        time.sleep(0.1)
    return str(job.outputs()[0]["job"])


def test_each_stop_ends_only_its_own_song(page, app_url: str, app_env: dict[str, str]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    history = History(app_env["HEARTSONG_DATA_DIR"])
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    # The tab's song is long: it holds the device while both API songs wait their turn behind it.
    fill_song(page, "[verse]\nthe tab sings of tulips\n[chorus]\nla la", "pop", 150, 1)
    page.locator("#create-compose").click()
    page.locator("#create-status").get_by_text("frames").wait_for(timeout=TIMEOUT_MS)
    anemones, bluebells = _submit(first, "anemones"), _submit(second, "bluebells")
    anemones_id, bluebells_id = _job_id(anemones), _job_id(bluebells)
    assert anemones_id != bluebells_id

    # Ids nobody was given stop nothing.
    for guess in ("", " ", "*", anemones_id[:-1], f"../{anemones_id}", anemones_id.upper(), "none"):
        assert second.predict(guess, api_name="/stop") == {"job": guess, "stopped": 0}

    # The first client stops its own song: only that one ends.
    assert first.predict(anemones_id, api_name="/stop") == {"job": anemones_id, "stopped": 1}
    with pytest.raises(AppError, match="Stopped"):
        anemones.result(timeout=TIMEOUT_MS / 1000)
    page.wait_for_timeout(1500)
    assert "frames" in page.locator("#create-status").inner_text()  # the tab's song is still being made
    assert not bluebells.done()

    # The tab's Stop ends the tab's song; the second client's song is then made and kept.
    page.locator("#create-stop").click()
    page.locator("#create-status").get_by_text("Stopped").wait_for(timeout=TIMEOUT_MS)
    song = bluebells.result(timeout=TIMEOUT_MS / 1000)
    assert song["job"] == bluebells_id and song["takes"][0]["url"].endswith("take-1.flac")
    assert history.search("bluebells") and not history.search("anemones") and not history.search("tulips")
    # Its Stop now finds nothing left to stop.
    assert second.predict(bluebells_id, api_name="/stop") == {"job": bluebells_id, "stopped": 0}
