"""A first run: no models on the computer, Hugging Face offline, one LLM server up and one down. Before any click
the Create tab says which models a song needs and what answers; Compose says what is true; nothing blanks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import open_page, running_app, screenshot
from .test_compose import TIMEOUT_MS, fill_song

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def fresh_app(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app as a new user starts it: no model folders, an empty Hugging Face cache, offline."""
    env = {k: v for k, v in app_env.items() if not k.endswith("_DIR")}
    home = tmp_path_factory.mktemp("fresh")
    env |= {"HEARTSONG_DATA_DIR": str(home / "data"), "HF_HOME": str(home / "hf"),
            "HEARTSONG_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # nothing listens on the discard port
    env.pop("HF_HUB_CACHE", None)
    log = home / "app.log"
    with running_app(env, log) as url:
        yield url
    print(log.read_text()[-2000:])


@pytest.fixture
def fresh_page(browser, fresh_app: str):
    with open_page(browser, fresh_app, width=1400) as page:
        yield page


def test_before_the_first_click_the_page_says_what_a_song_needs_and_what_answers(fresh_page) -> None:
    page = fresh_page
    ready = page.locator("#create-ready")
    ready.get_by_text("a song needs").wait_for(timeout=TIMEOUT_MS)
    text = ready.inner_text()
    for name in ("hny", "gen", "codec"):
        assert f"{name} (missing)" in text, text
    assert "size is unknown" in text  # offline: the Hub cannot be asked, and no size is made up
    assert "✓ ollama at" in text and "1 model, using" in text  # the scripted LLM server answers
    assert "✗ openai at http://127.0.0.1:9/v1: cannot connect" in text
    assert page.locator("#create-get-models").is_visible()
    screenshot(page, "first-run")

    # The button tries, and says why it cannot (offline), in one line; the block stays.
    page.locator("#create-get-models").click()
    status = page.locator("#create-get-status")
    status.get_by_text("Not downloaded").wait_for(timeout=TIMEOUT_MS)
    assert "HF_HUB_OFFLINE=1" in status.inner_text()
    assert "a song needs" in ready.inner_text()

    # Compose says what is true: these models are missing, and Hugging Face is set offline here.
    fill_song(page, "[verse]\nfirst song ever\n[chorus]\nla", "pop", 2, 1)
    page.locator("#create-compose").click()
    error = page.get_by_text("This song needs hny, gen, codec").first
    error.wait_for(timeout=TIMEOUT_MS)
    assert "downloads are off" not in page.content()
    assert "Traceback" not in page.content()


def test_transcribe_without_its_model_is_off_and_says_why(fresh_page) -> None:
    page = fresh_page
    page.get_by_role("tab", name="Transcribe").click()
    status = page.locator("#transcribe-status")
    status.get_by_text("Transcribing needs the transcriptor model").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#transcribe-run").is_disabled()
    assert "Ready to transcribe" not in status.inner_text()
