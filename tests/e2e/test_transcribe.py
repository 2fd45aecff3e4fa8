"""Transcribe in the browser with a tiny random HeartTranscriptor: upload, lyrics appear, send them to Create."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartmula_core.audio import write_audio

from .conftest import screenshot
from .test_webapp import open_tab
from .test_write import field

pytestmark = pytest.mark.timeout(300)
TIMEOUT_MS = 120_000
BEFORE = "words from before the transcription"


def test_upload_transcribe_and_send_the_lyrics_to_create(page, tmp_path: Path) -> None:
    song = tmp_path / "my song.flac"
    rng = np.random.default_rng(0)
    write_audio(song, (rng.standard_normal((2, 3 * 16000)) * 0.2).astype(np.float32), 16000)
    field(page, "lyrics").fill("[verse]\nlyrics that Send must replace")

    open_tab(page, "Transcribe")
    lyrics = page.locator("#transcribe-lyrics textarea")
    lyrics.fill(BEFORE)
    page.locator("#transcribe-upload input[type=file]").set_input_files(str(song))
    page.locator("#transcribe-status").get_by_text("Ready to transcribe: 3.0 s").wait_for(timeout=TIMEOUT_MS)
    page.locator("#transcribe-run").click()
    # The random model hears noise: it writes some words, or says it heard none; either way the box is new.
    page.locator("#transcribe-status").get_by_text("Send to Create").or_(
        page.locator("#transcribe-status").get_by_text("No words were heard")
    ).wait_for(timeout=TIMEOUT_MS)
    heard = lyrics.input_value()
    assert heard != BEFORE
    screenshot(page, "transcribe-done")
    assert "Traceback" not in page.content()

    page.locator("#transcribe-send").click()
    page.wait_for_function(
        "(text) => document.querySelector('#create-lyrics textarea').value === text", arg=heard, timeout=TIMEOUT_MS
    )
    assert page.get_by_role("tab", name="Create").get_attribute("aria-selected") == "true"
    assert not page.locator("#create-gen-lyrics input").is_checked()  # the musician's lyrics now, not the LLM's
