"""Browser tests: the real app (`python -m app`) on a free port, driven by Debian's chromium through Playwright.

The app runs as a subprocess with the tiny checkpoints from tests/fixtures and a data folder in a temp dir, so
nothing touches the network or the user's songs. When no chromium is installed (`./install.sh --browser` installs
it) the tests skip with a message, except under CI (`CI=true`), where the run fails: CI must not pass without them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llm_server import LLMServer
from tests.tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "heartmula" / "tiny"
STYLE = ROOT / "tests" / "fixtures" / "muq_mulan" / "tiny" / "MuQ-MuLan-tiny"
ENCODER = ROOT / "tests" / "fixtures" / "heartcodec_encoder" / "HeartCodec-encoder-tiny"  # pairs with HeartCodec-tiny
SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # the live player starts on its own, as it does after a click
]
STARTUP_S = 120
LOG_TAIL = 6000
PHASE_FAILED = pytest.StashKey[dict[str, bool]]()


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        missing_tool("chromium", "the browser tests cannot run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


LLM_MODEL = "tiny-songwriter:latest"
LLM_KEY = "sk-e2e-from-environment"


@pytest.fixture(scope="session")
def llm() -> Iterator[LLMServer]:
    """The scripted LLM server (both wire protocols) the app's Ollama and OpenAI settings point at."""
    with LLMServer(models=(LLM_MODEL,)) as server:
        yield server


@pytest.fixture
def llm_script(llm: LLMServer) -> Iterator[LLMServer]:
    """The LLM server with a clean slate for one test; every scripted reply must have been used by its end."""
    llm.requests.clear()
    yield llm
    assert llm.pending == 0, "the page did not ask the LLM for every scripted reply"


@pytest.fixture(scope="session")
def transcriptor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random HeartTranscriptor, built offline (tests/core/tiny_transcriptor.py): it hears noise."""
    from tests.core.tiny_transcriptor import build_tiny_transcriptor

    return build_tiny_transcriptor(tmp_path_factory.mktemp("transcriptor") / "HeartTranscriptor-oss")


@pytest.fixture(scope="session")
def app_env(tmp_path_factory: pytest.TempPathFactory, llm: LLMServer, transcriptor: Path) -> dict[str, str]:
    """The environment the app runs with: tiny models, a temp data folder, the test LLM, no network."""
    data = tmp_path_factory.mktemp("heartsong-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTSONG_", "OPENAI_"))}
    env |= {
        "HEARTSONG_DATA_DIR": str(data),
        "HEARTSONG_LM_DIR": str(TINY / "HeartMuLa-tiny"),
        "HEARTSONG_GEN_DIR": str(TINY / "HeartMuLaGen-tiny"),
        "HEARTSONG_CODEC_DIR": str(TINY / "HeartCodec-tiny"),
        "HEARTSONG_STYLE_DIR": str(STYLE),
        "HEARTSONG_ENCODER_DIR": str(ENCODER),
        "HEARTSONG_TRANSCRIBER_DIR": str(transcriptor),
        "HEARTSONG_MAX_STYLE_AUDIO_S": "8",
        "HEARTSONG_LLM_BACKEND": "ollama",
        "HEARTSONG_OLLAMA_URL": llm.url,
        "HEARTSONG_OLLAMA_MODEL": LLM_MODEL,
        "HEARTSONG_OPENAI_BASE_URL": llm.openai_url,
        "HEARTSONG_OPENAI_MODEL": LLM_MODEL,
        "HEARTSONG_OPENAI_API_KEY": LLM_KEY,
        "HEARTSONG_LLM_TIMEOUT_S": "30",
        "HEARTSONG_DEVICE": "cpu",
        "HEARTSONG_DTYPE": "float32",
        "HEARTSONG_MAX_UPLOAD_MB": "5",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return env


@contextlib.contextmanager
def running_app(env: dict[str, str], log: Path) -> Iterator[str]:
    """`python -m app` with `env` on a free port, its output in `log`; yields its URL, stops it at the end."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port), "--env-file", os.devnull],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the shared app writes its output (shown under a failed test)."""
    return tmp_path_factory.mktemp("app-log") / "app.log"


@pytest.fixture(scope="session")
def app_url(app_env: dict[str, str], app_log: Path) -> Iterator[str]:
    with running_app(app_env, app_log) as url:
        yield url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keeps each phase's report on the test, so a fixture's teardown knows whether the test failed."""
    report = yield
    item.stash.setdefault(PHASE_FAILED, {})[report.when] = report.failed
    return report


@contextlib.contextmanager
def open_page(browser, url: str, width: int = 1280, height: int = 1000) -> Iterator[object]:
    """A fresh browser context on `url`, once its Create tab is there; closed at the end."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Create").wait_for()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url: str, app_log: Path, request: pytest.FixtureRequest):
    with open_page(browser, app_url) as page:
        yield page
        if request.node.stash.get(PHASE_FAILED, {}).get("call"):
            # A failure on a loaded CI machine is read from its output alone: what the page and the app said.
            print(page_state(page))
            print(f"--- the app's output (last {LOG_TAIL} characters) ---\n{app_log.read_text()[-LOG_TAIL:]}")


def page_state(page) -> str:
    """Every status line shown on the page, and the screenshot's path, for a failed test's report."""
    path = SCREENSHOTS / "failed.png"
    with contextlib.suppress(Exception):
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    try:
        statuses = page.evaluate("""() => [...document.querySelectorAll('[id$="-status"]')]
            .filter((e) => e.offsetParent !== null).map((e) => e.id + ': ' + e.innerText.trim())""")
    except Exception as error:  # a page that crashed or closed says so instead
        statuses = [f"(the page could not be read: {error})"]
    return "--- the page's status lines ---\n" + "\n".join(statuses) + f"\n(screenshot: {path})"


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
