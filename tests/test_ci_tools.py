"""CI cannot pass with the browser layer gone: a missing chromium or espeak-ng fails a run under CI=true (and
only skips locally), and `install.sh --browser` exits non-zero when it cannot install them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEEDS_A_TOOL = """
from tests.tools import missing_tool

def test_needs_a_tool():
    missing_tool("a-tool-nobody-has", "nothing is tested")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped"), ("false", "1 skipped")])
def test_a_missing_tool_fails_only_under_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    test = tmp_path / "test_tool.py"
    test.write_text(NEEDS_A_TOOL)
    env = {**os.environ, "CI": ci}
    done = subprocess.run([sys.executable, "-m", "pytest", str(test), "-q", "-rs", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert outcome in done.stdout, done.stdout[-2000:]
    assert (done.returncode != 0) == (ci == "true")
    assert "a-tool-nobody-has is not installed" in done.stdout


def _fake_bin(folder: Path, tools: dict[str, str]) -> Path:
    """A PATH folder holding only `dirname` and the given fake commands (name -> shell body)."""
    folder.mkdir()
    (folder / "dirname").symlink_to(shutil.which("dirname"))
    for name, body in tools.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def _install(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a copy of install.sh --browser whose .venv python is a no-op, with only `tools` on the PATH."""
    shutil.copy(ROOT / "install.sh", tmp_path / "install.sh")
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\ncat >/dev/null 2>&1 </dev/null\nexit 0\n")
    venv_python.chmod(0o755)
    path = _fake_bin(tmp_path / "bin", tools)
    return subprocess.run(["/bin/bash", str(tmp_path / "install.sh"), "--browser"], env={"PATH": str(path)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", ["apt-get fails", "not root", "no apt-get"])
def test_install_browser_fails_when_it_cannot_install_the_tools(tmp_path: Path, case: str) -> None:
    tools = {"id": "echo 1000" if case == "not root" else "echo 0"}
    if case != "no apt-get":
        tools["apt-get"] = "exit 100"
    done = _install(tmp_path, tools)
    assert done.returncode != 0, done.stderr
    assert "chromium" in done.stderr and "espeak-ng" in done.stderr


def test_install_browser_passes_when_the_tools_are_there(tmp_path: Path) -> None:
    done = _install(tmp_path, {"id": "echo 1000", "chromium": "exit 0", "espeak-ng": "exit 0"})
    assert done.returncode == 0, done.stderr
