"""Every upload is checked against the settings' caps before it is decoded: its length from the header (a few
hundred kilobytes of compressed silence can hold an hour), and its size in one unit (MB = 1,000,000 bytes) on
both sides, Gradio's upload route and the app's own check."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.settings import load_settings
from app.studio.service import Studio

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
RATE = 48_000
LONG_MINUTES = 16  # over the 15-minute transcription cap


@pytest.fixture(scope="module")
def long_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 minutes of stereo 48 kHz silence as FLAC: about 180 KB on disk, 737 MB as float32 once decoded."""
    path = tmp_path_factory.mktemp("uploads") / "long-silence.flac"
    block = np.zeros((RATE * 10, 2), np.int16)
    with sf.SoundFile(path, "w", RATE, 2, "PCM_16", format="FLAC") as f:
        for _ in range(LONG_MINUTES * 6):
            f.write(block)
    assert path.stat().st_size < 1_000_000
    return path


# Each entry point an upload reaches, run in a fresh interpreter so its peak memory is its own.
ENTRY_POINTS = {
    "transcribe": "studio.transcribe(path)",
    "transcribe upload note": "upload_note(path, 'Ready to transcribe', functools.partial("
                              "studio.check_upload, max_seconds=studio.settings.max_transcribe_audio_s))",
    "style reference (compose)": "studio.compose(Sheet(lyrics='[verse]\\nla', tags='pop'), frozenset(), "
                                 "MusicSettings(style_audio=path))",
}
PROBE = textwrap.dedent("""
    import functools
    import sys
    from pathlib import Path

    from app.settings import load_settings
    from app.studio.jobs import MusicSettings, Sheet
    from app.studio.service import Studio
    from app.ui.common import upload_note

    def peak() -> int:
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024

    studio = Studio(load_settings(Path("/dev/null"), data_dir=sys.argv[2]))
    path = sys.argv[1]
    before = peak()
    try:
        {call}
        outcome = "accepted"
    except Exception as exc:
        outcome = f"{{type(exc).__name__}}: {{exc}}"
    print(outcome)
    print(peak() - before)
""")


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_long_compressed_upload_is_refused_before_it_is_decoded(long_silence: Path, tmp_path: Path,
                                                                 entry: str) -> None:
    probe = PROBE.format(call=ENTRY_POINTS[entry])
    done = subprocess.run([sys.executable, "-c", probe, str(long_silence), str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, growth = done.stdout.strip().splitlines()[-2:]
    assert outcome.startswith("InvalidRequest: long-silence.flac: 960.0 s of audio is longer than"), outcome
    assert str(long_silence.parent) not in outcome  # the musician's file name, not the server's upload folder
    assert int(growth) < 200_000_000, f"peak memory grew by {int(growth) / 1e6:.0f} MB"


def test_the_caps_are_settings() -> None:
    settings = load_settings(Path("/dev/null"))
    assert settings.max_transcribe_audio_s == 15 * 60
    assert settings.max_style_audio_s == 10 * 60
    assert load_settings(Path("/dev/null"), max_transcribe_audio_s=60).max_transcribe_audio_s == 60


# --- size: one unit everywhere -----------------------------------------------------------------------------------

LIMIT_MB = 2  # the example: Gradio let 2,097,152 bytes in while the app checked 2,000,000
LIMIT = 2_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Studio]]:
    from app.ui import launch_app

    data = tmp_path_factory.mktemp("sized") / "data"
    studio = Studio(load_settings(Path("/dev/null"), data_dir=data, max_upload_mb=LIMIT_MB))
    port = _free_port()
    demo = launch_app(studio, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}", studio
    finally:
        demo.close()


def _wav_of(size: int, folder: Path) -> Path:
    """A valid 16-bit mono WAV of exactly `size` bytes (even `size`; a trailing pad byte makes it odd)."""
    path = folder / f"exactly-{size}.wav"
    samples = (size - 44) // 2
    sf.write(path, np.zeros(samples, np.int16), 16_000, subtype="PCM_16")
    with open(path, "ab") as f:
        f.write(b"\0" * (size - path.stat().st_size))
    assert path.stat().st_size == size
    return path


@pytest.mark.parametrize(("size", "accepted"), [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False),
                                                (LIMIT + 97_152, False), (2 * 1024 * 1024 + 1, False)])
def test_the_upload_limit_is_the_same_on_both_sides(served, tmp_path: Path, size: int, accepted: bool) -> None:
    from heartmula_core.errors import InvalidRequest

    url, studio = served
    wav = _wav_of(size, tmp_path)
    with open(wav, "rb") as f:
        response = httpx.post(f"{url}/gradio_api/upload", files={"files": (wav.name, f, "audio/wav")}, timeout=60)
    assert (response.status_code == 200) == accepted, (response.status_code, response.text[:200])
    if accepted:
        audio, _ = studio.check_upload(wav, max_seconds=600)
        assert audio.shape[-1] > 0
    else:
        with pytest.raises(InvalidRequest, match="larger than the 2.0 MB limit"):
            studio.check_upload(wav, max_seconds=600)
